"""Settings the playbook layer needs (Ollama, deny-lists, execution switches, output paths).

Plain pydantic so the lead's config loader can build it from TOML/flags; every field has a safe default.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from playbooks.params import check_user_name, network_or_host

DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"


def _data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vigil"


class PlaybookConfig(BaseModel):
    """Everything playbooks/ reads from configuration. Unknown keys are rejected by the caller's loader."""

    # LLM
    ollama_host: str = Field(default_factory=lambda: os.environ.get("OLLAMA_HOST") or DEFAULT_OLLAMA_HOST)
    ollama_model: str = "llama3.2"
    ollama_allow_remote: bool = False  # the host must be loopback unless this is set
    llm_connect_timeout_s: float = 2.0
    llm_read_timeout_s: float = 120.0
    llm_probe_timeout_s: float = 1.0
    llm_num_ctx: int = 8192
    llm_num_predict: int = 1024
    llm_seed: int = 42
    llm_max_tool_rounds: int = 3
    llm_max_output_bytes: int = Field(default=4 * 1024 * 1024, gt=0)  # per answer, as received
    llm_max_answer_s: float = Field(default=600.0, gt=0)  # per answer, however slowly the bytes trickle in
    prompt_field_chars: int = 256
    prompt_max_rows: int = 20

    # Catalogue
    user_catalog_dir: Path | None = None  # YAML files here add playbooks or override shipped ones by id

    # Execution
    read_only: bool = False  # disables every execution (proposals and dry-runs still work)
    auto_run_medium: bool = False  # Medium-tier auto-run of reversible, auto-allowed playbooks; off by default
    # Blast-radius limits on auto-run: beyond them proposals wait for the analyst (and it is said).
    auto_run_limit: int = Field(default=5, ge=0)  # automatic executions per window
    auto_run_window_s: int = Field(default=600, gt=0)
    auto_run_max_active: int = Field(default=10, ge=0)  # automatic responses in force at once (pending expiry)
    exec_prefix: list[str] = Field(default_factory=list)  # e.g. ["sudo", "-n"] or ["ip", "netns", "exec", "x"]
    step_output_cap: int = 16 * 1024  # bytes of stdout/stderr kept per step
    approval_ttl_s: int = 900
    # Audit anchor: one syslog line per audit record. "" off, "local" (/dev/log), a socket path, udp://HOST:PORT
    audit_syslog: str = ""

    # Deny-lists (never a target, whatever the evidence says)
    self_addresses: list[str] = Field(default_factory=list)  # added to the auto-detected local addresses
    gateways: list[str] = Field(default_factory=list)  # added to the auto-detected default gateways
    management_nets: list[str] = Field(default_factory=list)
    protected_assets: list[str] = Field(default_factory=list)  # OT assets: addresses/CIDRs or host names
    # Added to the users that are always protected: root, the analyst's own account (and $SUDO_USER).
    protected_users: list[str] = Field(default_factory=list)
    protect_system_accounts: bool = True  # accounts below UID_MIN (daemon, sshd, www-data …) are never targets
    protected_services: list[str] = Field(default_factory=lambda: ["sshd", "ssh", "systemd-journald", "vigil"])
    detect_local: bool = True  # add local interface addresses and default gateways automatically

    # Outputs of shipped playbooks
    nft_family: str = "inet"
    nft_table: str = "vigil"
    iptables_chain: str = "INPUT"
    hosts_deny_path: Path = Path("/etc/hosts.deny")
    tickets_path: Path = Field(default_factory=lambda: _data_dir() / "tickets.jsonl")
    bundles_dir: Path = Field(default_factory=lambda: _data_dir() / "bundles")
    # The [sources] watch patterns: the only files a forensic bundle reads (an evidence row's `source` may come
    # from an imported archive or a remote site, so it never chooses a file by itself).
    bundle_sources: list[str] = Field(default_factory=list)
    webhook_url: str | None = None
    smtp_host: str | None = None
    smtp_port: int = 25
    mail_from: str | None = None
    mail_to: list[str] = Field(default_factory=list)
    zabbix_server: str | None = None
    zabbix_host: str | None = None
    zabbix_key: str = "vigil.alert"

    @field_validator("self_addresses", "gateways", "management_nets", "protected_assets")
    @classmethod
    def _networks(cls, values: list[str], info: ValidationInfo) -> list[str]:
        """A deny-list entry that does not parse would protect nothing: refuse it (only protected_assets
        may also name hosts)."""
        for v in values:
            entry = network_or_host(v)  # ValueError names the entry
            if isinstance(entry, str) and info.field_name != "protected_assets":
                raise ValueError(f"{info.field_name}: {v!r} is not an address or network in CIDR form")
        return values

    @field_validator("protected_users")
    @classmethod
    def _users(cls, values: list[str]) -> list[str]:
        return [check_user_name(v) for v in values]

    @field_validator("audit_syslog")
    @classmethod
    def _syslog_address(cls, value: str) -> str:
        from playbooks.audit_anchor import parse_syslog_address

        parse_syslog_address(value)  # ValueError names the accepted forms
        return value


def config_from_sections(llm: object = None, playbooks: object = None, *, sources: object = None,
                         read_only: bool = False, **overrides: object) -> PlaybookConfig:
    """Build from the app's `[llm]`, `[playbooks]` and `[sources]` config sections (duck-typed: playbooks/ never
    imports app). Empty strings mean "use the default"."""
    data: dict[str, object] = {"read_only": read_only}

    def take(section: object, attr: str, key: str) -> None:
        value = getattr(section, attr, None)
        if value not in (None, "", []):
            data[key] = value

    take(llm, "host", "ollama_host")
    take(llm, "model", "ollama_model")
    take(llm, "timeout_s", "llm_read_timeout_s")
    take(llm, "num_ctx", "llm_num_ctx")
    take(llm, "num_predict", "llm_num_predict")
    take(llm, "max_output_bytes", "llm_max_output_bytes")
    take(llm, "max_answer_s", "llm_max_answer_s")
    take(playbooks, "user_dir", "user_catalog_dir")
    take(playbooks, "auto_run", "auto_run_medium")
    take(playbooks, "management_nets", "management_nets")
    take(playbooks, "protected_assets", "protected_assets")
    take(playbooks, "protected_users", "protected_users")
    take(playbooks, "auto_run_limit", "auto_run_limit")
    take(playbooks, "auto_run_window_s", "auto_run_window_s")
    take(playbooks, "auto_run_max_active", "auto_run_max_active")
    take(playbooks, "approval_ttl_s", "approval_ttl_s")
    take(playbooks, "smtp_host", "smtp_host")
    take(playbooks, "webhook_url", "webhook_url")
    take(playbooks, "ticket_file", "tickets_path")
    take(playbooks, "audit_syslog", "audit_syslog")
    take(sources, "watch", "bundle_sources")
    data.update(overrides)
    return PlaybookConfig.model_validate(data)
