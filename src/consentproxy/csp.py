"""Content-Security-Policy from the consented services: defence in depth.

The HTML rewrite stops what is in the markup; this stops what first-party scripts
load at run time. CSP has no deny-list, so the policy allows the site itself, the
services the visitor consented to and the operator's `csp_allow` hosts, and nothing
else. It restricts hosts only: inline code and eval stay as the site had them. The
origin's own CSP header is kept; browsers enforce both.
"""

from __future__ import annotations

from collections.abc import Iterable


def header(mode: str, allowed_hosts: Iterable[str], extra_hosts: Iterable[str]) -> (
        tuple[str, str] | None):
    """The (name, value) header for a rewritten page, or None when CSP is off."""
    if mode == "off":
        return None
    hosts = set(allowed_hosts) | set(extra_hosts)
    # "host/path" is a prefix for us; in CSP a path is a prefix only when it ends with '/'.
    hosts |= {f"{h}/" for h in hosts if "/" in h and not h.endswith("/")}
    sources = " ".join(["'self'", "data:", "blob:", *sorted(hosts)])
    value = f"default-src {sources} 'unsafe-inline' 'unsafe-eval'"
    name = "Content-Security-Policy" if mode == "enforce" else "Content-Security-Policy-Report-Only"
    return name, value
