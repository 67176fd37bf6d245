"""The real `vigil` CLI meets a user's mistakes with one clear line and a non-zero exit, never a traceback: a rotated
.gz is read as its lines, a binary file is skipped with a warning, a directory / missing file / unreadable file /
file in an unreadable directory / --db under a file each get one sentence; `--version` answers; `playbooks list`
has headers; `demo --help` names the demo's store; the config refuses a bad theme, an unknown keymap id, a remap
that shadows `j`, and an `[llm] host` that is not a URL (file, key and value named)."""

from __future__ import annotations

import gzip
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, vigil_cmd

LINES = [f"Nov 21 10:00:{i % 60:02d} jump1 app[1]: gz line {i}" for i in range(500)]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*vigil_cmd(), *args], capture_output=True, text=True, timeout=timeout)


def one_clear_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, proc
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def count(db: Path, sql: str) -> int:
    out = run("query", "--db", str(db), "--format", "csv", sql)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip().splitlines()[-1])


def test_a_gzip_file_is_ingested_as_its_lines(tmp_path: Path) -> None:
    gz = tmp_path / "old.log.gz"
    with gzip.open(gz, "wt") as f:
        f.write("\n".join(LINES) + "\n")
    db = tmp_path / "v.duckdb"
    proc = run("ingest", "--db", str(db), str(gz))
    assert proc.returncode == 0, proc.stderr
    assert count(db, "SELECT count(*) FROM events WHERE message LIKE 'gz line %'") == 500
    assert count(db, "SELECT count(*) FROM events") == 500  # no compressed bytes stored as "lines"


def test_a_binary_file_is_skipped_with_a_warning_and_the_text_file_beside_it_is_stored(tmp_path: Path) -> None:
    binary = tmp_path / "core.dump"
    binary.write_bytes(bytes(range(256)) * 64)
    text = tmp_path / "auth.log"
    text.write_text("\n".join(LINES[:10]) + "\n")
    db = tmp_path / "v.duckdb"
    proc = run("ingest", "--db", str(db), str(binary), str(text))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"skipped {binary}: a file that is not text" in proc.stderr
    assert count(db, "SELECT count(*) FROM events") == 10


@pytest.mark.parametrize("case", ["directory", "missing", "db under a file"])
def test_bad_paths_get_one_sentence(tmp_path: Path, case: str) -> None:
    log = tmp_path / "a.log"
    log.write_text(LINES[0] + "\n")
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("")
    args = {
        "directory": ["--db", str(tmp_path / "x.duckdb"), str(tmp_path / "adir")],
        "missing": ["--db", str(tmp_path / "x.duckdb"), str(tmp_path / "missing.log")],
        "db under a file": ["--db", str(tmp_path / "afile" / "x.duckdb"), str(log)],
    }[case]
    line = one_clear_line(run("ingest", *args))
    expected = {"directory": f"{tmp_path / 'adir'} is a directory", "missing": "missing.log: no such file",
                "db under a file": f"{tmp_path / 'afile'} is a file, not a directory"}[case]
    assert expected in line


# -- unreadable inputs: root reads everything, so as root the CLI runs as `nobody` -----------------------------------
def _as_user() -> list[str] | None:
    """How to run the CLI as a user the file modes apply to, or None when that cannot be done here."""
    if os.geteuid() != 0:
        return vigil_cmd()
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        return None
    system = Path("/usr/bin/python3")
    same = subprocess.run([str(system), "-c", "import sys; print(sys.version_info[:2] == (3, 11))"],
                          capture_output=True, text=True, check=False).stdout.strip() if system.exists() else ""
    if same != "True" or not shutil.which("setpriv"):
        return None
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", str(system), "-m", "app"]


@pytest.fixture
def open_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="vigil-perm-"))
    d.chmod(0o755)
    yield d
    for p in d.rglob("*"):
        if p.is_dir():
            p.chmod(0o755)
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("case", ["unreadable file", "file in an unreadable directory"])
def test_unreadable_inputs_get_one_sentence(open_dir: Path, case: str) -> None:
    cmd = _as_user()
    if cmd is None:
        pytest.skip("running as root without a way to drop to `nobody` with this Python (file modes do not apply)")
    locked = open_dir / "locked"
    locked.mkdir()
    target = locked / "secret.log" if case == "file in an unreadable directory" else open_dir / "secret.log"
    target.write_text(LINES[0] + "\n")
    if case == "unreadable file":
        target.chmod(0o000)
    else:
        locked.chmod(0o000)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(open_dir),
           "XDG_DATA_HOME": str(open_dir / "data"), "XDG_CONFIG_HOME": str(open_dir / "config"),
           "PYTHONPATH": f"{ROOT / '.venv' / 'lib' / 'python3.11' / 'site-packages'}:{ROOT}"}
    proc = subprocess.run([*cmd, "ingest", "--db", str(open_dir / "x.duckdb"), str(target)], capture_output=True,
                          text=True, timeout=120, env=env, cwd=open_dir)
    line = one_clear_line(proc)
    assert str(target) in line and "permission denied" in line


# -- small things for people ---------------------------------------------------------------------------------------
def test_version_playbook_headers_and_the_demo_store_in_help() -> None:
    from importlib.metadata import version

    out = run("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"vigil {version('vigil')}"
    listing = run("playbooks", "list")
    assert listing.returncode == 0
    header = listing.stdout.splitlines()[0].split()
    assert header[:4] == ["ID", "VERSION", "TIER", "IMPACT"]
    assert any(line.startswith("block_ip_nft ") for line in listing.stdout.splitlines()[1:])
    demo_help = run("demo", "--help").stdout
    assert "demo.duckdb" in demo_help and "vigil.duckdb" not in demo_help


@pytest.mark.parametrize(("section", "key", "value", "expected"), [
    ("ui", "theme", '"solarised-neon"', "unknown theme 'solarised-neon'"),
    ("ui.keymap", '"alerts.akc"', '"A"', "unknown binding id"),
    ("ui.keymap", '"alerts.ack"', '"j"', "key 'j' is already 'alerts.down'"),
    ("llm", "host", '"localhost:11434"', "expected an http:// or https:// URL"),
])
def test_config_mistakes_are_refused_with_file_key_and_value(tmp_path: Path, section: str, key: str, value: str,
                                                             expected: str) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"[{section}]\n{key} = {value}\n")
    line = one_clear_line(run("query", "--config", str(cfg), "--db", str(tmp_path / "v.duckdb"), "SELECT 1"))
    dotted = f"{section}.{key.strip(chr(34))}"
    assert str(cfg) in line and dotted in line and expected in line, line
    assert value.strip('"') in line


def test_a_good_keymap_and_theme_load(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[ui]\ntheme = "monochrome"\n[ui.keymap]\n"alerts.ack" = "K"\n[llm]\nhost = "http://10.0.0.2:11434"\n')
    db = tmp_path / "v.duckdb"
    log = tmp_path / "a.log"
    log.write_text(LINES[0] + "\n")
    assert run("ingest", "--db", str(db), str(log)).returncode == 0
    proc = run("query", "--config", str(cfg), "--db", str(db), "--format", "csv", "SELECT 41 + 1")
    assert proc.returncode == 0 and proc.stdout.strip().splitlines()[-1] == "42", proc.stderr
