"""Elements whose text decides what their start tag becomes: an inline script (classified by
its code) or a <style> (its URLs). The start tag and the text are held until the text is
complete (or MAX_HELD_TEXT long), then rewritten together.
"""

from __future__ import annotations

from collections.abc import Callable

MAX_HELD_TEXT = 1 << 20  # classify an inline script or a <style> on at most this much text

# (start tag, text) -> (the start tag to emit, the text to emit)
Rewrite = Callable[[bytes, bytes], tuple[bytes, bytes]]


class HeldElement:
    """One held element. svg_depth: for an SVG script or style (its text is markup, see
    rewrite/foreign.py), the depth of the tree builder's stack it ends below; inner: the
    chunks that are start tags of inline scripts inside it (they share its verdict); script:
    whether it is a script (inside a style, an inline script is held on its own); page_tag:
    its start tag is the page's bytes (the opener marked none)."""

    __slots__ = ("chunks", "inner", "page_tag", "rewrite", "script", "size", "svg_depth", "tag")

    def __init__(self, tag: bytes, rewrite: Rewrite, script: bool = True):
        self.tag = tag
        self.rewrite = rewrite
        self.chunks: list[bytes] = []
        self.size = 0
        self.inner: list[int] = []
        self.svg_depth = 0
        self.script = script
        self.page_tag = False

    def add(self, data: bytes) -> bool:
        """Hold more of the text; True once it is too long to wait for the rest."""
        self.chunks.append(data)
        self.size += len(data)
        return self.size > MAX_HELD_TEXT

    def mark_inner(self) -> None:
        """The chunk just added is the start tag of an inline script inside this one."""
        self.inner.append(len(self.chunks) - 1)

    def finish(self, inner_rewrite: Rewrite) -> tuple[bytes, bytes]:
        """The start tag and text to emit; inner_rewrite: for the inline scripts inside."""
        chunks = self.chunks
        edited, text = self.rewrite(self.tag, b"".join(chunks))
        if self.inner and edited != self.tag:  # the inline scripts inside share its verdict
            for i in self.inner:
                chunks[i] = inner_rewrite(chunks[i], text)[0]
            text = b"".join(chunks)
        return edited, text
