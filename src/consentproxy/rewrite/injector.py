"""Where the rewriter's output goes: the page's bytes, with the head markup (the guard
script) before the first tag that can load anything and the banner before the last real
</body>. Bytes after a </body> are held until a later one, or the end of the page, shows
whether it was the last (at most MAX_HOLD of them: past that, the banner goes in there).
"""

from __future__ import annotations

from collections.abc import Buffer

MAX_HOLD = 1 << 18  # bytes held after </body> waiting to know if it is the last
# What goes before the banner in an HTML page: end tags that close a <noscript>, <template>
# or <select> the page leaves open there (the banner went into the noscript's text, the
# template's inert content or the select's options: never shown). With none open, browsers
# ignore each (HTML's "any other end tag" in body). Not in XHTML: there a stray end tag is a
# fatal error.
CLOSERS = b"</noscript></template></select>"


class Injector:
    """The output of one response. inject: True (a top-level document), False (fragment,
    iframe), or None until the scanner has decided from the first bytes."""

    def __init__(self, banner: list[bytes], inject: bool | None, head: bytes, closers: bytes = b""):
        self.banner = banner  # in pieces (banner.render.filled): written out as they are
        self.closers = closers  # CLOSERS in an HTML page
        self.inject = inject
        self.injected = False
        self.head = head
        self.head_done = not head
        self.out: list[Buffer] = []  # bytes, and runs of the page the C loop did not copy
        self.hold: list[bytes] | None = None  # after a </body>: waiting for a later one
        self.hold_len = 0

    def emit(self, data: bytes) -> None:
        if self.hold is None:
            self.out.append(data)
            return
        self.hold.append(data)
        self.hold_len += len(data)
        if self.hold_len > MAX_HOLD:  # long tail after </body>: inject before it now
            self.release_hold(inject=True)

    def release_hold(self, inject: bool) -> None:
        hold, self.hold, self.hold_len = self.hold or [], None, 0
        if inject and not self.injected:
            self.out.append(self.closers)
            self.out += self.banner
            self.injected = True
        self.out.extend(hold)

    def ends_page(self) -> bool:
        """Whether the banner goes after all the page's bytes (no </body> to go before): a
        tag the page leaves open is then ended by the banner's markup."""
        return bool(self.inject) and not self.injected and self.hold is None

    def waits_at_body_end(self) -> bool:
        """Whether a </body> starts a hold (the banner is still to place)."""
        return bool(self.inject) and not self.injected

    def hold_from(self, tag: bytes) -> None:
        """A </body>: what came before goes out, the tag and what follows wait."""
        if self.hold is not None:  # (the page's first </body> has nothing held before it)
            self.release_hold(inject=False)
        self.hold = [tag]
        self.hold_len = len(tag)

    def close(self, at_end: bool, ending: bytes = b"") -> None:
        """The end of the page: the banner goes before the last </body>, else at the end
        (with the head markup if no tag placed it) if at_end (not where markup ended,
        <plaintext>, nor after an XML document's root); there, after `ending`, what ends the
        comment or raw text the page ends in."""
        if self.hold is not None:
            self.release_hold(inject=True)
        elif self.inject and not self.injected and at_end:
            self.out += (ending, self.closers)
            if not self.head_done:
                self.out.append(self.head)
            self.out += self.banner
            self.injected = True

    def take(self) -> list[Buffer]:
        out, self.out = self.out, []
        return out
