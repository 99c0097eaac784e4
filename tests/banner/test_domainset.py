import json
import random

import pytest

from consentproxy.banner import domainset

# Four keys of tracker-like names, as the knowledge base's categories come (one far larger).
SETS = {
    "advertising": [f"ads{i}.example{i % 7}.com" for i in range(2000)],
    "analytics": [f"stats{i}.example.net" for i in range(700)],
    "social": [f"share{i}.example.org" for i in range(150)],
    "": [f"cdn{i}.example.io" for i in range(300)],
}


def test_every_encoded_name_is_found_after_decoding_with_its_key():
    table = domainset.encode(SETS)
    values = domainset.decode(*table)
    for key, names in SETS.items():
        assert all(domainset.key_of(values, table[0], n) == key for n in names), key


def test_names_of_two_keys_never_share_a_value():
    """A value two keys' names share would send one of them to the other's category (the
    demo's adzly.com, advertising, waited for analytics): the span moves on until none do."""
    span = (2 << domainset.BITS) // 2  # two names, two keys
    value = domainset.fnv1a("ads.example") % span
    other = next(
        n for n in (f"stats{i}.example" for i in range(10**6)) if domainset.fnv1a(n) % span == value
    )
    table = domainset.encode({"advertising": ["ads.example"], "analytics": [other]})
    values = domainset.decode(*table)
    assert table[0] != span
    assert domainset.key_of(values, table[0], "ads.example") == "advertising"
    assert domainset.key_of(values, table[0], other) == "analytics"


@pytest.mark.timeout(10)
def test_names_whose_hashes_are_equal_settle_on_a_category_not_on_letting_one_through():
    """Their values are equal in every span: the encoder looked for another one for ever,
    and serve never started (helper-153, with a two-line tracker list). The value goes to a
    category over the known non-trackers, else to the key with more names."""
    a, b = "t439599.example", "t622382.example"
    assert domainset.fnv1a(a) == domainset.fnv1a(b)
    for by_key, want in (
        ({"analytics": [a, "x.example"], "advertising": [b]}, "analytics"),
        ({"": [a, "x.example"], "advertising": [b]}, "advertising"),
        ({"advertising": [a], "": [b, "x.example"]}, "advertising"),
    ):
        table = domainset.encode(by_key)
        values = domainset.decode(*table)
        assert domainset.key_of(values, table[0], a) == want
        assert domainset.key_of(values, table[0], b) == want
        assert domainset.key_of(values, table[0], "x.example") == next(
            k for k, names in by_key.items() if "x.example" in names
        )


def test_names_not_encoded_are_found_as_rarely_as_in_one_set_a_key():
    table = domainset.encode(SETS)
    values = domainset.decode(*table)
    rng = random.Random(16)
    others = [f"other{rng.random()}.example.org" for _ in range(50_000)]
    false = sum(domainset.key_of(values, table[0], n) is not None for n in others)
    assert false <= 3 * len(others) * len(SETS) / 2**domainset.BITS + 3, false


def test_the_code_costs_about_bits_less_log2_keys_plus_three_per_name():
    """Five keys of the knowledge base's sizes: 12 + 1.2 bits a gap, 1.6 a key (their
    separate sets took 15 + 1.6)."""
    sets = {
        k: [f"{k}{i}.example.net" for i in range(n)]
        for k, n in (("ad", 2300), ("an", 830), ("-", 420), ("so", 140), ("", 1))
    }
    table = domainset.encode(sets)
    assert table[1] == 12
    assert len(table[4]) * 6 / sum(map(len, sets.values())) <= domainset.BITS + 1


def test_the_code_is_written_in_digits_json_keeps_as_they_are():
    """Six bits a character of DIGITS (the characters minified code uses most: gzip codes
    both with one table), none escaped in JSON."""
    assert len(set(domainset.DIGITS)) == 64
    _, _, count, keys, code = domainset.encode(SETS)
    assert set(code) <= set(domainset.DIGITS) and count == 3150
    assert keys == ["advertising", "analytics", "", "social"]  # most names first
    assert json.dumps(code) == f'"{code}"'


def test_an_empty_set_finds_nothing():
    table = domainset.encode({"advertising": []})
    assert domainset.key_of(domainset.decode(*table), table[0], "a.example") is None


def test_the_guards_decoder_reads_as_many_bits_as_the_encoder_writes():
    from consentproxy.banner.render import asset

    guard = asset("guard.js").decode()
    # [span, rice, count, keys, code]: the gap's unary quotient, its rice bits, its key's
    assert "while (bit()) r++;" in guard
    assert "for (j = 0; j < KNOWN[1]; j++) r = r * 2 + bit();" in guard
    assert "while (c < KNOWN[3].length - 1 && bit()) c++;" in guard


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


def test_a_name_the_configs_own_hosts_answer_first_is_left_out():
    """The guard asks its config's hosts (exact, then wild: every parent) before the known
    sets: a name listed both ways, or under a wild one, is never looked up there."""
    sets = {"advertising": ["ads.example", "x.ads.example", "pixel.example", "cdn.pixel.example"]}
    exact, wild = {"ads.example", "pixel.example"}, {"ads.example", "cdn.example"}
    assert domainset.unanswered(sets, exact, wild) == {
        "advertising": ["pixel.example", "cdn.pixel.example"]
    }


def test_the_demos_guard_gets_no_domain_its_services_answer_first(config):
    """doubleclick.net is Google Ads' (exact and wild): the known set leaves it out; a
    tracker no service names stays."""
    from consentproxy.banner.render import client_config
    from consentproxy.policy import Policy

    known = client_config(Policy(config))["known"]
    assert isinstance(known, tuple)
    values = domainset.decode(*known)
    assert domainset.key_of(values, known[0], "doubleclick.net") is None
    assert domainset.key_of(values, known[0], "stats.g.doubleclick.net") is None
    assert domainset.key_of(values, known[0], "adzly.com") == "advertising"
