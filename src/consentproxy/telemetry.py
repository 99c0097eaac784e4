"""What operators watch: Prometheus metrics and one JSON access-log line per request.

Fed once per finished request from the engine's Report, by the adapter. The log holds
no personal data: no IP, no query string, no cookie values; only what the proxy did.
Both cost a few microseconds a request: metric children are looked up once, and log lines
are written in batches (a write per request cost as much as a tenth of a passthrough's
whole request, bench/RESULTS.md).
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any, TextIO

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from consentproxy.adapter import Engine, Report, access_line

ACCESS_LOG_BATCH = 256  # lines; the adapter also flushes every FLUSH_SECONDS
FLUSH_SECONDS = 1.0


class AccessLog:
    """JSON lines, one per request, kept until flush() or ACCESS_LOG_BATCH of them."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.lines: list[str] = []

    def add(self, line: dict[str, object]) -> None:
        self.lines.append(orjson.dumps(line).decode())
        if len(self.lines) >= ACCESS_LOG_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.lines:
            lines, self.lines = self.lines, []
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()


class _Children(dict[str, Any]):
    """A labelled metric's children by label value, looked up in the registry once."""

    def __init__(self, metric: Counter):
        super().__init__()
        self.metric = metric

    def __missing__(self, value: str) -> Any:
        child = self[value] = self.metric.labels(value)
        return child


class Telemetry:
    def __init__(
        self,
        engine: Callable[[], Engine],
        access_log: AccessLog | None = None,
        registry: CollectorRegistry | None = None,
    ):
        """engine: the engine in use now (a reload swaps it)."""
        self.engine = engine
        self.access_log = access_log
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "consentproxy_requests", "Requests answered, by status", ["status"], registry=r
        )
        self.upstream = Histogram(
            "consentproxy_upstream_seconds",
            "Time until the origin's response headers",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.rewrite_bytes = Counter(
            "consentproxy_rewrite_bytes", "HTML bytes rewritten", registry=r
        )
        self.rewrite_seconds = Counter(
            "consentproxy_rewrite_seconds", "CPU time spent rewriting HTML", registry=r
        )
        self.neutralised = Counter(
            "consentproxy_neutralised_elements",
            "Elements neutralised, by service",
            ["service"],
            registry=r,
        )
        self.stripped = Counter(
            "consentproxy_set_cookies_stripped",
            "Set-Cookie headers dropped, by category",
            ["category"],
            registry=r,
        )
        self.decisions = Counter(
            "consentproxy_consent_decisions", "Consent choices, by action", ["action"], registry=r
        )
        self.csp_violations = Counter(
            "consentproxy_csp_violations",
            "CSP violations browsers reported, by directive "
            "and blocked host (in report-only mode: what enforce would block)",
            ["directive", "host"],
            registry=r,
        )
        self.impressions = Counter(
            "consentproxy_banner_impressions",
            "Pages that showed the banner's first layer "
            "(no choice yet, or asked again; not prefetches, not forced states)",
            registry=r,
        )
        self.outcomes = Counter(
            "consentproxy_banner_outcomes",
            "Answers to the first layer: accept-all, "
            "reject-all, customise (a choice made in the preferences), close",
            ["outcome"],
            registry=r,
        )
        self.answers = Counter(
            "consentproxy_category_answers",
            "Each decision's answer for each optional "
            "category: granted or refused (opt-in rate: granted / both)",
            ["category", "answer"],
            registry=r,
        )
        self.by_status, self.by_service, self.by_category, self.by_action, self.by_outcome = (
            _Children(m)
            for m in (self.requests, self.neutralised, self.stripped, self.decisions, self.outcomes)
        )
        Gauge(
            "consentproxy_records_queue_depth", "Decisions waiting to be recorded", registry=r
        ).set_function(lambda: self._writer_value("queue"))
        Gauge(
            "consentproxy_records_dropped", "Decisions that could not be recorded", registry=r
        ).set_function(lambda: self._writer_value("dropped"))

    def _writer_value(self, what: str) -> float:
        writer = self.engine().records
        if writer is None:
            return 0.0
        return float(writer.queued() if what == "queue" else writer.dropped)

    def request_done(
        self, method: str, path: str, status: int, seconds: float, sent: int, report: Report
    ) -> None:
        self.by_status[str(status)].inc()
        if report.upstream_seconds:
            self.upstream.observe(report.upstream_seconds)
        if report.rewrite_bytes:
            self.rewrite_bytes.inc(report.rewrite_bytes)
            self.rewrite_seconds.inc(report.rewrite_seconds)
        if report.neutralised:
            services = collections.Counter(service for service, _tag in report.neutralised)
            for service, count in services.items():
                self.by_service[service].inc(count)
        if report.set_cookies_dropped:
            policy = self.engine().policy
            for name in report.set_cookies_dropped:
                self.by_category[policy.cookie_category(name) or "unknown"].inc()
        if report.decision:
            self.by_action[report.decision].inc()
            if report.outcome:
                self.by_outcome[report.outcome].inc()
            for answer, names in (
                ("granted", report.categories_granted),
                ("refused", report.categories_refused),
            ):
                for name in names:  # the config's categories: bounded
                    self.answers.labels(name, answer).inc()
        if report.impression:
            self.impressions.inc()
        for directive, host in report.csp_violations:  # labels bounded by the endpoint
            self.csp_violations.labels(directive, host).inc()
        if self.access_log is not None:
            self.access_log.add(access_line(method, path, status, seconds, sent, report))

    def scrape(self) -> bytes:
        return generate_latest(self.registry)
