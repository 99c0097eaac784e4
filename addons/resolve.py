"""mitmproxy addon: development host names, resolved by mitmproxy itself.

Through a proxy the browser resolves no name: mitmproxy does. A site on a made-up name
(myapp.test, on this machine) needs that name in /etc/hosts, or this:

    mitmdump -s addons/resolve.py --set resolve=myapp.test=127.0.0.1,*.myapp.test=127.0.0.1

Only where mitmproxy connects changes: the Host header, TLS's SNI and the certificate
checked are still the name's.
"""

from __future__ import annotations

import logging

from mitmproxy import ctx, exceptions
from mitmproxy.proxy.server_hooks import ServerConnectionHookData

log = logging.getLogger("consentproxy")


class Resolve:
    def __init__(self) -> None:
        self.table: dict[str, str] = {}  # name or *.suffix -> address
        self.started = False

    def load(self, loader: object) -> None:
        loader.add_option(  # type: ignore[attr-defined]
            "resolve", str, "", "Connect to these host names at these addresses, like "
            "/etc/hosts: NAME=ADDRESS,... (*.example.test=ADDRESS for every subdomain).")

    def configure(self, updates: set[str]) -> None:
        """A bad value is one error line at startup (mitmdump then exits), refused later."""
        if "resolve" not in updates:
            return
        try:
            self.table = parse_table(ctx.options.resolve)
        except exceptions.OptionsError as e:
            if self.started:
                raise
            log.error("%s", e)

    def running(self) -> None:
        self.started = True

    def server_connect(self, data: ServerConnectionHookData) -> None:
        if data.server.address is None:
            return
        host, port = data.server.address
        address = self.lookup(host.lower().rstrip("."))
        if address is not None:
            data.server.address = (address, port)

    def lookup(self, host: str) -> str | None:
        if host in self.table:
            return self.table[host]
        parts = host.split(".")
        return next((self.table[w] for w in ("*." + ".".join(parts[i:])
                                             for i in range(1, len(parts)))
                     if w in self.table), None)


def parse_table(value: str) -> dict[str, str]:
    table = {}
    for item in filter(None, (i.strip() for i in value.split(","))):
        name, equals, address = (p.strip() for p in item.partition("="))
        if not equals or not name or not address:
            raise exceptions.OptionsError(f"resolve: {item!r} is not NAME=ADDRESS, e.g. "
                                          "myapp.test=127.0.0.1")
        table[name.lower()] = address
    return table


addons = [Resolve()]
