"""A response body on its way to the visitor: decoded, its HTML rewritten (the banner and
declaration in the page's own language, once its `<html lang>` is read), encoded again,
chunk by chunk; an untyped body is sniffed first."""

from __future__ import annotations

import time
from collections.abc import Buffer, Callable
from typing import TYPE_CHECKING

from consentproxy.banner.render import filled
from consentproxy.consent import ConsentState
from consentproxy.language import PageLanguage
from consentproxy.report import Report, grown
from consentproxy.rewrite import encoding
from consentproxy.rewrite.encoding import BodyError
from consentproxy.rewrite.mimesniff import XML, sniffed_type
from consentproxy.rewrite.scanner import HtmlRewriter

if TYPE_CHECKING:
    from consentproxy.engine import Engine

# What `sliced` and `more` rewrite of a body's decoded HTML at a time, so that an adapter
# lets other requests run between two slices (a hostile page rewritten at 0.2 MB/s, 10 MB
# from a 1 MB gzip, held `serve`'s event loop 12 s): a slice is sized to take about
# SLICE_SECONDS at the rate the last one went, within SLICE_BYTES; a typical page is one.
SLICE_BYTES = (1 << 14, 1 << 18)
SLICE_SECONDS = 0.02
# A body whose rewriting takes longer than this in all is cut (BodyError): its markup made
# the rewriter crawl, at the cost of every other visitor of the process.
MAX_REWRITE_SECONDS = 30.0


class Spoken(dict[str, tuple[list[bytes], bytes]]):
    """A page plan's banner (the pieces of banner.pieces(), with slots) and declaration (its
    html) by language, rendered the first time a page asks (a dict lookup after that)."""

    def __init__(self, engine: Engine, state: ConsentState):
        super().__init__()
        self.engine, self.state = engine, state

    def __missing__(self, lang: str) -> tuple[list[bytes], bytes]:
        engine = self.engine
        found = self[lang] = engine.banner.pieces(self.state, lang), engine.declaration.html(lang)
        return found


# A page's <html lang> read by the sniffer, and the banner and declaration in each language.
Sniff = tuple[PageLanguage, Spoken]


class BodyTransform:
    """Decode -> rewrite HTML -> re-encode, chunk by chunk."""

    def __init__(
        self,
        rewriter: HtmlRewriter,
        decode: encoding.Decoder | None,
        encode: encoding.Codec | None,
        report: Report,
        on_close: Callable[[Report, set[str]], None] | None = None,
        sniff: Sniff | None = None,
        values: dict[bytes, bytes] | None = None,
        fallback: Callable[[], str] | None = None,
        untyped: bool = False,
    ):
        """untyped: a body sent with no type, rewritten only if its first bytes make it HTML
        or XML to a browser (mimesniff; XML read with its rules), else passed on as it came.
        sniff: the page's <html lang> decides the language of the banner and the declaration
        (rendered with the slots' values), seen long before either goes in; the sniffer is
        the page plan's, this keeps the bytes read so far. fallback: the language the request gives when the page names
        none of the config's, asked only then (or while a chunk goes through undecided).
        decode, encode: None for none (most pages come and go uncompressed: no codec call
        for them)."""
        self.rewriter, self.decode, self.encode, self.report = rewriter, decode, encode, report
        self.on_close = on_close
        self.sniff, self.values, self.head = sniff, values, b""
        self.fallback, self.spoken = fallback, ""  # spoken: the language the rewriter has
        # An untyped body's first bytes until they tell whether it is HTML (else None), and
        # whether it was not (then it passes as it came).
        self.untyped: bytes | None = b"" if untyped else None
        self.passing = False
        # What `sliced` left to rewrite (more() takes it a slice at a time): a step of the
        # decoded HTML, where the next slice starts; whether the input fed so far ends the
        # body; the slice's size; whether nothing went out yet.
        self.rest: bytes | None = None
        self.rest_at = 0
        self.last = False
        self.slice = SLICE_BYTES[1]
        self.first = True

    def _sniff(self, data: bytes) -> None:
        """The page's language from its first bytes; once known, the rewriter has the
        banner and declaration in it (a chunk that goes through undecided: the fallback's)."""
        assert self.sniff is not None
        head, lang = self.sniff[0].read(self.head, data, self.rewriter.xml)
        if lang is None:
            self.head = head  # (kept only while undecided)
            if not self.spoken:
                self._speak("")
            return
        self._speak(lang)
        self.sniff = None

    def _speak(self, lang: str) -> None:
        """The rewriter gets the banner and declaration in lang ("": the fallback)."""
        assert self.sniff is not None and self.values is not None and self.fallback is not None
        lang = lang or self.fallback()
        if lang != self.spoken:
            pieces, declaration = self.sniff[1][lang]
            self.rewriter.banner = filled(pieces, self.values)
            self.rewriter.declaration = declaration
            self.spoken = lang

    def feed(self, data: bytes) -> bytes:
        """What data makes, rewritten: decoded a step at a time, each step rewritten whole."""
        self.first = False
        out = self._step(data, False)
        while self.decode is not None and self.decode.pending:
            out += self._step(b"", False)
        return b"".join(out)

    def _step(self, data: bytes, last: bool) -> list[Buffer]:
        html = self._decoded(data, last)
        if self.untyped is not None or self.passing:
            return self._sniffed(html, self._ends())
        return self._rewrite(html, self._ends())

    def sliced(self, data: bytes, last: bool) -> list[Buffer]:
        """feed(data), or when last feed(data) and close() in one (a page whose bytes are all
        at hand, most, is not copied again to add its tail), in pieces not joined (see
        HtmlRewriter.pieces), for an adapter that lets other requests run meanwhile: at most
        a slice of the decoded HTML is rewritten; while `pending`, more() gives what the next
        slice makes. A read that decodes to more than a step is decoded a step at a time (by
        more()); the first one is checked whole first (its output dropped), so that a body
        that cannot be decoded is known before anything goes out."""
        html = self._decoded(data, last)
        if self.first and self.decode is not None and self.decode.pending:
            self._check(data, last)
        self.first = False
        return self._sliced(html)

    def _sliced(self, html: bytes) -> list[Buffer]:
        if self.untyped is not None or self.passing:
            return self._sniffed(html, self._ends())
        if len(html) <= self.slice and not self.pending:
            return self._rewrite(html, self.last)
        self.rest, self.rest_at = html, 0
        return self.more()

    @property
    def pending(self) -> bool:
        """Whether more() has a slice to rewrite (after `sliced`)."""
        return self.rest is not None or (self.decode is not None and self.decode.pending)

    def more(self) -> list[Buffer]:
        """The next slice of what `sliced` left, rewritten (the last one ends the body if
        `sliced` was told so); the next slice is sized by how fast this one went."""
        rest, at = self.rest, self.rest_at
        if rest is None:  # the decoder's next step
            return self._sliced(self._decoded(b"", self.last))
        size = self.slice
        final = at + size >= len(rest)
        if final:
            self.rest = None
        else:
            self.rest_at = at + size
        before = self.report.rewrite_seconds
        out = self._rewrite(rest[at : at + size], final and self._ends())
        took = self.report.rewrite_seconds - before
        low, high = SLICE_BYTES
        self.slice = high if took <= 0 else int(min(max(size / took * SLICE_SECONDS, low), high))
        return out

    def _ends(self) -> bool:
        """Whether the decoded HTML at hand ends the body."""
        return self.last and (self.decode is None or not self.decode.pending)

    def _decoded(self, data: bytes, last: bool) -> bytes:
        """A step of what the body decodes to (with its end, if last and it is the last)."""
        self.report.rewrite_bytes += len(data)
        self.last = last
        if self.decode is None:
            return data
        started = time.perf_counter()
        html = self.decode.step(data, SLICE_BYTES[1])
        if last and not self.decode.pending:
            html += self.decode.finish()
        self.report.rewrite_seconds += time.perf_counter() - started
        return html

    def _check(self, data: bytes, last: bool) -> None:
        """Raises BodyError if the body's first bytes (data) cannot be decoded, or decode to
        over the limit, decoding them again from the start, a step at a time, output dropped
        (an adapter can still answer a page that says so, not a cut one)."""
        assert self.decode is not None
        started = time.perf_counter()
        check = self.decode.renewed()
        check.step(data, SLICE_BYTES[1])
        while check.pending:
            check.step(b"", SLICE_BYTES[1])
        if last:
            check.finish()
        self.report.rewrite_seconds += time.perf_counter() - started

    def _rewrite(self, html: bytes, last: bool) -> list[Buffer]:
        started = time.perf_counter()
        if self.sniff is not None:
            self._sniff(html)
        out = self.rewriter.pieces(html, last)
        report = self.report
        report.rewrite_seconds += time.perf_counter() - started
        if report.rewrite_seconds > MAX_REWRITE_SECONDS:
            raise BodyError(f"rewriting it took over {MAX_REWRITE_SECONDS:.0f} s")
        if last:
            self._done()
        return out if self.encode is None else [self._encoded(b"".join(out), last)]

    def _sniffed(self, data: bytes, last: bool) -> list[Buffer]:
        """An untyped body (data decoded): held until its first bytes (decoded, as a browser
        sniffs them) tell, then rewritten or passed on (decoded: its headers said no coding
        already)."""
        if self.passing:
            return [data]
        assert self.untyped is not None
        head = self.untyped + data
        kind = sniffed_type(head, last)
        if kind is None:
            self.untyped = head
            return []
        self.untyped = None
        if kind:  # (XML: rewritten as an XHTML page is, its well-formedness kept)
            if kind == XML:
                self.rewriter.as_xml()
            return self._rewrite(head, last)
        self.passing, self.report.rewritten = True, False
        return [head]

    def close(self) -> bytes:
        if self.untyped is not None or self.passing:
            return b"".join(self._sniffed(self._decoded(b"", True), True))
        rewriter = self.rewriter
        html = b"" if self.decode is None else self.decode.finish()
        if self.sniff is not None and not self.spoken:  # (no byte came: the fallback)
            self._speak("")
        # (an empty chunk changes nothing: test_an_empty_chunk_changes_nothing)
        tail = rewriter.finish(html) if html else rewriter.close()
        self._done()
        return tail if self.encode is None else self._encoded(tail, True)

    def _encoded(self, out: bytes, last: bool) -> bytes:
        assert self.encode is not None
        return self.encode.process(out) + self.encode.finish() if last else self.encode.process(out)

    def _done(self) -> None:
        """The page is all out: what was done to it goes to the report (and on_close)."""
        report, rewriter = self.report, self.rewriter
        report.banner = rewriter.injected
        report.neutralised = grown(report.neutralised, rewriter.neutraliser.blocked)
        if self.on_close is not None:
            self.on_close(report, rewriter.neutraliser.unknown_hosts)
