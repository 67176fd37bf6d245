"""A bad config names the file, the key and the problem, and the CLI exits non-zero; no file = defaults."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from app.config import Config, ConfigError, load_config, parse_config
from tests.conftest import vigil_cmd


def test_no_config_file_means_defaults(private_xdg: Path) -> None:
    cfg = load_config()
    assert isinstance(cfg, Config) and cfg.sources.watch == [] and cfg.playbooks.auto_run is False
    assert cfg.detectors.percentiles == [85.0, 95.0, 99.0, 99.9]


def test_values_are_read_and_typed(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text('[sources]\nwatch = ["/var/log/auth.log"]\npoll_interval = 2\n[listener.tls]\ncert = "c.pem"\n')
    cfg = load_config(p)
    assert cfg.sources.watch == ["/var/log/auth.log"] and cfg.sources.poll_interval == 2.0
    assert cfg.listener.tls.cert == "c.pem"


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('[sources]\nwatch = "/var/log/auth.log"\n', "sources.watch", "expected a list of strings"),
        ("[sources]\nwach = []\n", "sources.wach", "unknown key"),
        ("[store]\nretention_days = -3\n", "store.retention_days", "must not be negative"),
        ("[detectors]\npercentiles = [99, 95, 85, 99.9]\n", "detectors.percentiles", "increasing"),
        ('[sources]\nlisten = ["http://x:1"]\n', "sources.listen[0]", "udp://"),
        ("[sources\n", "(syntax)", ""),
        ("[ui]\nread_only = 1\n", "ui.read_only", "true or false"),
    ],
)
def test_bad_config_names_key_and_problem(text: str, key: str, problem: str, tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(ConfigError) as info:
        parse_config(text, p)
    msg = str(info.value)
    assert str(p) in msg and key in msg and problem in msg


def test_cli_exits_nonzero_on_bad_config(tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    p.write_text("[store]\nretention_days = 'forever'\n")
    out = subprocess.run([*vigil_cmd(), "doctor", "--config", str(p)], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert str(p) in out.stdout + out.stderr and "store.retention_days" in out.stdout + out.stderr


def test_the_readme_example_config_is_valid() -> None:
    import re

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = re.search(r"```toml\n(.*?)```", readme, re.S)
    assert block, "README has no toml example"
    cfg = parse_config(block.group(1), Path("README.md"))
    assert cfg.sources.listen and cfg.playbooks.auto_run is False
