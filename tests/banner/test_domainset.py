import json
import random

from consentproxy.banner import domainset


def test_every_encoded_name_is_found_after_decoding():
    names = {f"tracker{i}.example{i % 7}.com" for i in range(3000)}
    span, code = domainset.encode(names)
    values = domainset.decode(span, code)
    assert all(domainset.contains(values, span, n) for n in names)


def test_names_not_encoded_are_rarely_found():
    names = [f"tracker{i}.example.com" for i in range(3000)]
    span, code = domainset.encode(names)
    values = domainset.decode(span, code)
    rng = random.Random(16)
    others = [f"other{rng.random()}.example.org" for _ in range(50_000)]
    false = sum(domainset.contains(values, span, n) for n in others)
    assert false <= 3 * len(others) / 2**domainset.BITS + 3, false


def test_the_code_costs_about_bits_plus_two_per_name():
    names = [f"t{i}.example.net" for i in range(4000)]
    _, code = domainset.encode(names)
    raw_bits = len(code.partition("~")[0]) * 6
    assert raw_bits / len(names) <= domainset.BITS + 2.5


def test_the_code_is_written_in_digits_json_keeps_as_they_are():
    """Six bits a character of DIGITS (the characters minified code uses most: gzip codes
    both with one table), none escaped in JSON, then the count."""
    assert len(set(domainset.DIGITS)) == 64
    _, code = domainset.encode(f"t{i}.example.net" for i in range(500))
    data, _, count = code.rpartition("~")
    assert set(data) <= set(domainset.DIGITS) and count == "500"
    assert json.dumps(code) == f'"{code}"'


def test_an_empty_set_finds_nothing():
    span, code = domainset.encode([])
    assert not domainset.contains(domainset.decode(span, code), span, "a.example")


def test_the_guards_decoder_reads_as_many_bits_as_the_encoder_writes():
    from consentproxy.banner.render import asset

    guard = asset("guard.js").decode()
    assert f"j < {domainset.BITS}; j++) r = r * 2 + bit()" in guard
    assert f"last += q * {2**domainset.BITS} + r" in guard


def test_a_name_under_a_parent_of_its_own_set_is_left_out_and_no_other():
    """The guard takes the most specific listed name: a child in its parent's set changes no
    lookup (each costs consent.js ~2.7 bytes), one in another set, or the parent's own, does."""
    sets = {
        "advertising": ["lockerdome.com", "cdn2.lockerdome.com", "ads.social.example"],
        "social": ["social.example", "a.b.social.example", "b.social.example"],
        "": ["x.social.example"],
    }
    assert domainset.most_specific(sets) == {
        "advertising": ["lockerdome.com", "ads.social.example"],
        "social": ["social.example"],
        "": ["x.social.example"],
    }
