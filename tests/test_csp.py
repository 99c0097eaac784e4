from consentproxy import csp
from consentproxy.csp import admit_injected, header, host_sources
from tests.counting import lines_run

OWN = "https://shop.example/.consent/"


def test_nonce_policy_gets_our_nonce_and_endpoints_nothing_else():
    value = "script-src 'nonce-site' 'strict-dynamic'; style-src 'self'; object-src 'none'"
    assert admit_injected(value, "N", OWN) == (
        "script-src 'nonce-site' 'strict-dynamic' 'nonce-N'; style-src 'self' 'nonce-N'; "
        "object-src 'none'"
    )


def test_unsafe_inline_is_never_switched_off_by_a_nonce():
    value = "script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'"
    assert admit_injected(value, "N", OWN) == (
        f"script-src 'self' 'unsafe-inline' {OWN}; style-src 'unsafe-inline'"
    )


def test_what_falls_back_to_default_src_gets_a_directive_of_its_own():
    """(helper-101: default-src 'none' took the nonce and the endpoints, and with them every
    directive falling back to it did: frames, objects, workers, fonts, media)"""
    assert admit_injected("default-src 'none'", "N", OWN) == (
        f"default-src 'none'; script-src 'nonce-N'; style-src 'nonce-N'; connect-src {OWN}; "
        f"frame-src {OWN}"
    )
    assert admit_injected("default-src 'self' 'unsafe-inline'; img-src *", "N", OWN) == (
        f"default-src 'self' 'unsafe-inline'; img-src *; script-src 'self' 'unsafe-inline' "
        f"{OWN}; connect-src 'self' 'unsafe-inline' {OWN}; frame-src 'self' 'unsafe-inline' {OWN}"
    )


def test_fetch_and_form_posts_to_our_endpoints_are_allowed():
    value = "connect-src 'none'; form-action 'self'"
    assert admit_injected(value, "N", OWN) == f"connect-src {OWN}; form-action 'self' {OWN}"


def test_policies_without_relevant_directives_are_untouched():
    assert admit_injected("frame-ancestors 'none'", "N", OWN) == "frame-ancestors 'none'"
    assert admit_injected("img-src *, script-src 'none'", "N", OWN) == (
        "img-src *, script-src 'nonce-N'"
    )


def test_own_policy_lists_consented_hosts_as_prefixes():
    name, value = header("enforce", ["www.youtube.com", "www.google.com/maps"], [])
    assert name == "Content-Security-Policy"
    assert "www.google.com/maps/" in value and "www.youtube.com" in value
    assert header("off", [], []) is None


def test_own_policy_reports_violations_to_the_proxy():
    _, value = header("report-only", ["www.youtube.com"], [], "/.consent/csp-report")
    assert value.endswith("; report-uri /.consent/csp-report")
    assert "report-uri" not in header("enforce", [], [])[1]


def test_the_origins_frame_src_lets_in_only_the_proxys_frame_documents():
    assert admit_injected("frame-src https://www.youtube.com", "N", OWN) == (
        f"frame-src https://www.youtube.com {OWN}"
    )
    assert admit_injected("child-src 'none'", "N", OWN) == f"child-src 'none'; frame-src {OWN}"


def test_the_frame_document_frames_its_service_and_nothing_else():
    from consentproxy.csp import frame_header

    value = frame_header(["www.youtube.com", "*.ytimg.com", "www.google.com/maps"])
    assert value.startswith(
        "default-src 'none'; frame-src *.ytimg.com www.google.com/maps "
        "www.google.com/maps/ www.youtube.com;"
    )
    assert "frame-ancestors 'self'" in value and "script-src" not in value
    assert "'self'" not in value.split("frame-ancestors")[0]  # frames nothing of the site


def test_only_ascii_whitespace_separates_tokens_as_in_browsers():
    """A no-break space is part of a token (CSP 3): split there, `script-src\xa0'self'`,
    which browsers ignore, became an enforced script-src that blocked the site's inline
    scripts; and `'self'\xa0https://t` one source, two."""
    assert admit_injected("script-src\xa0'self'", "N", OWN) == "script-src\xa0'self'"
    assert admit_injected("script-src 'self'\u2028https://t", "N", OWN) == (
        "script-src 'self'\u2028https://t 'nonce-N'"
    )
    assert admit_injected("script-src\t'self' ;\fstyle-src 'none'", "N", OWN) == (
        "script-src 'self' 'nonce-N'; style-src 'nonce-N'"
    )


def test_known_trackers_met_are_listed_first_met_first_within_the_bound():
    from consentproxy.csp import MAX_VALUE

    met = [f"t{i:04}.tracker-{i}.example" for i in range(2000)]
    _, value = header("enforce", ["www.youtube.com"], ["cdn.site.example"], "/r", met)
    assert len(value) <= MAX_VALUE
    listed = value.split()
    assert "www.youtube.com" in listed and "cdn.site.example" in listed
    kept = [h for h in met if h in listed]
    assert len(kept) > 100 and kept == met[: len(kept)]  # the first met, none skipped
    # what the operator configured is never dropped, however long
    many = [f"h{i}.operator.example" for i in range(1000)]
    _, value = header("enforce", [], many, "", met)
    assert set(many) <= set(value.split()) and not set(met) & set(value.split())


def test_a_report_uri_to_a_held_host_is_dropped_and_the_rest_kept_as_it_came():
    def held(url: str) -> bool:
        return "facebook.com" in url

    value = "img-src 'none'; report-uri /r https://www.facebook.com/tr, default-src 'self'"
    assert csp.without_reports_to(value, held) == "img-src 'none';report-uri /r, default-src 'self'"
    assert csp.without_reports_to("REPORT-URI\thttps://www.facebook.com/tr", held) == ""
    untouched = "default-src 'self'; report-uri /r"
    assert csp.without_reports_to(untouched, held) is untouched


def test_a_star_in_a_hosts_path_allows_the_path_before_it():
    """CSP has no wildcard inside a path: "host/*/sdk.js" is allowed as "host/" (the guard
    and the rewriter still tell its paths apart)."""
    assert host_sources(["connect.facebook.net/*/sdk.js", "www.google.com/maps"]) == [
        "connect.facebook.net/",
        "www.google.com/maps",
        "www.google.com/maps/",
    ]


def test_which_held_scripts_may_come_back_in_place_under_the_origin_s_policy():
    """('strict-dynamic' where script elements are governed: consent.js bringing back a held
    <script> would run it whatever its nonce, so only one with the origin's nonce comes
    back; Trusted Types: consent.js could not, none does; any other policy: all do)"""
    cases = {
        "script-src 'nonce-a' 'strict-dynamic'": {"a"},
        "default-src 'self'; SCRIPT-SRC 'sha256-x' 'Strict-Dynamic'": set(),
        "default-src 'nonce-a' 'nonce-b' 'strict-dynamic'; img-src *": {"a", "b"},
        "img-src 'self', script-src-elem 'nonce-a' 'strict-dynamic'": {"a"},  # (2nd policy)
        "script-src 'nonce-a' 'nonce-b' 'strict-dynamic', script-src 'nonce-b' 'strict-dynamic'": {
            "b"
        },  # (both policies must allow it)
        "script-src 'nonce-a' 'strict-dynamic'; require-trusted-types-for 'script'": set(),
        "script-src 'nonce-a'": None,
        "script-src-elem 'nonce-a'; script-src 'nonce-a' 'strict-dynamic'": None,  # (elem)
        "script-src 'self'; script-src 'strict-dynamic'": None,  # (the first counts)
        "default-src 'self'; script-src 'self'; style-src 'strict-dynamic'": None,
        "": None,
    }
    for value, kept in cases.items():
        assert csp.scripts_back_in_place(value) == (None if kept is None else frozenset(kept))


def test_a_policy_repeated_gets_the_proxy_s_sources_once():
    """(a hostile origin's 7.8 KB header of one policy 400 times came out as 32 KB)"""
    value = ", ".join(["default-src 'none'"] * 400 + ["img-src 'self'"])
    assert admit_injected(value, "N", OWN) == (
        f"default-src 'none'; script-src 'nonce-N'; style-src 'nonce-N'; connect-src {OWN}; "
        f"frame-src {OWN}, img-src 'self'"
    )


def test_a_value_of_thousands_of_policies_is_passed_on_as_it_came():
    """Thousands of small distinct policies each gained four directives: a 64 KB line went
    out as 2.9 MB (helper-111), past any browser's head. Empty ones enforce nothing."""
    value = ",".join(f"default-src h{i}.example" for i in range(3000))
    assert admit_injected(value, "N", OWN) == value
    few = ",".join(f"default-src h{i}.example" for i in range(3))
    assert admit_injected(few, "N", OWN).count("'nonce-N'") == 6
    assert admit_injected("," * 65000 + "img-src 'self'", "N", OWN) == "img-src 'self'"
    assert csp.scripts_back_in_place("," * 65000 + "script-src 'strict-dynamic'") == frozenset()


def test_a_policy_of_thousands_of_directives_is_read_in_a_few_passes():
    """Each directive split, stripped and lowered on its own: 64 KB of `a;` held serve's loop
    0.2 s a line, four a head (helper-242). The lines of csp.py run are counted: a hundred
    times the directives cost a few more passes (each halving a run), not a line each."""

    def value(n: int) -> str:
        return "a;" * n + " SCRIPT-src\t'none' ;; 'unsafe-inline' ; " + "b c;" * (n // 2)

    def dynamic(n: int) -> str:
        return "a;" * n + "script-src 'Strict-Dynamic' 'nonce-x' 'NONCE-y';" + "b;" * 100

    def read(n: int) -> tuple[str, frozenset[str] | None]:
        return admit_injected(value(n), "N", OWN), csp.scripts_back_in_place(dynamic(n))

    few = lines_run(csp, lambda: read(5_000))
    results: list[tuple[str, frozenset[str] | None]] = []
    many = lines_run(csp, lambda: results.append(read(500_000)))
    assert many < few + 50, (few, many)
    admitted, kept = results[0]
    expected = ["a"] * 500_000 + ["SCRIPT-src 'nonce-N'", "'unsafe-inline'"] + ["b c"] * 250_000
    assert admitted == "; ".join(expected)
    assert kept == frozenset({"x", "y"})


def test_spaces_and_empty_directives_go_as_browsers_read_them():
    value = " default-src\t'none' ;; ;script-src  a\n'NONE' 'self' ; ;img-src\x0ca ;"
    assert admit_injected(value, "N", OWN) == (
        "default-src 'none'; script-src a 'self' 'nonce-N'; img-src a; style-src 'nonce-N'; "
        f"connect-src {OWN}; frame-src {OWN}"
    )


def test_more_than_max_policies_go_as_they_came():
    many = ",".join(f"default-src h{i}.example" for i in range(csp.MAX_POLICIES + 1))
    assert admit_injected(many, "N", OWN) == many
    assert csp.scripts_back_in_place(many) == frozenset()
    fewer = many.rsplit(",", 1)[0]
    assert admit_injected(fewer, "N", OWN).count("'nonce-N'") == 2 * csp.MAX_POLICIES
    assert csp.scripts_back_in_place(fewer) is None


def test_a_report_uri_repeated_is_asked_about_once():
    """Each URL of a report-uri was looked up as often as it came: 200,000 times for one
    URL (helper-242); once now (a directive left with none goes, as before)."""
    asked: list[str] = []

    def held(url: str) -> bool:
        asked.append(url)
        return url.endswith("tracker.example/r")

    value = "img-src 'self'; report-uri " + "https://tracker.example/r " * 200_000 + "/r"
    assert csp.without_reports_to(value, held) == "img-src 'self';report-uri /r"
    assert asked == ["https://tracker.example/r", "/r"]


def test_report_uri_directives_past_a_bound_are_dropped_unread():
    """Each report-uri directive was split and its URLs asked about: four 64 KiB lines of
    distinct ones held serve's loop 0.1 s (helper-247). A browser reads a policy's first
    alone (CSP 3: a directive repeated is ignored), sites send one: the first
    MAX_REPORT_DIRECTIVES distinct ones are read, the rest dropped unread (reports go to none
    of them); a directive repeated is read once."""
    asked: list[str] = []

    def held(url: str) -> bool:
        asked.append(url)
        return False

    directives = [f"report-uri /r{i}" for i in range(1_000)]
    value = "img-src 'self'; " + "; ".join(directives * 2)
    kept = csp.without_reports_to(value, held)
    assert asked == [f"/r{i}" for i in range(csp.MAX_REPORT_DIRECTIVES)]
    read = directives[: csp.MAX_REPORT_DIRECTIVES]
    assert kept == "img-src 'self'; " + "; ".join(read * 2)
