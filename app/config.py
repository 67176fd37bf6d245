"""Vigil's configuration: a TOML file (`$XDG_CONFIG_HOME/vigil/config.toml`) validated against typed sections.

A bad file never half-applies: loading names the file, the key and the problem, and the CLI exits non-zero.
Every key has a default, so no config file at all is a valid configuration. Flags override the file.
"""

from __future__ import annotations

import os
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any


class ConfigError(Exception):
    """`file: [section] key: problem` — enough for a person to fix it without reading code."""

    def __init__(self, path: Path | None, key: str, problem: str) -> None:
        self.path, self.key, self.problem = path, key, problem
        where = str(path) if path else "<defaults>"
        super().__init__(f"config error in {where}: {key}: {problem}")


@dataclass
class StoreConfig:
    path: str = ""  # default: $XDG_DATA_HOME/vigil/vigil.duckdb
    retention_days: int = 30  # 0 keeps everything
    max_size_mb: int = 0  # 0 = no size cap
    memory_limit: str = "1GB"
    threads: int = 0  # 0 = DuckDB default (number of cores)


@dataclass
class SourcesConfig:
    watch: list[str] = field(default_factory=list)  # files, globs, directories
    listen: list[str] = field(default_factory=list)  # udp://, tcp://, tls:// URLs
    poll_interval: float = 1.0
    rotate_wait: float = 5.0  # keep reading a rotated-away file this long for late writes
    close_inactive: float = 300.0  # close a file handle idle this long (re-opened when it grows)
    site: str = ""  # site id stamped on events (multi-site setups)


@dataclass
class TlsConfig:
    cert: str = ""
    key: str = ""
    ca: str = ""  # set to require and verify client certificates
    handshake_timeout: float = 10.0


@dataclass
class ListenerConfig:
    udp_rcvbuf: int = 8 * 1024 * 1024
    max_frame: int = 64 * 1024
    idle_timeout: float = 60.0
    frame_timeout: float = 30.0  # a started frame must complete within this (trickled bytes do not extend it)
    max_connections: int = 512
    max_connections_per_ip: int = 32  # 0 = only max_connections
    tls: TlsConfig = field(default_factory=TlsConfig)


@dataclass
class SessionsConfig:
    """Sessions keyed by an id in the message (HDFS blocks, request ids), scored when they close."""

    id_pattern: str = ""  # RE2, e.g. "blk_-?\\d+"; empty = off
    learn_sessions: int = 2000  # closed sessions that make the baseline before any is scored
    idle_s: float = 3600.0  # a session closes after this long without a line (event time)
    rare_share: float = 0.02  # a template in fewer than this share of baseline sessions is rare
    level: str = "high"  # model severity that flags a session
    severity: str = "medium"  # severity of the alert a flagged session raises


@dataclass
class DetectorsConfig:
    percentiles: list[float] = field(default_factory=lambda: [85.0, 95.0, 99.0, 99.9])
    group_window_s: int = 600
    incident_window_s: int = 3600  # alerts about one attacker this close (event time) fold into one incident
    learning_events: int = 20000
    sigma_dirs: list[str] = field(default_factory=list)  # your Sigma rules; same id (or name) replaces a built-in
    disabled_rules: list[str] = field(default_factory=list)  # rule names or ids that never run
    sessions: SessionsConfig = field(default_factory=SessionsConfig)
    models_dir: str = ""  # default: `models/` beside the store file
    enabled: bool = True


@dataclass
class UiConfig:
    theme: str = "vigil-dark"
    read_only: bool = False
    keymap: dict[str, str] = field(default_factory=dict)  # binding id -> keys
    table: str = "incidents"  # the list the console opens on: incidents (one row per attacker) or alerts
    ring_size: int = 10000


@dataclass
class LlmConfig:
    host: str = ""  # default: $OLLAMA_HOST or http://127.0.0.1:11434
    model: str = "llama3.2"
    timeout_s: float = 120.0
    num_ctx: int = 8192
    num_predict: int = 1024
    max_output_bytes: int = 4 * 1024 * 1024  # one answer as received; a server streaming without end is cut off
    max_answer_s: float = 600.0  # one answer, however slowly it trickles in


@dataclass
class PlaybooksConfig:
    user_dir: str = ""
    auto_run: bool = False  # Medium tier auto-run of reversible playbooks; off by default
    auto_run_limit: int = 5  # automatic executions per auto_run_window_s; beyond it proposals wait
    auto_run_window_s: int = 600
    auto_run_max_active: int = 10  # automatic responses in force at once
    management_nets: list[str] = field(default_factory=list)  # addresses/CIDRs never targeted
    protected_assets: list[str] = field(default_factory=list)  # OT assets never targeted (CIDRs or host names)
    protected_users: list[str] = field(default_factory=list)  # besides root, your own account, system accounts
    approval_ttl_s: int = 900
    smtp_host: str = ""
    webhook_url: str = ""
    ticket_file: str = ""
    audit_syslog: str = ""  # one syslog line per audit record: "" off, "local", a socket path, udp://HOST:PORT


@dataclass
class ForwardConfig:
    nats: str = ""  # nats://host:4222 to forward events and alerts
    consume: str = ""  # nats:// URL to consume other sites from
    user: str = ""
    password: str = ""
    token: str = ""
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""


@dataclass
class ArchiveConfig:
    # Site side: the key `vigil export --sign` signs with (created 0600 on first use).
    signing_key: str = ""  # default: $XDG_DATA_HOME/vigil/archive-signing.key
    sign: bool = False  # sign every Parquet export, as if --sign were given
    # Central side: a copy of each site's key, by the site id its archives name (sources.site / --site there).
    trusted_keys: dict[str, str] = field(default_factory=dict)
    require_signed: bool = False  # refuse archives that do not verify instead of importing them as unverified
    max_partition_mb: int = 8192  # decompressed size of one partition
    max_partition_rows: int = 50_000_000


@dataclass
class AssetsConfig:
    """The OT asset inventory (store.inventory): what the site says about its industrial devices."""

    criticality: dict[str, str] = field(default_factory=dict)  # address or CIDR → low | medium | high | critical
    engineering_stations: list[str] = field(default_factory=list)  # hosts expected to program/stop/reconfigure
    hmis: list[str] = field(default_factory=list)  # hosts expected to write set-points and operate
    site_networks: list[str] = field(default_factory=list)  # the site's own routable ranges (not "public")
    learning_hours: float = 24.0  # baseline: hours from the first OT event received; 0 = until `vigil assets learn`


@dataclass
class ApiConfig:
    """The local integration API (`vigil run --api`): read-only JSON and a live alert stream for scripts."""

    listen: str = ""  # "127.0.0.1:8765" (or a port alone: loopback) serves the API in the engine; "" = off
    token_file: str = ""  # default: $XDG_DATA_HOME/vigil/api-token (created 0600 on first start)
    stream_queue: int = 1000  # alerts held for one slow stream client; beyond it they are dropped and counted
    max_rows: int = 1000  # most rows one request returns (alerts, incidents, events)
    query_timeout_s: float = 10.0  # an analyst SQL query (/api/v1/events) is interrupted after this


@dataclass
class Config:
    store: StoreConfig = field(default_factory=StoreConfig)
    sources: SourcesConfig = field(default_factory=SourcesConfig)
    listener: ListenerConfig = field(default_factory=ListenerConfig)
    detectors: DetectorsConfig = field(default_factory=DetectorsConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    llm: LlmConfig = field(default_factory=LlmConfig)
    playbooks: PlaybooksConfig = field(default_factory=PlaybooksConfig)
    forward: ForwardConfig = field(default_factory=ForwardConfig)
    archive: ArchiveConfig = field(default_factory=ArchiveConfig)
    assets: AssetsConfig = field(default_factory=AssetsConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    source_path: Path | None = None


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "vigil" / "config.toml"


def _type_name(t: Any) -> str:
    origin = typing.get_origin(t)
    if origin is list:
        inner = typing.get_args(t)[0]
        return "a list of " + {str: "strings", int: "integers", float: "numbers"}.get(inner, "values")
    if origin is dict:
        return "a table of strings"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(t, str(t))


def _check(value: Any, t: Any, path: Path | None, key: str) -> Any:
    origin = typing.get_origin(t)
    if origin in (typing.Union, types.UnionType):
        t = next(a for a in typing.get_args(t) if a is not type(None))
        origin = typing.get_origin(t)
    bad = ConfigError(path, key, f"expected {_type_name(t)}, got {value!r}")
    if origin is list:
        if not isinstance(value, list):
            raise bad
        (inner,) = typing.get_args(t)
        return [_check(v, inner, path, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise bad
        return dict(value)
    if t is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if t is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        if value < 0:
            raise ConfigError(path, key, f"must not be negative, got {value}")
        return value
    if t is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad
        return float(value)
    if t is str:
        if not isinstance(value, str):
            raise bad
        return value
    raise bad


def _fill(obj: Any, data: dict[str, Any], path: Path | None, prefix: str) -> None:
    hints = typing.get_type_hints(type(obj))
    known = {f.name for f in fields(obj)}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in known or key == "source_path":
            suggestions = ", ".join(sorted(known - {"source_path"}))
            raise ConfigError(path, dotted, f"unknown key (known here: {suggestions})")
        current = getattr(obj, key)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(path, dotted, f"expected a table [{dotted}], got {value!r}")
            _fill(current, value, path, f"{dotted}.")
        else:
            setattr(obj, key, _check(value, hints[key], path, dotted))


def parse_config(text: str, path: Path | None = None) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "(syntax)", str(exc)) from exc
    cfg = Config(source_path=path)
    _fill(cfg, data, path, "")
    _validate(cfg, path)
    return cfg


def _validate(cfg: Config, path: Path | None) -> None:
    pct = cfg.detectors.percentiles
    if len(pct) != 4 or any(not 0 < p < 100 for p in pct) or pct != sorted(pct):
        raise ConfigError(path, "detectors.percentiles", f"need 4 increasing numbers in (0, 100), got {pct}")
    for i, url in enumerate(cfg.sources.listen):
        if url.split("://", 1)[0] not in ("udp", "tcp", "tls") or "://" not in url:
            raise ConfigError(path, f"sources.listen[{i}]", f"expected udp://, tcp:// or tls:// URL, got {url!r}")
    if cfg.sources.poll_interval <= 0:
        raise ConfigError(path, "sources.poll_interval", "must be > 0")
    sess = cfg.detectors.sessions
    for key in ("level", "severity"):
        if getattr(sess, key) not in ("low", "medium", "high", "critical"):
            raise ConfigError(path, f"detectors.sessions.{key}", f"must be low, medium, high or critical, got "
                                                                 f"{getattr(sess, key)!r}")
    if sess.id_pattern:
        import re

        try:
            re.compile(sess.id_pattern)
        except re.error as exc:
            raise ConfigError(path, "detectors.sessions.id_pattern",
                              f"{sess.id_pattern!r} is not a regex: {exc}") from None
    if not 0 < sess.rare_share < 1:
        raise ConfigError(path, "detectors.sessions.rare_share", f"must be between 0 and 1, got {sess.rare_share}")
    _validate_deny_lists(cfg.playbooks, path)
    from playbooks.audit_anchor import parse_syslog_address

    try:
        parse_syslog_address(cfg.playbooks.audit_syslog)
    except ValueError as exc:
        raise ConfigError(path, "playbooks.audit_syslog", str(exc)) from None
    for key in ("max_partition_mb", "max_partition_rows"):
        if getattr(cfg.archive, key) < 1:
            raise ConfigError(path, f"archive.{key}", f"must be at least 1, got {getattr(cfg.archive, key)}")
    if cfg.api.listen:
        from app.api.address import ApiAddressError, parse_api_address

        try:
            parse_api_address(cfg.api.listen)
        except ApiAddressError as exc:
            raise ConfigError(path, "api.listen", str(exc)) from None
    for key in ("stream_queue", "max_rows"):
        if getattr(cfg.api, key) < 1:
            raise ConfigError(path, f"api.{key}", f"must be at least 1, got {getattr(cfg.api, key)}")
    if cfg.api.query_timeout_s <= 0:
        raise ConfigError(path, "api.query_timeout_s", f"must be > 0, got {cfg.api.query_timeout_s}")
    for key in ("max_output_bytes", "max_answer_s"):
        if getattr(cfg.llm, key) <= 0:
            raise ConfigError(path, f"llm.{key}", f"must be > 0, got {getattr(cfg.llm, key)}")
    _validate_assets(cfg.assets, path)
    _validate_llm_host(cfg.llm.host, path)
    _validate_ui(cfg.ui, path)


def _validate_assets(assets: AssetsConfig, path: Path | None) -> None:
    from store.inventory.config import CRITICALITY_LEVELS, parse_network

    for key, level in assets.criticality.items():
        try:
            parse_network(key)
        except ValueError as exc:
            raise ConfigError(path, f"assets.criticality.{key}", str(exc)) from None
        if level not in CRITICALITY_LEVELS:
            raise ConfigError(path, f"assets.criticality.{key}",
                              f"{level!r} is not one of {', '.join(CRITICALITY_LEVELS)}")
    for name in ("engineering_stations", "hmis", "site_networks"):
        for i, value in enumerate(getattr(assets, name)):
            try:
                parse_network(value)
            except ValueError as exc:
                raise ConfigError(path, f"assets.{name}[{i}]", str(exc)) from None
    if assets.learning_hours < 0:
        raise ConfigError(path, "assets.learning_hours", f"must not be negative, got {assets.learning_hours}")


def inventory_config(cfg: Config) -> Any:
    """[assets] as the inventory's own config (store/ never imports app/)."""
    from store.inventory.config import InventoryConfig

    a = cfg.assets
    return InventoryConfig.from_values(a.criticality, a.engineering_stations, a.hmis, a.site_networks,
                                       a.learning_hours)


def _validate_llm_host(host: str, path: Path | None) -> None:
    if not host:
        return
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(host)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(path, "llm.host", f"not a URL: {host!r} ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(path, "llm.host", f"expected an http:// or https:// URL such as http://127.0.0.1:11434, "
                                            f"got {host!r}")
    del port


def _validate_ui(ui: UiConfig, path: Path | None) -> None:
    """Theme and keymap name things in the console: checked against it (imports the UI only when they are set)."""
    if ui.table not in ("incidents", "alerts"):
        raise ConfigError(path, "ui.table", f"expected \"incidents\" or \"alerts\", got {ui.table!r}")
    if ui.ring_size < 1:
        raise ConfigError(path, "ui.ring_size", f"must be at least 1, got {ui.ring_size}")
    if ui.theme != UiConfig.theme:
        from app.ui.keymap_check import theme_names

        names = theme_names()
        if ui.theme not in names:
            raise ConfigError(path, "ui.theme", f"unknown theme {ui.theme!r}; choose one of {', '.join(names)}")
    if ui.keymap:
        from app.ui.keymap_check import check_keymap

        problems = check_keymap(ui.keymap)
        if problems:
            p = problems[0]
            raise ConfigError(path, f"ui.keymap.{p.binding_id}", f"{p.value!r}: {p.problem}")


def _validate_deny_lists(pbs: PlaybooksConfig, path: Path | None) -> None:
    """A deny-list entry that does not parse would protect nothing, silently: refuse the file instead."""
    from playbooks.addresses import canonical_network
    from playbooks.params import check_user_name, network_or_host

    checks: list[tuple[str, list[str], Any]] = [("management_nets", pbs.management_nets, canonical_network),
                                                ("protected_assets", pbs.protected_assets, network_or_host),
                                                ("protected_users", pbs.protected_users, check_user_name)]
    for key, values, check in checks:
        for i, value in enumerate(values):
            try:
                check(value)
            except ValueError as exc:
                raise ConfigError(path, f"playbooks.{key}[{i}]", str(exc)) from None
    if pbs.auto_run_window_s <= 0:
        raise ConfigError(path, "playbooks.auto_run_window_s", "must be > 0")


def load_config(path: str | Path | None = None) -> Config:
    """Load `path`, or the default location if it exists, or defaults. Raises ConfigError."""
    explicit = path is not None
    p = Path(path) if path else default_config_path()
    if not p.exists():
        if explicit:
            raise ConfigError(p, "(file)", "does not exist")
        return Config()
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(p, "(file)", f"cannot be read: {exc}") from exc
    return parse_config(text, p)
