import pytest

from consentproxy.rewrite.mimesniff import SNIFF_BYTES, sniffs_as_html


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
    assert sniffs_as_html(head, complete=True) is True
    assert sniffs_as_html(head, complete=False) is True


@pytest.mark.parametrize(
    "head",
    [
        b"GIF89a\x01\x00",
        b"%PDF-1.4",
        b'{"a": 1}',
        b"<?xml version='1.0'?><html>",  # XML, sniffed as such
        b"<pre>x",  # not among the patterns: text
        b"<bx>",  # <b> only before a space or '>'
        b"\xef\xbb\xbf<html>",  # a byte order mark: text
        b"\xff\xfe<\x00h\x00",
        b"",
        b" " * SNIFF_BYTES + b"<html>",
    ],
)
def test_what_it_does_not(head):
    assert sniffs_as_html(head, complete=True) is False


def test_a_start_that_may_still_become_html_waits_for_more():
    assert sniffs_as_html(b"  <ht", complete=False) is None
    assert sniffs_as_html(b"  <ht", complete=True) is False
    assert sniffs_as_html(b"<!doctype", complete=False) is None
    assert sniffs_as_html(b"<!doctype htmlx", complete=False) is False


def test_a_vertical_tab_before_the_first_tag_is_skipped_as_chromium_skips_it():
    """(Chromium's sniffer trims with base::TrimWhitespaceASCII, which holds \\v)"""
    assert sniffs_as_html(b"\x0b\x0c <html><body>", True) is True
