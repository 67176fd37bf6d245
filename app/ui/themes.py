"""The console's themes: the default dark one, monochrome (no colour at all), and 16-colour for old terminals
and jump hosts. Severity is never told by colour alone: the table also prints its name."""

from __future__ import annotations

from textual.theme import Theme

VIGIL_DARK = Theme(
    name="vigil-dark", primary="#3a87c8", secondary="#2a5b86", accent="#e0a030", warning="#e0b020",
    error="#e04848", success="#4ebf71", foreground="#d8dde3", background="#101418", surface="#161c22",
    panel="#1e262e", dark=True,
)
VIGIL_MONO = Theme(
    name="vigil-mono", primary="#c0c0c0", secondary="#808080", accent="#ffffff", warning="#e0e0e0",
    error="#ffffff", success="#c0c0c0", foreground="#d0d0d0", background="#000000", surface="#101010",
    panel="#202020", dark=True, variables={"vigil-mono": "1"},
)
VIGIL_16 = Theme(
    name="vigil-16", ansi=True, primary="ansi_blue", secondary="ansi_cyan", accent="ansi_yellow",
    warning="ansi_yellow", error="ansi_red", success="ansi_green", foreground="ansi_default",
    background="ansi_default", surface="ansi_default", panel="ansi_default", boost="ansi_default", dark=True,
    variables={"ansi-background": "ansi_black", "ansi-foreground": "ansi_white", "border-blurred": "ansi_black",
               "footer-background": "ansi_black", "footer-key-foreground": "ansi_bright_yellow"},
)
THEMES = {t.name: t for t in (VIGIL_DARK, VIGIL_MONO, VIGIL_16)}
ALIASES = {"dark": "vigil-dark", "default": "vigil-dark", "monochrome": "vigil-mono", "mono": "vigil-mono",
           "16": "vigil-16", "16-color": "vigil-16", "16-colour": "vigil-16", "ansi": "vigil-16"}

# Per-theme severity styles for the Line-API table (rich style strings; CSS cannot reach hand-drawn lines).
SEVERITY_STYLES: dict[str, dict[str, str]] = {
    "vigil-dark": {"critical": "bold #ffffff on #a01c1c", "high": "bold #ff6b6b", "medium": "#f0c040",
                   "low": "#7fb8e0"},
    "vigil-mono": {"critical": "bold reverse", "high": "bold", "medium": "", "low": "dim"},
    "vigil-16": {"critical": "bold white on red", "high": "bold red", "medium": "yellow", "low": "cyan"},
}


def resolve_theme(name: str) -> str:
    """The registered theme for a config value; unknown names fall back to Textual's own themes by name."""
    return ALIASES.get(name, name)


def severity_style(theme: str, severity: str) -> str:
    return SEVERITY_STYLES.get(theme, SEVERITY_STYLES["vigil-dark"]).get(severity, "")
