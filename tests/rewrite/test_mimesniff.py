import pytest

from consentproxy.rewrite.mimesniff import HTML, SNIFF_BYTES, XML, sniffed_type


@pytest.mark.parametrize(
    "head",
    [
        b"<!DOCTYPE html><p>x",
        b"\n\t <html lang=en>",
        b"<HEAD>",
        b"<script>x()</script>",
        b"<p>x",
        b"<b>x",
        b"<!-- x -->",
        b"<a href=/>",
        b"<Div class=x>",
    ],
)
def test_what_a_browser_renders_as_html(head):
    assert sniffed_type(head, complete=True) == HTML
    assert sniffed_type(head, complete=False) == HTML


@pytest.mark.parametrize(
    "head",
    [
        b"GIF89a\x01\x00",
        b"%PDF-1.4",
        b'{"a": 1}',
        b"<pre>x",  # not among the patterns: text
        b"<bx>",  # <b> only before a space or '>'
        b"\xef\xbb\xbf<html>",  # a byte order mark: text
        b"\xff\xfe<\x00h\x00",
        b"",
        b" " * SNIFF_BYTES + b"<html>",
    ],
)
def test_what_it_does_not(head):
    assert sniffed_type(head, complete=True) == ""


@pytest.mark.parametrize("head", [b"<?xml version='1.0'?><html>", b"\n <?xml", b"<?xml"])
def test_an_xml_declaration_is_xml_whose_xhtml_scripts_a_browser_runs(head):
    """(Chromium's kSniffableTags: `<?xml` is text/xml, matched in its case only)"""
    assert sniffed_type(head, complete=True) == XML
    assert sniffed_type(b"<?XML version='1.0'?>", complete=True) == ""


def test_a_start_that_may_still_become_html_waits_for_more():
    assert sniffed_type(b"  <ht", complete=False) is None
    assert sniffed_type(b"  <ht", complete=True) == ""
    assert sniffed_type(b"<!doctype", complete=False) is None
    assert sniffed_type(b"<!doctype htmlx", complete=False) == ""
    assert sniffed_type(b" <?xm", complete=False) is None


def test_a_vertical_tab_before_the_first_tag_is_skipped_as_chromium_skips_it():
    """(Chromium's sniffer trims with base::TrimWhitespaceASCII, which holds \\v)"""
    assert sniffed_type(b"\x0b\x0c <html><body>", True) == HTML
