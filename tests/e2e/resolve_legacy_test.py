"""mitmproxy script for the forward-mode tests: `legacy.test` is 127.0.0.1, as Chromium's
--host-resolver-rules say in the other tests (through a proxy, the proxy resolves names)."""

from mitmproxy.proxy.server_hooks import ServerConnectionHookData


class ResolveLegacyTest:
    def server_connect(self, data: ServerConnectionHookData) -> None:
        address = data.server.address
        if address is not None and address[0] == "legacy.test":
            data.server.address = ("127.0.0.1", address[1])


addons = [ResolveLegacyTest()]
