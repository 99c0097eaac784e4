"""The scanner agrees with the HTML standard on where tags start and end.

The html5lib-tests tokenizer data is not copied here (its repository's content stays out of
this one); instead its tokenizer edge cases (test1-4.test, escapeFlag.test,
contentModelFlags.test, cdataSection.test: abrupt and nested comments, `--!>`, bogus
comments, `</>`, `<>`, attributes with odd separators and quotes, RCDATA/RAWTEXT/script
escapes, CDATA in and outside foreign content, EOF inside a tag) are written below as fragments,
and html5lib, whose tokenizer passes that suite, is the judge: any mix of fragments,
chunked anyhow, must leave no live tracker and change nothing but the tracker tags.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.adversarial.oracle import events, live_trackers, rewrite

GA = "https://www.google-analytics.com/a.js"
FRAGMENTS = [
    # comments (test1.test, test3.test)
    "<!---->",
    "<!-->",
    "<!--->",
    "<!-- --!>",
    "<!-- <!-- nested -->",
    "<!-- --comment -->",
    "<!-- x --x>",
    "<!--",
    "-->",
    "--!>",
    "<!-",
    "<!DOC>",
    "<!DOCTYPE html>",
    "<?xml ?>",
    "<![CDATA[ x ]]>",
    "<![CDATA[",
    "]]>",
    "</>",
    "<>",
    "< p>",
    "</ p>",
    "</3>",
    "<3",
    # tags and attributes (test1.test, test2.test)
    "<h a='b'c='d'>",
    "<h a=b/>",
    "<a a=f<>",
    "<s o=& t>",
    "<p =x>",
    '<p "a>',
    "<p a='>'>",
    '<p a=">">',
    "<p a=`x`>",
    "</p a='>'>",
    "<img/src=x>",
    "<br/>",
    # raw text, RCDATA and script data (contentModelFlags.test, escapeFlag.test)
    "<xmp>",
    "</xmp>",
    "<title>",
    "</title>",
    "<textarea>",
    "</textarea>",
    "<style>",
    "</style>",
    "<noembed>",
    "</noembed>",
    "<noframes>",
    "</noframes>",
    "<iframe>",
    "</iframe>",
    "<script>",
    "</script>",
    "<script><!--",
    "<script><!--<script>",
    "</script >",
    "</script/>",
    "</scripts>",
    "<noscript>",
    "</noscript>",
    "<plaintext>",
    # foreign content (tests/adversarial/test_evasion.py FOREIGN): breakouts, integration
    # points, CDATA sections, self-closing and end tags
    "<svg>",
    "</svg>",
    "<math>",
    "</math>",
    "<svg/>",
    "<math/>",
    "<foreignObject>",
    "</foreignObject>",
    "<desc>",
    "</desc>",
    "<mi>",
    "</mi>",
    "<mtext>",
    "<mglyph>",
    "<annotation-xml encoding=text/html>",
    "<annotation-xml>",
    "</annotation-xml>",
    "<g>",
    "</g>",
    "<g/>",
    "<g a=b/>",
    "<path d='M0'/>",
    "<path></path>",
    "<b>",
    "</b>",
    "<font color=red>",
    "<font>",
    "</p>",
    "</br>",
    "<p>",
    "<div>",
    "</div>",
    # text
    "x",
    " ",
    "\n",
    "&amp;",
    "&lt;",
    "'",
    '"',
    "=",
    "/",
    ">",
    "<",
    # trackers
    f"<script src={GA}></script>",
    f"<SCRIPT\nSRC='{GA}'>",
    f"<img src={GA}>",
    f"<iframe src='{GA}'></iframe>",
    f"<svg><script href={GA}></script></svg>",
    f"<link rel=preload href={GA}>",
    # CSS inside <style> (and outside it, as text): loads, escapes, comments, strings
    f"@import url({GA});",
    f"@import '{GA}';",
    f"p{{background:url({GA})}}",
    f'p{{background:URL(  "{GA}" )}}',
    f"\\75 rl({GA})",
    f"u\\rl({GA})",
    "url(https:\\2f\\2fwww.google-analytics.com/x)",
    f"image-set('{GA}' 1x)",
    f"-webkit-image-set(url({GA}) 1x)",
    f"ur/**/l({GA})",
    "url(/local.png)",
    "/*",
    "*/",
    "p{",
    "}",
    ";",
    "\n",
    "<!--url(",
    "x)",
]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts=st.lists(st.sampled_from(FRAGMENTS), max_size=14), chunk=st.integers(0, 40))
def test_scanner_tags_are_the_standards_tags(parts, chunk):
    data = "".join(parts).encode()
    out = rewrite(data, chunk)
    assert live_trackers(out) == []
    assert list(events(out)) == list(events(data))
