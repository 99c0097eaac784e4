from consentproxy.httpheaders import end_to_end, end_to_end_pairs, named


def test_end_to_end_pairs_are_end_to_end_named_and_the_headers_own_tuples_when_none_is_hop_by_hop():
    plain = [("Content-Type", "text/html"), ("X-Te", "1"), ("Set-Cookie", "a=1"), ("TE-X", "2")]
    pairs = end_to_end_pairs(plain, [k.lower() for k, _ in plain])
    assert pairs == [(lk, (k, v)) for lk, k, v in end_to_end(named(plain))]
    assert [lk for lk, _ in pairs] == ["content-type", "x-te", "set-cookie", "te-x"]
    assert all(kv is h for (_, kv), h in zip(pairs, plain, strict=True))  # no copies made


def test_end_to_end_pairs_drop_hop_by_hop_headers_and_those_a_later_connection_header_lists():
    headers = [
        ("X-Secret", "s"),
        ("Keep-Alive", "timeout=5"),
        ("Content-Length", "3"),
        ("Transfer-Encoding", "chunked"),
        ("Connection", "keep-alive, X-SECRET"),
        ("Set-Cookie", "a=1"),
    ]
    pairs = end_to_end_pairs(headers, [k.lower() for k, _ in headers])
    assert pairs == [
        ("content-length", ("Content-Length", "3")),
        ("set-cookie", ("Set-Cookie", "a=1")),
    ]
    assert pairs == [(lk, (k, v)) for lk, k, v in end_to_end(named(headers))]
