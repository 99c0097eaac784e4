"""What operators watch: Prometheus metrics and one JSON access-log line per request.

Fed once per finished request from the engine's Report, by the adapter. The log holds
no personal data: no IP, no query string, no cookie values; only what the proxy did.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from consentproxy.engine import Engine, Report

access_log = logging.getLogger("consentproxy.access")


class Telemetry:
    def __init__(self, engine: Callable[[], Engine], registry: CollectorRegistry | None = None,
                 log_requests: bool = True):
        """engine: the engine in use now (a reload swaps it)."""
        self.engine = engine
        self.log_requests = log_requests
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter("consentproxy_requests", "Requests answered, by status",
                                ["status"], registry=r)
        self.upstream = Histogram("consentproxy_upstream_seconds",
                                  "Time until the origin's response headers", registry=r,
                                  buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
        self.rewrite_bytes = Counter("consentproxy_rewrite_bytes", "HTML bytes rewritten",
                                     registry=r)
        self.rewrite_seconds = Counter("consentproxy_rewrite_seconds",
                                       "CPU time spent rewriting HTML", registry=r)
        self.neutralised = Counter("consentproxy_neutralised_elements",
                                   "Elements neutralised, by service", ["service"], registry=r)
        self.stripped = Counter("consentproxy_set_cookies_stripped",
                                "Set-Cookie headers dropped, by category", ["category"],
                                registry=r)
        self.decisions = Counter("consentproxy_consent_decisions",
                                 "Consent choices, by action", ["action"], registry=r)
        Gauge("consentproxy_records_queue_depth", "Decisions waiting to be recorded",
              registry=r).set_function(lambda: self._writer_value("queue"))
        Gauge("consentproxy_records_dropped", "Decisions that could not be recorded",
              registry=r).set_function(lambda: self._writer_value("dropped"))

    def _writer_value(self, what: str) -> float:
        writer = self.engine().records
        if writer is None:
            return 0.0
        return float(writer.queue.qsize() if what == "queue" else writer.dropped)

    def request_done(self, method: str, path: str, status: int, seconds: float,
                     sent: int, report: Report) -> None:
        self.requests.labels(str(status)).inc()
        if report.upstream_seconds:
            self.upstream.observe(report.upstream_seconds)
        if report.rewrite_bytes:
            self.rewrite_bytes.inc(report.rewrite_bytes)
            self.rewrite_seconds.inc(report.rewrite_seconds)
        for service, _tag in report.neutralised:
            self.neutralised.labels(service).inc()
        policy = self.engine().policy
        for name in report.set_cookies_dropped:
            self.stripped.labels(policy.cookie_category(name) or "unknown").inc()
        if report.decision:
            self.decisions.labels(report.decision).inc()
        if self.log_requests:
            access_log.info(json.dumps({
                "time": round(time.time(), 3), "method": method,
                "path": path.split("?")[0], "status": status,
                "ms": round(seconds * 1000, 1),
                "upstream_ms": round(report.upstream_seconds * 1000, 1), "bytes": sent,
                "consent": report.state, "neutralised": sorted({s for s, _ in report.neutralised}),
                "set_cookies_stripped": report.set_cookies_dropped,
                "request_cookies_stripped": report.request_cookies_dropped,
                "banner": report.banner, "decision": report.decision or None,
            }, separators=(",", ":")))

    def scrape(self) -> bytes:
        return generate_latest(self.registry)
