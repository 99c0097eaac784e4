"""Registrable domains ("sites") from the Public Suffix List.

The list comes bundled with the `publicsuffixlist` package (offline, no download at run
time), private section included, as browsers use it for cookies and same-site: so
`d123.cloudfront.net` and `someone.github.io` are sites of their own, and `cloudfront.net`
is nobody's.
"""

from __future__ import annotations

import ipaddress
from functools import cache, lru_cache

from publicsuffixlist import PublicSuffixList

# No DNS name is longer (RFC 1035, written without its root dot): a URL's host that is
# never reaches a server, so nothing that holds hosts keeps one.
MAX_HOST_NAME = 253


@cache
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


def registrable(host: str) -> str:
    """The site a host belongs to: example.co.uk for www.example.co.uk; an IP address,
    a single label (localhost) or a public suffix is a site of its own. Hosts no DNS name
    can be are worked out each time: the memo's keys stay short."""
    return _registrable(host) if len(host) <= MAX_HOST_NAME else _site(host)


def _site(host: str) -> str:
    host = host.lower().rstrip(".")
    if host.startswith("[") or is_ip(host):
        return host
    return _psl().privatesuffix(host) or host


_registrable = lru_cache(maxsize=4096)(_site)


def site_of(netloc: str) -> str:
    """The site of a Host header or URL authority ("www.example.com:8443" -> example.com)."""
    host = netloc.rpartition("@")[2]
    host = host[1:].partition("]")[0] if host.startswith("[") else host.partition(":")[0]
    return registrable(host) if host else ""


def is_public_suffix(domain: str) -> bool:
    """Whether a domain is shared by unrelated owners (com, co.uk, cloudfront.net)."""
    return _psl().is_public(domain.lower().rstrip("."))


def same_site(host: str, site: str) -> bool:
    """Whether host is site (a registrable domain, or any domain: a cookie_domain) or one of
    its subdomains."""
    return host == site or host.endswith("." + site)


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
