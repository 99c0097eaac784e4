"""Fuzzing the parsers a hostile page or visitor reaches: the rewriter, the Set-Cookie parser
and the consent cookie decoder. Short in `make test`; `make fuzz` runs them for long
(FUZZ_EXAMPLES). Properties: no exception, and the rewriter loses or reorders no byte
outside the tags it neutralises."""

from __future__ import annotations

import os
import re

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from consentproxy.consent import NO_DECISION, Signer
from consentproxy.cookies import capped, cookie_pairs, lifetime, set_cookie_name
from tests.adversarial.oracle import rewrite
from tests.rewrite.test_scanner import UTF16_BOMS

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TOKENS = [
    b"<",
    b">",
    b"/",
    b"!",
    b"-",
    b"=",
    b"'",
    b'"',
    b" ",
    b"\n",
    b"\t",
    b"&#x2F;",
    b"script",
    b"SCRIPT",
    b"img",
    b"iframe",
    b"svg",
    b"style",
    b"xmp",
    b"textarea",
    b"title",
    b"body",
    b"meta",
    b"base",
    b"plaintext",
    b"<!--",
    b"-->",
    b"--!>",
    b"src",
    b"href",
    b"srcdoc",
    b"http-equiv=refresh",
    b"content=",
    b"url=",
    b"//www.google-analytics.com/a.js",
    b"https://www.facebook.com/tr",
    b"gtag(",
    b"document.write(",
    b"\xc3\xa9",
    b"\xff",
]
# What neutralising adds to a tag (the response's mark too); removing it (and lower-casing,
# since renamed attributes are written in lower case) must give back the input.
ADDED = re.compile(
    rb'(?: type="text/plain")? data-consent-blocked="[^"]*" '
    rb'data-consent-blocked-category="[^"]*"(?: data-consent-mark="[^"]*")?'
    rb"|data-(?:site-)?consent-",
    re.IGNORECASE,
)
pages = st.lists(st.sampled_from(TOKENS) | st.binary(max_size=4), max_size=60).map(b"".join)


@FUZZ
@given(page=pages, chunk=st.integers(0, 17))
def test_rewriter_loses_no_byte_outside_neutralised_tags(page, chunk):
    assume(page[:2] not in UTF16_BOMS)  # (read as UTF-16, written as UTF-8)
    out = rewrite(page, chunk)
    assert ADDED.sub(b"", out).lower() == ADDED.sub(b"", page).lower()
    assert out == rewrite(page)


@FUZZ
@given(st.text())
def test_set_cookie_parser_never_fails(value):
    name = set_cookie_name(value)
    assert "=" not in name
    out = capped(value, 86400, 1_800_000_000.0)
    assert out.split(";")[0] == value.split(";")[0]
    lifetime(value, 1_800_000_000.0)
    cookie_pairs(value)


SIGNER = Signer([b"k" * 32], 365, 3, {"analytics": "abc123"})
VALID = SIGNER.encode(SIGNER.decide(["analytics"], ["youtube"], 1_800_000_000.0))


@FUZZ
@given(
    st.text()
    | st.builds(
        lambda i, c: VALID[:i] + c + VALID[i + 1 :], st.integers(0, len(VALID) - 1), st.characters()
    )
)
def test_consent_decoder_never_fails_and_a_changed_cookie_proves_nothing(value):
    state = SIGNER.decode(value, 1_800_000_000.0)
    assert state == NO_DECISION or value == VALID
