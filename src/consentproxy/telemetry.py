"""What operators watch: Prometheus metrics and one JSON access-log line per request.

Fed once per finished request from the engine's Report, by the adapter. The log holds
no personal data: no IP, no query string, no cookie values; only what the proxy did.
Both cost a few microseconds a request: metrics are plain counts, turned into Prometheus'
exposition only when scraped, and log lines are written in batches (a write per request
cost as much as a tenth of a passthrough's whole request, bench/RESULTS.md). Finished
requests are counted and their lines made in batches too (COUNT_BATCH, and at each flush
and scrape): the same work, in a loop whose code stays in the CPU's caches.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import select
import time
from collections.abc import Callable, Iterator, Sequence
from operator import itemgetter
from typing import Any, TextIO

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from consentproxy.adapter import (
    C_LOOP,
    Engine,
    Report,
    access_json,
    access_line,
    package_version,
)

ACCESS_LOG_BATCH = 256  # lines; the adapter also flushes every FLUSH_SECONDS
FLUSH_SECONDS = 1.0
# At most this much in one write: what the system writes to a pipe whole (serve's workers
# share stderr; a 64 KB batch of one was cut by another's lines, mid-line).
ATOMIC_WRITE = select.PIPE_BUF

log = logging.getLogger("consentproxy")
# Finished requests counted and logged together (and at each flush and scrape).
COUNT_BATCH = 64
# The services' counts a response's neutralised elements add, kept by the services seen (a
# site's pages block the same few, in the same order): at most this many, of at most
# SERVICES_SEEN elements each (a longer list is counted as it is).
SERVICES_KEPT = 256
SERVICES_SEEN = 64


class AccessLog:
    """JSON lines, one per request, kept until flush() or ACCESS_LOG_BATCH of them."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.lines: list[bytes] = []  # UTF-8, decoded together at flush()

    def add(self, line: dict[str, object]) -> None:
        self.lines.append(access_json(line))
        if len(self.lines) >= ACCESS_LOG_BATCH:
            self.flush()

    def flush(self) -> None:
        """The lines kept, in writes of whole lines of at most ATOMIC_WRITE bytes each."""
        if not self.lines:
            return
        lines, self.lines = self.lines, []
        chunk: list[bytes] = []
        size = 0
        for line in lines:
            if chunk and size + len(line) + 1 > ATOMIC_WRITE:
                self._write(chunk)
                chunk, size = [], 0
            chunk.append(line)
            size += len(line) + 1
        self._write(chunk)

    def _write(self, lines: list[bytes]) -> None:
        self.stream.write(b"\n".join(lines).decode() + "\n")
        self.stream.flush()


UPSTREAM_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class _Counts(dict[Any, float]):
    """A counter's values by label values, and when each was first counted (Prometheus'
    _created)."""

    def __init__(self, name: str, help: str, labels: tuple[str, ...]):
        super().__init__()
        self.name, self.help, self.labels = name, help, labels
        self.created: dict[Any, float] = {}

    def __missing__(self, key: Any) -> float:
        self.created[key] = time.time()
        return 0.0

    def family(self) -> CounterMetricFamily:
        family = CounterMetricFamily(self.name, self.help, labels=self.labels)
        for key, value in self.items():
            family.add_metric(
                key if isinstance(key, tuple) else (key,), value, created=self.created[key]
            )
        return family


class Telemetry:
    """Plain counts per request (no lock, no registry lookup: `serve` answers on one event
    loop per worker), turned into the Prometheus exposition when /metrics is scraped."""

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
        self.created = time.time()
        self.by_status = _Counts(
            "consentproxy_requests", "Requests answered, by status", ("status",)
        )
        # Upstream seconds: a count per bucket (not cumulative; the last one over the top).
        self.upstream = [0] * (len(UPSTREAM_BUCKETS) + 1)
        self.upstream_sum = 0.0
        self.rewrite_bytes = 0
        self.rewrite_seconds = 0.0
        self.by_service = _Counts(
            "consentproxy_neutralised_elements",
            "Elements neutralised, by service (unknown third parties: other)",
            ("service",),
        )
        self.by_category = _Counts(
            "consentproxy_set_cookies_stripped",
            "Set-Cookie headers dropped, by category",
            ("category",),
        )
        self.by_action = _Counts(
            "consentproxy_consent_decisions", "Consent choices, by action", ("action",)
        )
        self.csp_violations = _Counts(
            "consentproxy_csp_violations",
            "CSP violations browsers reported, by directive "
            "and blocked host (in report-only mode: what enforce would block)",
            ("directive", "host"),
        )
        self.impressions = 0
        self.by_outcome = _Counts(
            "consentproxy_banner_outcomes",
            "Answers to the first layer: accept-all, "
            "reject-all, customise (a choice made in the preferences), close",
            ("outcome",),
        )
        self.answers = _Counts(
            "consentproxy_category_answers",
            "Each decision's answer for each optional "
            "category: granted or refused (opt-in rate: granted / both)",
            ("category", "answer"),
        )
        # SIGHUP reloads, applied or refused (the running config stays): a refused one was
        # in the log alone, which no alert reads.
        self.reloads = _Counts(
            "consentproxy_config_reloads",
            "Config reloads, by result: applied, refused",
            ("result",),
        )
        # (method, path, status, seconds, bytes sent, report, time.time() at the end)
        self.finished: list[tuple[str, str, int, float, int, Report, float]] = []
        # (see SERVICES_KEPT) the policy they were named by, and the counts by services seen
        self.services_policy: object = None
        self.services_counts: dict[tuple[str, ...], dict[str, int]] = {}
        self.registry.register(self)

    def _by_service(self, neutralised: Sequence[tuple[str, str]]) -> dict[str, int]:
        """The counts neutralised elements add, by service: named only if a service of the
        config or a tracker of the knowledge base (an unknown third party is named after
        its domain, which the page chooses, and each would be a series of its own for good),
        else "other". Kept by the services seen (see SERVICES_KEPT), not looked up element by
        element on every response."""
        policy = self.engine().policy
        kept = self.services_counts
        if policy is not self.services_policy:  # (a reload: names may have changed)
            self.services_policy = policy
            kept.clear()
        services = tuple(map(itemgetter(0), neutralised))
        if (counts := kept.get(services)) is not None:
            return counts
        counts = {}
        known = policy.knowledge.names
        for service in services:
            label = service if service in policy.services or service in known else "other"
            counts[label] = counts.get(label, 0) + 1
        if len(services) <= SERVICES_SEEN:
            if len(kept) >= SERVICES_KEPT:
                kept.clear()
            kept[services] = counts
        return counts

    def _writer_value(self, what: str) -> float:
        writer = self.engine().records
        if writer is None:
            return 0.0
        if what == "queue":
            return float(writer.queued())
        return float(writer.dropped + self.engine().endpoints.recorded.refused)

    def request_done(
        self, method: str, path: str, status: int, seconds: float, sent: int, report: Report
    ) -> None:
        """Kept, to be counted and logged with others (settle): done in a batch, the
        counting code and its data stay in the CPU's caches; done per request, the bodies
        copied in between evict them, and it cost 2-3 times as much (bench/RESULTS.md)."""
        finished = self.finished
        finished.append((method, path, status, seconds, sent, report, time.time()))
        if len(finished) >= COUNT_BATCH:
            self.settle()

    def settle(self) -> None:
        """Count and log the requests finished since the last time."""
        finished, self.finished = self.finished, []
        for request in finished:
            try:
                self._count(*request)
            except Exception:  # (one request's odd report loses no other's)
                path = request[1].partition("?")[0][:200]  # (no query: the visitor's)
                log.exception("%s %s: not counted or logged", request[0], path)

    def flush(self) -> None:
        """Every finished request counted, and the access log written out."""
        self.settle()
        if self.access_log is not None:
            self.access_log.flush()

    def _count(
        self,
        method: str,
        path: str,
        status: int,
        seconds: float,
        sent: int,
        report: Report,
        ended: float,
    ) -> None:
        self.by_status[str(status)] += 1
        if report.upstream_seconds:
            self.upstream[bisect.bisect_left(UPSTREAM_BUCKETS, report.upstream_seconds)] += 1
            self.upstream_sum += report.upstream_seconds
        if report.rewrite_bytes:
            self.rewrite_bytes += report.rewrite_bytes
            self.rewrite_seconds += report.rewrite_seconds
        if report.neutralised:
            for label, count in self._by_service(report.neutralised).items():
                self.by_service[label] += count
        if report.set_cookies_dropped:
            policy = self.engine().policy
            for name in report.set_cookies_dropped:
                self.by_category[policy.cookie_category(name) or "unknown"] += 1
        if report.decision:
            self.by_action[report.decision] += 1
            if report.outcome:
                self.by_outcome[report.outcome] += 1
            for answer, names in (
                ("granted", report.categories_granted),
                ("refused", report.categories_refused),
            ):
                for name in names:  # the config's categories: bounded
                    self.answers[name, answer] += 1
        if report.impression:
            self.impressions += 1
        for violation in report.csp_violations:  # labels bounded by the endpoint
            self.csp_violations[violation] += 1
        if self.access_log is not None:
            self.access_log.add(access_line(method, path, status, seconds, sent, report, ended))

    def collect(self) -> Iterator[Metric]:
        """The exposition of the counts (the registry calls this at each scrape)."""
        self.settle()
        yield self.by_status.family()
        upstream = HistogramMetricFamily(
            "consentproxy_upstream_seconds", "Time until the origin's response headers"
        )
        cumulative = list(itertools.accumulate(self.upstream))
        upstream.add_metric(
            [],
            [(str(float(b)), c) for b, c in zip(UPSTREAM_BUCKETS, cumulative, strict=False)]
            + [("+Inf", cumulative[-1])],
            self.upstream_sum,
        )
        upstream.add_sample("consentproxy_upstream_seconds_created", {}, self.created)
        yield upstream
        for name, help, value in (
            ("consentproxy_rewrite_bytes", "HTML bytes rewritten", self.rewrite_bytes),
            ("consentproxy_rewrite_seconds", "CPU time spent rewriting HTML", self.rewrite_seconds),
        ):
            yield CounterMetricFamily(name, help, value, created=self.created)
        yield from (c.family() for c in (self.by_service, self.by_category, self.by_action))
        yield self.csp_violations.family()
        yield CounterMetricFamily(
            "consentproxy_banner_impressions",
            "Pages that showed the banner's first layer "
            "(no choice yet, or asked again; not prefetches, not forced states)",
            self.impressions,
            created=self.created,
        )
        yield from (c.family() for c in (self.by_outcome, self.answers, self.reloads))
        info = GaugeMetricFamily(
            "consentproxy_build_info",
            "The running version, and whether the rewriter's C loop is built (no: 4-11x slower)",
            labels=("version", "c_loop"),
        )
        info.add_metric([package_version(), "yes" if C_LOOP else "no"], 1)
        yield info
        yield GaugeMetricFamily(
            "consentproxy_records_queue_depth",
            "Decisions waiting to be recorded",
            self._writer_value("queue"),
        )
        yield GaugeMetricFamily(
            "consentproxy_records_dropped",
            "Decisions that could not be recorded (the store failing, or past an address's "
            "rate: endpoints.RECORDS_PER_SECOND)",
            self._writer_value("dropped"),
        )

    def scrape(self) -> bytes:
        return generate_latest(self.registry)
