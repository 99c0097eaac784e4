from consentproxy import domains
from consentproxy.domains import MAX_HOST_NAME, registrable


def test_a_host_longer_than_a_dns_name_is_read_but_never_remembered():
    """Page-given hosts reach registrable: the memo keeps none over MAX_HOST_NAME bytes."""
    before = domains._registrable.cache_info().currsize
    for i in range(3):
        assert registrable(f"{i}{'a' * 300_000}.Example.CO.UK.") == "example.co.uk"
    assert domains._registrable.cache_info().currsize == before
    assert registrable("www.example.co.uk") == "example.co.uk"
    assert registrable("a" * MAX_HOST_NAME) == "a" * MAX_HOST_NAME
