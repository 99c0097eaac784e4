import os
from dataclasses import replace

import pytest

from consentproxy.config import ConfigError
from consentproxy.consent import (
    MAX_COOKIE_LEN,
    NO_DECISION,
    Signer,
    describe_state,
    keys_from_env,
    parse_state,
)

NOW = 1_800_000_000.0


@pytest.fixture
def signer() -> Signer:
    return Signer([b"k" * 32], max_age_days=182, revision=3)


def test_cookie_round_trips(signer):
    state = signer.decide({"analytics"}, {"youtube"}, NOW)
    back = signer.decode(signer.encode(state), NOW + 60)
    assert back == state and back.decided and back.revision == 3


def test_refusal_is_a_decision_too(signer):
    state = signer.decide(set(), set(), NOW)
    back = signer.decode(signer.encode(state), NOW)
    assert back.decided and not back.categories
    assert not back.allows("analytics")


def test_expired_consent_is_no_decision(signer):
    value = signer.encode(signer.decide({"analytics"}, set(), NOW))
    assert signer.decode(value, NOW + 182 * 86400 - 1).decided
    assert signer.decode(value, NOW + 182 * 86400 + 1) == NO_DECISION


def test_a_cookie_already_verified_is_judged_on_its_age_at_every_request(signer):
    value = signer.encode(signer.decide({"analytics"}, set(), NOW))
    assert signer.decode(value, NOW).decided  # verified, and remembered as such
    assert signer.decode(value, NOW + 182 * 86400 + 1) == NO_DECISION
    assert signer.decode(value, NOW - 86400) == NO_DECISION  # from the future then
    assert signer.decode(value, NOW + 60).decided
    other = value[:-2] + ("BB" if value.endswith("AA") else "AA")  # (1 in 4,096 ended so)
    assert signer.decode(other, NOW) == NO_DECISION  # another value: verified


def test_a_newer_revision_asks_again_and_grants_nothing_meanwhile(signer):
    """The operator bumps the revision to ask everyone again: the choice made under the old
    policy is no consent to the new one."""
    value = signer.encode(signer.decide({"analytics"}, {"youtube"}, NOW))
    later = Signer([b"k" * 32], 182, revision=4).decode(value, NOW)
    assert later.decided and later.reask
    assert later.categories == set() and later.services == set()
    assert not signer.decode(value, NOW).reask


def test_a_cookie_from_a_future_revision_is_no_decision(signer):
    value = signer.encode(signer.decide({"analytics"}, set(), NOW))
    assert Signer([b"k" * 32], 182, revision=2).decode(value, NOW) == NO_DECISION


def test_a_category_whose_services_changed_is_asked_again_and_not_applied():
    before = Signer([b"k" * 32], 182, 1, {"analytics": "aaaaaa", "social": "bbbbbb"})
    value = before.encode(before.decide({"analytics", "social"}, set(), NOW))
    after = Signer([b"k" * 32], 182, 1, {"analytics": "aaaaaa", "social": "cccccc"})
    state = after.decode(value, NOW)
    assert state.decided and state.reask and state.categories == {"analytics"}


def test_category_digests_follow_the_services_of_each_category(config):
    from dataclasses import replace

    from consentproxy.consent import category_digests
    from consentproxy.policy import Policy

    digests = category_digests(Policy(config).services_in)
    fewer = replace(config, services=tuple(s for s in config.services if s.name != "youtube"))
    changed = category_digests(Policy(fewer).services_in)
    youtube = next(s for s in config.services if s.name == "youtube")
    assert changed[youtube.category] != digests[youtube.category]
    assert all(changed[c] == digests[c] for c in digests if c != youtube.category)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda v: v.replace("analytics", "social"),
        lambda v: v[:-1] + ("A" if v[-1] != "A" else "B"),
        lambda v: v[: len(v) // 2],
        lambda v: "",
        lambda v: v + "x" * 2000,
        lambda v: "garbage",
    ],
)
def test_tampered_or_unreadable_cookie_is_no_decision(signer, mangle):
    value = signer.encode(signer.decide({"analytics"}, set(), NOW))
    assert signer.decode(mangle(value), NOW) == NO_DECISION


def test_decision_from_the_future_is_forged(signer):
    value = signer.encode(signer.decide({"analytics"}, set(), NOW + 86400))
    assert signer.decode(value, NOW) == NO_DECISION


def test_key_rotation_accepts_the_previous_key(signer):
    value = signer.encode(signer.decide({"analytics"}, set(), NOW))
    rotated = Signer([b"n" * 32, b"k" * 32], 182, 3)
    assert rotated.decode(value, NOW).decided
    assert Signer([b"n" * 32], 182, 3).decode(value, NOW) == NO_DECISION


def test_changing_ones_mind_keeps_the_pseudonymous_id(signer):
    first = signer.decide({"analytics"}, set(), NOW)
    second = signer.decide(set(), set(), NOW + 5, previous=first)
    assert second.consent_id == first.consent_id
    assert signer.decide(set(), set(), NOW).consent_id != first.consent_id


def test_keys_come_from_the_environment():
    assert keys_from_env("S", {"S": "new-key, old-key"}) == [b"new-key", b"old-key"]
    assert keys_from_env("S", {}) == []
    latin1 = b"cl\xe9-secr\xe8te-0123456789"  # (as the environment holds it: not UTF-8)
    assert keys_from_env("S", {"S": os.fsdecode(latin1)}) == [latin1]


@pytest.mark.parametrize(
    ("spec", "decided", "categories", "services"),
    [
        ("none", False, set(), set()),
        ("reject", True, set(), set()),
        ("all", True, {"analytics", "advertising", "social"}, set()),
        ("analytics", True, {"analytics"}, set()),
        ("analytics, social", True, {"analytics", "social"}, set()),
        ("service:youtube,service:hotjar", True, set(), {"youtube", "hotjar"}),
        ("necessary,service:youtube", True, set(), {"youtube"}),
    ],
)
def test_forced_states_are_parsed_against_the_config(config, spec, decided, categories, services):
    state = parse_state(spec, config)
    assert (state.decided, state.categories, state.services) == (decided, categories, services)


@pytest.mark.parametrize("spec", ["", "cookie"])
def test_an_empty_or_cookie_state_follows_the_cookie(config, spec):
    assert parse_state(spec, config) is None


@pytest.mark.parametrize(
    ("spec", "bad"),
    [
        ("analytcs", "'analytcs'"),
        ("analytics,service:youtub", "'service:youtub'"),
        ("vendor:youtube", "'vendor:youtube'"),
    ],
)
def test_a_bad_state_names_the_item_and_the_valid_ones(config, spec, bad):
    with pytest.raises(ConfigError) as e:
        parse_state(spec, config, "--state")
    message = str(e.value)
    assert message.startswith(f"--state: {bad} in {spec!r} is no category or service")
    assert "analytics, advertising, social" in message and "youtube" in message


@pytest.mark.parametrize(
    ("spec", "hint"),
    [
        ("analytcs", "(did you mean 'analytics'?)"),
        ("analytics,service:youtub", "(did you mean 'service:youtube'?)"),
        ("rejcet", "(did you mean 'reject'?)"),
        ("al", "(did you mean 'all'?)"),
        ("nothing-like-it", None),
    ],
)
def test_a_misspelt_state_item_gets_the_close_name(config, spec, hint):
    """The config's keys and categories say 'did you mean'; a --state, --states or
    X-Consent-State typo gets the same hint (one helper, config.did_you_mean)."""
    with pytest.raises(ConfigError) as e:
        parse_state(spec, config, "--state")
    assert (hint in str(e.value)) if hint else "did you mean" not in str(e.value)


@pytest.mark.parametrize("spec", ["none", "reject", "analytics,social,service:youtube"])
def test_describe_state_is_the_inverse_of_parse_state(config, spec):
    assert describe_state(parse_state(spec, config)) == spec


def test_a_choice_too_long_is_narrowed_in_two_encodes_dropping_the_fewest_last_names(
    signer, monkeypatch
):
    """fitting dropped one service at a time, encoding and signing each time: a choice of
    450 services took 33-59 ms of the event loop, 2,000 took 1.6 s. The cut is now counted:
    two encodes, and the same services kept (the last in name order dropped, no more)."""
    signs: list[str] = []
    real = signer.sign
    monkeypatch.setattr(signer, "sign", lambda payload: signs.append(payload) or real(payload))
    many = {f"vendor-service-{i:04d}" for i in range(2000)}
    for services in (many, set(), {"a"}, {"b" * 990}, {"a" * 480, "b" * 480}, {"a" * 960}):
        state = signer.decide({"analytics"}, services, NOW)
        signs.clear()
        fitted, value = signer.fitting(state)
        assert len(signs) <= 2
        assert value == signer.encode(fitted) and len(value) <= MAX_COOKIE_LEN
        kept, names = sorted(fitted.services), sorted(services)
        assert fitted.categories == state.categories and kept == names[: len(kept)]
        if kept != names:  # (one name more would not fit)
            one_more = frozenset(names[: len(kept) + 1])
            assert len(signer.encode(replace(fitted, services=one_more))) > MAX_COOKIE_LEN
