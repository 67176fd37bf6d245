"""The catalogue: shipped playbooks load cleanly, bad files are reported and skipped, user files override by
id, parameters are strictly typed, and actions render to exact argv lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from playbooks.actions import ACTIONS, ActionContext
from playbooks.catalog import load_catalog, render_template
from playbooks.params import ParamError, coerce

from .playbook_support import make_config

GOOD = """
id: {id}
version: {version}
title: Deny an address in hosts.deny
tier: medium
risk: {{impact: low, reversible: true}}
parameters:
  ip: {{type: ip, evidence: [src_ip]}}
steps:
  - {{id: deny, action: hosts_deny.add, args: {{ip: "{{{{ip}}}}"}}}}
rollback:
  - {{id: allow, action: hosts_deny.remove, args: {{ip: "{{{{ip}}}}"}}}}
"""


def test_shipped_catalogue_loads_without_errors() -> None:
    cat = load_catalog()
    assert cat.errors == []
    for wanted in ("block_ip_nft", "block_ip_iptables", "block_ip_hosts_deny", "lock_user", "unlock_user",
                   "end_user_sessions", "stop_service", "restart_service", "forensic_bundle", "notify_webhook",
                   "notify_email", "notify_zabbix", "open_ticket"):
        assert wanted in cat.playbooks, wanted
        assert len(cat.playbooks[wanted].file_sha256) == 64


@pytest.mark.parametrize(("text", "reason"), [
    ("id: broken\n  version: [1\n", "invalid YAML"),
    ("- just\n- a list\n", "top level must be a mapping"),
    ("!!python/object/apply:os.system ['touch /tmp/pwned']\n", "invalid YAML"),
    (GOOD.format(id="x_ok", version=1).replace("hosts_deny.add", "shell.run"), "unknown action 'shell.run'"),
    (GOOD.format(id="x_ok", version=1).replace('"{{ip}}"', '"{{target}}"', 1), "unknown parameter 'target'"),
    (GOOD.format(id="x_ok", version=1) + "command: rm -rf /\n", "command: Extra inputs are not permitted"),
    (GOOD.format(id="x_ok", version=0), "version"),
    (GOOD.format(id="x_ok", version=1).replace("rollback:\n  - {id: allow, action: hosts_deny.remove, "
                                                'args: {ip: "{{ip}}"}}\n', ""),
     "reversible is true but there are no rollback steps"),
])
def test_bad_playbook_file_is_reported_by_file_and_reason_and_skipped(tmp_path: Path, text: str,
                                                                       reason: str) -> None:
    user = tmp_path / "user"
    user.mkdir()
    (user / "bad.yaml").write_text(text)
    (user / "fine.yaml").write_text(GOOD.format(id="fine_one", version=1))
    cat = load_catalog(user)
    assert "fine_one" in cat.playbooks
    assert len(cat.errors) == 1
    assert cat.errors[0].file.endswith("bad.yaml")
    assert reason in cat.errors[0].reason


def test_user_directory_overrides_a_shipped_playbook_by_id(tmp_path: Path) -> None:
    (tmp_path / "override.yaml").write_text(GOOD.format(id="block_ip_hosts_deny", version=7))
    cat = load_catalog(tmp_path)
    assert cat.playbooks["block_ip_hosts_deny"].version == 7
    assert cat.playbooks["block_ip_hosts_deny"].source_file.endswith("override.yaml")
    assert "block_ip_nft" in cat.playbooks  # the rest of the shipped catalogue is still there


@pytest.mark.parametrize(("ptype", "raw", "expected"), [
    ("ip", " 203.0.113.7 ", "203.0.113.7"),
    ("ip", "2001:DB8::1", "2001:db8::1"),
    ("cidr", "203.0.113.9/24", "203.0.113.0/24"),
    ("duration", "1h", 3600),
    ("duration", 90, 90),
    ("user", "svc-backup", "svc-backup"),
    ("host", "Web-01.example.", "web-01.example"),
    ("service", "nginx.service", "nginx.service"),
])
def test_parameters_are_normalised_by_type(ptype: str, raw: object, expected: object) -> None:
    assert coerce(ptype, raw) == expected


@pytest.mark.parametrize(("ptype", "raw"), [
    ("ip", "203.0.113.7; rm -rf /"), ("ip", "not-an-ip"), ("cidr", "10.0.0.0/99"), ("user", "bob; reboot"),
    ("user", "-rf"), ("host", "a b"), ("service", "--now"), ("path", "relative/x"), ("path", "/etc/../shadow"),
    ("duration", "-5"), ("duration", "forever"), ("int", True), ("str", "line\nbreak"), ("ip", ["1.2.3.4"]),
])
def test_hostile_parameter_values_are_rejected(ptype: str, raw: object) -> None:
    with pytest.raises(ParamError):
        coerce(ptype, raw)


def test_integer_bounds_are_enforced() -> None:
    with pytest.raises(ParamError, match="above the maximum"):
        coerce("duration", "2d", maximum=86400)
    with pytest.raises(ParamError, match="not one of"):
        coerce("enum", "drop", choices=["reject"])


def test_templates_substitute_only_declared_values_and_keep_types() -> None:
    assert render_template("{{duration}}", {"duration": 60}) == 60
    assert render_template("ip={{ ip }}", {"ip": "203.0.113.7"}) == "ip=203.0.113.7"


def test_actions_render_argv_lists_never_shell_strings(tmp_path: Path) -> None:
    ctx = ActionContext(make_config(tmp_path))
    cmd = ACTIONS["nft.add_element"].build({"ip": "203.0.113.7", "timeout_s": 60}, ctx)
    assert cmd.argv == ("nft", "add", "element", "inet", "vigil", "blocked4", "{ 203.0.113.7 timeout 60s }")
    cmd6 = ACTIONS["iptables.insert_drop"].build({"ip": "2001:db8::5"}, ctx)
    assert cmd6.argv[0] == "ip6tables" and "-s" in cmd6.argv
    for spec in ACTIONS.values():
        assert callable(spec.build)


def test_playbooks_package_never_imports_textual_or_app() -> None:
    import subprocess
    import sys

    code = ("import sys, pkgutil, importlib, playbooks\n"
            "for m in pkgutil.walk_packages(playbooks.__path__, 'playbooks.'):\n"
            "    importlib.import_module(m.name)\n"
            "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('textual', 'app'))\n"
            "print(bad)\nsys.exit(1 if bad else 0)\n")
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60,
                       check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def test_config_is_built_from_the_app_sections_without_importing_app() -> None:
    from types import SimpleNamespace

    from playbooks.config import config_from_sections

    llm = SimpleNamespace(host="127.0.0.1:11500", model="qwen3", timeout_s=30.0, num_ctx=4096, num_predict=256)
    pbs = SimpleNamespace(user_dir="", auto_run=True, management_nets=["10.0.0.0/8"], protected_assets=[],
                          approval_ttl_s=300, smtp_host="", webhook_url="http://127.0.0.1:1/h", ticket_file="")
    cfg = config_from_sections(llm, pbs, read_only=True)
    assert (cfg.ollama_host, cfg.ollama_model, cfg.llm_read_timeout_s) == ("127.0.0.1:11500", "qwen3", 30.0)
    assert cfg.auto_run_medium and cfg.read_only and cfg.approval_ttl_s == 300
    assert cfg.user_catalog_dir is None and cfg.smtp_host is None  # empty strings keep the defaults
