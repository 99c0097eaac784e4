"""Banner colours: operators pick them, we make sure they stay readable (WCAG 2.2 AA)."""

from __future__ import annotations

import re

HEX_RE = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")
DEFAULT_COLORS = {
    "background": "#ffffff",
    "text": "#1b1b1b",
    "accent": "#1d4ed8",
    "accent_text": "#ffffff",
}
# Pairs that must be readable, and the ratio each needs: text 4.5:1, the buttons' and
# links' colour against the background 3:1 (non-text contrast) and 4.5:1 as link text.
CONTRAST_RULES = (
    ("text", "background", 4.5),
    ("accent_text", "accent", 4.5),
    ("accent", "background", 4.5),
)


def _luminance(color: str) -> float:
    h = color[1:]
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    channels = []
    for i in (0, 2, 4):
        c = int(h[i : i + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    r, g, b = channels
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """The WCAG contrast ratio of two #rgb / #rrggbb colours, from 1 to 21."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def contrast_problems(colors: dict[str, str]) -> list[str]:
    """What fails AA in a full colour set, in words an operator can act on."""
    return [
        f"{fg} {colors[fg]} on {bg} {colors[bg]} has contrast "
        f"{contrast(colors[fg], colors[bg]):.2f}:1, below the {need}:1 WCAG AA needs"
        for fg, bg, need in CONTRAST_RULES
        if contrast(colors[fg], colors[bg]) < need
    ]


def css_variables(colors: dict[str, str]) -> str:
    return (
        ":host{"
        + "".join(f"--cp-{k.replace('_', '-')}:{v};" for k, v in sorted(colors.items()))
        + "}"
    )
