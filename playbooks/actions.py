"""The fixed registry of step actions: each is a Python function that turns validated parameters into an
argv list (plus optional stdin). Playbooks can only name these; there is no free-form shell, ever."""

from __future__ import annotations

import ipaddress
import json
import os
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playbooks.config import PlaybookConfig
from playbooks.sanitize import redact_mapping

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ActionConfigError(ValueError):
    """The action cannot be rendered because configuration it needs is missing or wrong."""


@dataclass(frozen=True)
class Command:
    """One process to run: the exact argv and the bytes fed to its stdin (None = no stdin), and notes for the
    analyst that are part of what they approve (what the step will read, what it refused to)."""

    argv: tuple[str, ...]
    stdin: bytes | None = None
    notes: tuple[str, ...] = ()

    def render(self) -> str:
        return shlex.join(self.argv) + (f"  < stdin({len(self.stdin)} bytes)" if self.stdin else "")


@dataclass(frozen=True)
class ActionContext:
    config: PlaybookConfig
    alert: Mapping[str, Any] | None = None
    evidence: Sequence[Mapping[str, Any]] = field(default_factory=list)
    proposal_id: str = ""


@dataclass(frozen=True)
class ActionSpec:
    name: str
    required: frozenset[str]
    optional: frozenset[str]
    build: Callable[[Mapping[str, Any], ActionContext], Command]
    mutating: bool
    binaries: tuple[str, ...]  # checked by the binary_available precondition
    privileged: bool  # gets config.exec_prefix (sudo, ip netns exec …)
    description: str


ACTIONS: dict[str, ActionSpec] = {}


def action(name: str, *, required: tuple[str, ...] = (), optional: tuple[str, ...] = (), mutating: bool = True,
           binaries: tuple[str, ...] = (), privileged: bool = True, description: str = "",
           ) -> Callable[[Callable[[Mapping[str, Any], ActionContext], Command]],
                         Callable[[Mapping[str, Any], ActionContext], Command]]:
    def register(fn: Callable[[Mapping[str, Any], ActionContext], Command]):
        ACTIONS[name] = ActionSpec(name, frozenset(required), frozenset(optional), fn, mutating, binaries,
                                   privileged, description or (fn.__doc__ or "").strip())
        return fn
    return register


def _json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, default=str, ensure_ascii=False).encode()


def _tool(module: str, *args: str) -> tuple[str, ...]:
    return (sys.executable, "-m", f"playbooks.tools.{module}", *args)


def _nft_set(ip: str) -> str:
    return "blocked6" if ipaddress.ip_address(ip).version == 6 else "blocked4"


def alert_payload(ctx: ActionContext) -> dict[str, Any]:
    alert = redact_mapping(dict(ctx.alert or {}))
    return {"alert": alert, "evidence": [redact_mapping(dict(r)) for r in ctx.evidence],
            "proposal_id": ctx.proposal_id}


# --- nftables ---------------------------------------------------------------------------------------------

@action("nft.ensure_table", binaries=("nft",), mutating=True,
        description="Create the Vigil nftables table, address sets (with timeouts) and input-drop chain")
def nft_ensure_table(args: Mapping[str, Any], ctx: ActionContext) -> Command:
    fam, table = ctx.config.nft_family, ctx.config.nft_table
    script = (
        f"table {fam} {table} {{\n"
        "  set blocked4 { type ipv4_addr; flags timeout; }\n"
        "  set blocked6 { type ipv6_addr; flags timeout; }\n"
        "  chain input { type filter hook input priority -10; policy accept; }\n"
        "}\n"
        f"flush chain {fam} {table} input\n"
        f"add rule {fam} {table} input ip saddr @blocked4 drop\n"
        f"add rule {fam} {table} input ip6 saddr @blocked6 drop\n"
    )
    return Command(("nft", "-f", "-"), script.encode())


@action("nft.add_element", required=("ip",), optional=("timeout_s",), binaries=("nft",),
        description="Add an address to the Vigil block set (the kernel also expires it)")
def nft_add_element(args: Mapping[str, Any], ctx: ActionContext) -> Command:
    ip = str(args["ip"])
    timeout = f" timeout {int(args['timeout_s'])}s" if args.get("timeout_s") else ""
    return Command(("nft", "add", "element", ctx.config.nft_family, ctx.config.nft_table, _nft_set(ip),
                    f"{{ {ip}{timeout} }}"))


@action("nft.delete_element", required=("ip",), binaries=("nft",),
        description="Remove an address from the Vigil block set")
def nft_delete_element(args: Mapping[str, Any], ctx: ActionContext) -> Command:
    ip = str(args["ip"])
    return Command(("nft", "delete", "element", ctx.config.nft_family, ctx.config.nft_table, _nft_set(ip),
                    f"{{ {ip} }}"))


@action("nft.get_element", required=("ip",), binaries=("nft",), mutating=False,
        description="Succeeds only if the address is in the Vigil block set")
def nft_get_element(args: Mapping[str, Any], ctx: ActionContext) -> Command:
    ip = str(args["ip"])
    return Command(("nft", "get", "element", ctx.config.nft_family, ctx.config.nft_table, _nft_set(ip),
                    f"{{ {ip} }}"))


# --- iptables ---------------------------------------------------------------------------------------------

def _ipt(ip: str) -> str:
    return "ip6tables" if ipaddress.ip_address(ip).version == 6 else "iptables"


@action("iptables.insert_drop", required=("ip",), binaries=("iptables",),
        description="Insert a DROP rule for the source address")
def iptables_insert_drop(args: Mapping[str, Any], ctx: ActionContext) -> Command:
    ip = str(args["ip"])
    return Command((_ipt(ip), "-w", "5", "-I", ctx.config.iptables_chain, "-s", ip, "-j", "DROP"))


@action("iptables.delete_drop", required=("ip",), binaries=("iptables",),
        description="Delete the DROP rule for the source address")
def iptables_delete_drop(args: Mapping[str, Any], ctx: ActionContext) -> Command:
    ip = str(args["ip"])
    return Command((_ipt(ip), "-w", "5", "-D", ctx.config.iptables_chain, "-s", ip, "-j", "DROP"))


@action("iptables.check_drop", required=("ip",), binaries=("iptables",), mutating=False,
        description="Succeeds only if the DROP rule exists")
def iptables_check_drop(args: Mapping[str, Any], ctx: ActionContext) -> Command:
    ip = str(args["ip"])
    return Command((_ipt(ip), "-w", "5", "-C", ctx.config.iptables_chain, "-s", ip, "-j", "DROP"))


# --- hosts.deny (TCP wrappers) ----------------------------------------------------------------------------

@action("hosts_deny.add", required=("ip",), privileged=False,
        description="Add `ALL: <ip>` to hosts.deny (idempotent, atomic rewrite)")
def hosts_deny_add(args: Mapping[str, Any], ctx: ActionContext) -> Command:
    return Command(_tool("hosts_deny", "add", "--file", str(ctx.config.hosts_deny_path), "--ip", str(args["ip"])))


@action("hosts_deny.remove", required=("ip",), privileged=False,
        description="Remove the Vigil line for <ip> from hosts.deny")
def hosts_deny_remove(args: Mapping[str, Any], ctx: ActionContext) -> Command:
    return Command(_tool("hosts_deny", "remove", "--file", str(ctx.config.hosts_deny_path),
                         "--ip", str(args["ip"])))


@action("hosts_deny.check", required=("ip",), privileged=False, mutating=False,
        description="Succeeds only if hosts.deny has the Vigil line for <ip>")
def hosts_deny_check(args: Mapping[str, Any], ctx: ActionContext) -> Command:
    return Command(_tool("hosts_deny", "check", "--file", str(ctx.config.hosts_deny_path),
                         "--ip", str(args["ip"])))


# --- users, sessions, services ----------------------------------------------------------------------------

@action("user.lock", required=("user",), binaries=("usermod",), description="Lock the account's password")
def user_lock(args: Mapping[str, Any], ctx: ActionContext) -> Command:
    return Command(("usermod", "-L", str(args["user"])))


@action("user.unlock", required=("user",), binaries=("usermod",), description="Unlock the account's password")
def user_unlock(args: Mapping[str, Any], ctx: ActionContext) -> Command:
    return Command(("usermod", "-U", str(args["user"])))


@action("user.end_sessions", required=("user",), binaries=("loginctl",),
        description="Terminate every login session of the user")
def user_end_sessions(args: Mapping[str, Any], ctx: ActionContext) -> Command:
    return Command(("loginctl", "terminate-user", str(args["user"])))


@action("service.stop", required=("service",), binaries=("systemctl",), description="Stop a systemd unit")
def service_stop(args: Mapping[str, Any], ctx: ActionContext) -> Command:
    return Command(("systemctl", "stop", str(args["service"])))


@action("service.start", required=("service",), binaries=("systemctl",), description="Start a systemd unit")
def service_start(args: Mapping[str, Any], ctx: ActionContext) -> Command:
    return Command(("systemctl", "start", str(args["service"])))


@action("service.restart", required=("service",), binaries=("systemctl",),
        description="Restart a systemd unit")
def service_restart(args: Mapping[str, Any], ctx: ActionContext) -> Command:
    return Command(("systemctl", "restart", str(args["service"])))


# --- evidence, notification, tickets ----------------------------------------------------------------------

_MAX_BUNDLE_NOTES = 20


def bundle_files(evidence: Sequence[Mapping[str, Any]], watch: Sequence[str]) -> tuple[list[str], list[str]]:
    """(files to read, notes) for a bundle: the evidence rows' `file:` sources that are configured log sources
    ([sources] watch), by their real path. Any other path is refused with a note, whatever the row says."""
    from store.sources.files import watched_files

    configured = {os.path.realpath(p) for p in watched_files(list(watch))}
    named = sorted({str(r.get("source"))[len("file:"):] for r in evidence
                    if str(r.get("source") or "").startswith("file:")})
    files: list[str] = []
    notes: list[str] = []
    refused = 0
    for path in named:
        real = os.path.realpath(path)
        if real in configured:
            if real not in files:
                files.append(real)
                notes.append(f"reads {real}")
            continue
        refused += 1
        if refused <= _MAX_BUNDLE_NOTES:
            notes.append(f"will not read {path!r}: not a file under the configured [sources] watch paths")
    if refused > _MAX_BUNDLE_NOTES:
        notes.append(f"will not read {refused - _MAX_BUNDLE_NOTES} more evidence source path(s) (not configured)")
    if not files:
        notes.append("no configured log file among the evidence: the bundle holds the alert and evidence rows")
    return files, notes


@action("bundle.collect", optional=("name",), privileged=False, mutating=False,
        description="Write evidence rows, slices of the configured log files they came from, and sha256 hashes "
                    "into a new directory")
def bundle_collect(args: Mapping[str, Any], ctx: ActionContext) -> Command:
    name = f"{args.get('name') or 'alert'}-{ctx.proposal_id or 'manual'}"
    out = Path(ctx.config.bundles_dir) / name
    files, notes = bundle_files(ctx.evidence, ctx.config.bundle_sources)
    argv = _tool("bundle", "--out", str(out), *(arg for f in files for arg in ("--file", f)))
    return Command(argv, _json(alert_payload(ctx)), tuple(notes))


@action("notify.webhook", optional=("message",), privileged=False, mutating=False,
        description="POST the alert summary as JSON to the configured webhook")
def notify_webhook(args: Mapping[str, Any], ctx: ActionContext) -> Command:
    if not ctx.config.webhook_url:
        raise ActionConfigError("webhook_url is not configured")
    payload = {"message": args.get("message") or "", **alert_payload(ctx)}
    return Command(_tool("notify", "webhook", "--url", ctx.config.webhook_url), _json(payload))


@action("notify.email", optional=("message",), privileged=False, mutating=False,
        description="Send the alert summary by e-mail through the configured SMTP host")
def notify_email(args: Mapping[str, Any], ctx: ActionContext) -> Command:
    cfg = ctx.config
    if not (cfg.smtp_host and cfg.mail_from and cfg.mail_to):
        raise ActionConfigError("smtp_host, mail_from and mail_to must be configured")
    to_args: list[str] = []
    for rcpt in cfg.mail_to:
        to_args += ["--to", rcpt]
    payload = {"message": args.get("message") or "", **alert_payload(ctx)}
    return Command(_tool("notify", "email", "--host", cfg.smtp_host, "--port", str(cfg.smtp_port),
                         "--from", cfg.mail_from, *to_args), _json(payload))


@action("notify.zabbix", optional=("message",), binaries=("zabbix_sender",), privileged=False, mutating=False,
        description="Send a trapper value to Zabbix with zabbix_sender")
def notify_zabbix(args: Mapping[str, Any], ctx: ActionContext) -> Command:
    cfg = ctx.config
    if not (cfg.zabbix_server and cfg.zabbix_host):
        raise ActionConfigError("zabbix_server and zabbix_host must be configured")
    alert = ctx.alert or {}
    value = str(args.get("message") or f"{alert.get('severity', '')}: {alert.get('title', '')}")[:1024]
    return Command(("zabbix_sender", "-z", cfg.zabbix_server, "-s", cfg.zabbix_host, "-k", cfg.zabbix_key,
                    "-o", value))


@action("ticket.open", optional=("title",), privileged=False, mutating=False,
        description="Append a ticket (JSON line) to the configured tickets file")
def ticket_open(args: Mapping[str, Any], ctx: ActionContext) -> Command:
    payload = {"title": args.get("title") or "", **alert_payload(ctx)}
    return Command(_tool("ticket", "--file", str(ctx.config.tickets_path)), _json(payload))
