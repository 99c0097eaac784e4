"""A body on its way to the visitor (body.BodyTransform), as the engine's response plan
hands it to an adapter: untyped bodies sniffed, a page all at hand, its language."""

import gzip
import tracemalloc
import zlib

import brotli
import pytest
import zstandard

from consentproxy.engine import Engine
from consentproxy.httpheaders import header
from tests.test_engine import HTML, NOW, get


@pytest.fixture
def engine(config) -> Engine:
    return Engine(
        config.with_overrides(upstream="http://127.0.0.1:9"), [b"k" * 32], clock=lambda: NOW
    )


UNTYPED_PAGE = (
    b"<!doctype html><body><script src='https://www.google-analytics.com/ga.js'></script>"
)


@pytest.mark.parametrize(
    "request_headers", [{"Sec_Fetch_Dest": "document"}, {"Accept": "text/html,*/*;q=0.8"}]
)
@pytest.mark.parametrize("chunks", [[UNTYPED_PAGE], [b"\n  <!doc", UNTYPED_PAGE.lstrip(b"<!doc")]])
def test_a_page_sent_without_a_type_is_rewritten_and_goes_on_untyped(
    engine, request_headers, chunks
):
    """A browser sniffs it and renders it: unrewritten, its trackers ran with no banner."""
    plan = get(engine, **request_headers).response(200, [("Content-Length", "99")])
    assert plan.body is not None
    names = {k.lower() for k, _ in plan.headers}
    assert not names & {"content-type", "x-content-type-options", "content-length"}
    page = b"".join(plan.body.feed(c) for c in chunks) + plan.body.close()
    assert b'type="text/plain"' in page and b"data-consent-src" in page
    assert b'id="consentproxy"' in page


@pytest.mark.parametrize("body", [b"GIF89a\x01\x00<script src=//t.example/x.js>", b"", b" "])
def test_an_untyped_body_that_is_no_page_goes_on_as_it_came(engine, body):
    plan = get(engine, Sec_Fetch_Dest="document").response(200, [])
    assert plan.body.feed(body[:3]) + b"".join(plan.body.sliced(body[3:], True)) == body
    plan = get(engine, Sec_Fetch_Dest="document").response(200, [])
    assert plan.body.feed(body) + plan.body.close() == body


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize(
    ("body", "page"),
    [(UNTYPED_PAGE, True), (b"GIF89a\x01\x00<script src=//t.example/x.js>", False)],
)
def test_a_coded_body_sent_without_a_type_is_sniffed_decoded_and_goes_on_decoded(
    engine, body, page, chunked
):
    """A browser decodes a gzip body before it sniffs it: an untyped gzip page was passed on
    unrewritten, its trackers ran with no banner. It now goes on decoded (the headers go
    first, before the sniff can tell): rewritten if it is a page, else as it came."""
    plan = get(engine, Sec_Fetch_Dest="document").response(200, [("Content-Encoding", "gzip")])
    assert plan.body is not None and header(plan.headers, "content-encoding") is None
    sent = gzip.compress(body)
    pieces = [sent[:9], sent[9:]] if chunked else [sent]
    out = b"".join(
        b"".join(plan.body.sliced(p, i == len(pieces) - 1)) for i, p in enumerate(pieces)
    )
    if page:
        assert b'type="text/plain"' in out and b'id="consentproxy"' in out
    else:
        assert out == body


@pytest.mark.parametrize("coding", [None, "gzip"])
@pytest.mark.parametrize("lang", [b"", b" lang=fr"])
def test_a_page_all_at_hand_comes_out_as_fed_then_closed(engine, monkeypatch, coding, lang):
    """BodyTransform.sliced(page, True) (the whole page at once, serve's usual case: the
    output joined once) gives what feed then close give, bytes and report: the banner in the
    page's language, the trackers neutralised, counted and reported once."""
    monkeypatch.setattr("consentproxy.engine.new_mark", lambda: "m" * 24)
    page = (
        b"<!doctype html><html" + lang + b"><head><title>t</title></head><body>"
        b"<iframe src=https://www.youtube.com/embed/x></iframe><p>hi</p></body></html>"
    )
    origin = HTML + ([("Content-Encoding", coding)] if coding else [])
    sent = gzip.compress(page) if coding else page
    outs, reports = [], []
    for whole in (True, False):
        ex = get(engine, Accept_Encoding="gzip" if coding else "identity")
        body = ex.response(200, origin).body
        out = b"".join(body.sliced(sent, True)) if whole else body.feed(sent) + body.close()
        outs.append(gzip.decompress(out) if coding else out)
        reports.append((ex.report.neutralised, ex.report.banner, ex.report.rewrite_bytes))
    assert outs[0] == outs[1] and reports[0] == reports[1]
    assert b'id="consentproxy"' in outs[0] and reports[0][0] == [("youtube", "iframe")]
    assert (b'lang="fr"' in outs[0]) == bool(lang)


def test_a_page_all_at_hand_comes_out_in_pieces_its_long_runs_not_copied(engine, monkeypatch):
    """sliced() hands serve the rewriter's pieces as they are: the page's long runs are Spans
    of the bytes that came (serve writes them scattered), not copied into one bytes by a join
    (~110 K instructions of a 100 KB page's ~2,280 K); joined, they are what feed and close
    give."""
    from consentproxy.rewrite._skip import Span

    monkeypatch.setattr("consentproxy.engine.new_mark", lambda: "m" * 24)
    page = b"<!doctype html><html><head></head><body>" + b"<p>hello</p>" * 100 + b"</body></html>"
    pieces = get(engine).response(200, HTML).body.sliced(page, True)
    body = get(engine).response(200, HTML).body
    assert Span in {type(piece) for piece in pieces}
    assert b"".join(pieces) == body.feed(page) + body.close()


@pytest.mark.parametrize("coding", [None, "gzip"])
def test_a_page_rewritten_a_slice_at_a_time_comes_out_as_at_once(engine, monkeypatch, coding):
    """`sliced` then more() while pending (serve lets other requests run between two) give
    the bytes and the report of feed then close: the banner once, the trackers held once each."""
    from consentproxy import body

    monkeypatch.setattr("consentproxy.engine.new_mark", lambda: "m" * 24)
    monkeypatch.setattr(body, "SLICE_BYTES", (1024, 4096))
    page = (
        b"<!doctype html><html lang=fr><body>"
        + b"<p>x</p><iframe src=https://www.youtube.com/embed/x></iframe>" * 2000
        + b"</body></html>"
    )
    origin = HTML + ([("Content-Encoding", coding)] if coding else [])
    sent = gzip.compress(page) if coding else page
    outs, reports = [], []
    for sliced in (True, False):
        ex = get(engine, Accept_Encoding="gzip" if coding else "identity")
        transform = ex.response(200, origin).body
        pieces = [
            b"".join(transform.sliced(sent, True))
            if sliced
            else transform.feed(sent) + transform.close()
        ]
        while transform.pending:
            pieces.append(b"".join(transform.more()))
        out = b"".join(pieces)
        outs.append(gzip.decompress(out) if coding else out)
        reports.append((len(ex.report.neutralised), ex.report.banner, len(pieces) > 20))
    assert outs[0] == outs[1] and b'lang="fr"' in outs[0]
    assert reports == [(2000, True, True), (2000, True, False)]


def test_a_page_whose_rewriting_takes_too_long_is_cut(engine, monkeypatch):
    """Its markup made the rewriter crawl, at every other visitor's cost."""
    from consentproxy import body
    from consentproxy.rewrite.encoding import BodyError

    monkeypatch.setattr(body, "MAX_REWRITE_SECONDS", 0.0)
    transform = get(engine).response(200, HTML).body
    with pytest.raises(BodyError, match="rewriting it took over"):
        transform.sliced(b"<!doctype html><p>x</p>", True)


CODED = {
    "gzip": lambda b: gzip.compress(b, 1),
    "deflate": lambda b: zlib.compress(b, 1),
    "br": lambda b: brotli.compress(b, quality=1),
    "zstd": lambda b: zstandard.ZstdCompressor(level=1).compress(b),
    "gzip, br": lambda b: brotli.compress(gzip.compress(b, 1), quality=1),
}
UNCODED = {
    "gzip": gzip.decompress,
    "deflate": zlib.decompress,
    "br": brotli.decompress,
    "zstd": lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b),
    None: lambda b: b,
}


def _through(transform, pieces, sliced):
    """The body's pieces through a transform, as serve (sliced, then more() while
    pending) or the addon (feed, then close) take them."""
    out = []
    for i, piece in enumerate(pieces):
        if sliced:
            out.extend(transform.sliced(piece, i == len(pieces) - 1))
            while transform.pending:
                out.extend(transform.more())
        else:
            out.append(transform.feed(piece))
    if not sliced or not pieces:
        out.append(transform.close())
    return b"".join(out)


@pytest.mark.parametrize("sliced", [True, False])
@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_a_compressed_read_is_never_held_decoded_whole(engine, coding, sliced):
    """A read of 90 KB of gzip that decodes to 30 MiB was decoded whole and held while it
    was rewritten a slice at a time: ~60 MB a request, and as many times that as requests
    in parallel (8: 57 -> 329 MB of RSS). It is now decoded a step at a time."""
    lines = (30 << 20) // 19
    page = b"<!doctype html><body>" + b"<p>hello world</p>\n" * lines + b"</body>"
    sent = CODED[coding](page)
    ex = get(engine, Accept_Encoding=coding)
    transform = ex.response(200, [*HTML, ("Content-Encoding", coding)]).body
    tracemalloc.start()
    try:
        out = _through(transform, [sent], sliced)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < len(sent) + (4 << 20), peak  # (it was over 30 MiB)
    assert UNCODED[coding](out).count(b"<p>hello world</p>\n") == lines


@pytest.mark.parametrize("coding", list(CODED))
def test_a_compressed_page_comes_out_as_uncompressed_whatever_its_reads(
    engine, monkeypatch, coding
):
    """Decoded a step at a time, fed whole or in any pieces, sliced or not (small steps and
    slices here): the page is rewritten to what the same page sent uncompressed gives."""
    from consentproxy import body

    monkeypatch.setattr("consentproxy.engine.new_mark", lambda: "m" * 24)
    page = (
        b"<!doctype html><html lang=fr><body>"
        + b"<p>x</p><iframe src=https://www.youtube.com/embed/x></iframe>\n" * 20000
        + bytes(range(256)) * 300
        + b"<script src=https://www.google-analytics.com/ga.js></script></body></html>"
    )
    ex = get(engine, Accept_Encoding="identity")
    expected = _through(ex.response(200, HTML).body, [page], False)
    assert b'id="consentproxy"' in expected and expected.count(b"data-consent-src") > 20000
    sent = CODED[coding](page)
    for slices in [(1 << 14, 1 << 18), (1024, 4096)]:
        monkeypatch.setattr(body, "SLICE_BYTES", slices)
        for size in [len(sent), 1, 7, 4096, 65536]:
            pieces = [sent[i : i + size] for i in range(0, len(sent), size)]
            for sliced in (True, False):
                if size == 1 and slices[0] == 1024:
                    continue  # (slow, and nothing the others do not show)
                ex = get(engine, Accept_Encoding="gzip, deflate, br, zstd")
                plan = ex.response(200, [*HTML, ("Content-Encoding", coding)])
                out = _through(plan.body, pieces, sliced)
                out = UNCODED[header(plan.headers, "content-encoding")](out)
                assert out == expected, (slices, size, sliced)


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_a_first_read_that_cannot_be_decoded_fails_before_anything_goes_out(engine, coding):
    """(serve answers a 502 then): a bomb over limits.html_bytes, or a corrupt body, even
    past the first step of what the read decodes to."""
    from consentproxy.rewrite.encoding import BodyError

    good = b"<!doctype html><body>" + b"<p>hello world</p>\n" * 100_000  # 1.9 MB
    for sent, why in [
        (CODED[coding](good * 20), "html_bytes"),
        (CODED[coding](good)[:-20] + b"\xff" * 20, ""),
    ]:
        small = engine.config.limits.html_bytes < len(good) * 20
        assert small or why == ""
        transform = (
            get(engine, Accept_Encoding=coding)
            .response(200, [*HTML, ("Content-Encoding", coding)])
            .body
        )
        with pytest.raises(BodyError, match=why or None):
            transform.sliced(sent, True)
