"""What was done to one exchange (report.Report): one line for people, a dict for machines."""

import json

from consentproxy.report import Report, grown


def test_a_report_says_each_thing_done_once_in_one_line():
    report = Report(
        state="analytics",
        state_from="forced",
        request_cookies_dropped=["_fbp"],
        set_cookies_dropped=["_fbp", "_fbp"],  # (a name set twice is said once)
        cookies_capped=["_ga"],
        neutralised=[("youtube", "iframe")],
        banner=True,
    )
    assert report.summary() == (
        "consent analytics (forced); request cookies stripped: _fbp; Set-Cookie dropped: _fbp; "
        "lifetime capped: _ga; neutralised: youtube <iframe>; banner injected"
    )
    assert Report().summary() == "consent none (cookie)"
    assert json.loads(json.dumps(report.as_dict()))["neutralised"] == [["youtube", "iframe"]]


def test_a_reports_lists_grow_in_place_once_made():
    """Linear in a hostile origin's thousands of Set-Cookie lines: the same list extended,
    not copied each time (the empty tuple default becomes a list once)."""
    report = Report()
    first = report.set_cookies_dropped = grown(report.set_cookies_dropped, ["a"])
    assert grown(first, ["b"]) is first and first == ["a", "b"]
    assert Report().set_cookies_dropped == ()  # (the default is never shared and grown)
