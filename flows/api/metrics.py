"""`GET /metrics` in Prometheus' text format: requests and latency by endpoint, games scored by
the version that scored them, the versions served, open alerts, and how old the last daily run's
predictions and the online store are. One registry per app (several apps in one process, as in
the tests, never share counters)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from gameline.tasks.config import StatePaths
from gameline.tasks.monitoring.alerts import read_alerts
from gameline.tasks.records import PREDICTIONS, RecordStore

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


def _age_s(path: Path) -> float:
    """Seconds since a file was last written (NaN: never written)."""
    return time.time() - path.stat().st_mtime if path.exists() else float("nan")


def _record_age_s(records: RecordStore, name: str) -> float:
    """Seconds since a record was last written (NaN: never written)."""
    written = records.written_at(name)
    return float("nan") if written is None else time.time() - written


class ApiMetrics:
    """The API's metrics; `observe` is the middleware, `scrape` the endpoint's body."""

    def __init__(
        self,
        paths: StatePaths,
        records: RecordStore,
        versions: Callable[[], dict[str, str | None]],
    ) -> None:
        self.registry = CollectorRegistry()
        self.versions = versions
        reg = self.registry
        self.requests = Counter(
            "gameline_api_requests",
            "HTTP requests by endpoint (its route), method and status",
            ["endpoint", "method", "status"],
            registry=reg,
        )
        self.latency = Histogram(
            "gameline_api_request_seconds",
            "Time to answer a request, by endpoint",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.scored = Counter(
            "gameline_api_games_scored",
            "Games answered on request, by the version that scored them and its alias",
            ["model_version", "alias"],
            registry=reg,
        )
        self.served = Gauge(
            "gameline_served_model_version",
            "The registered version the API serves for each alias (0: none)",
            ["alias"],
            registry=reg,
        )
        Gauge("gameline_open_alerts", "Alerts the monitor has open", registry=reg).set_function(
            lambda: sum(not a.resolved for a in read_alerts(records))
        )
        Gauge(
            "gameline_last_predictions_age_seconds",
            "Seconds since the batch predict stage last wrote (the end of the last daily run)",
            registry=reg,
        ).set_function(lambda: _record_age_s(records, PREDICTIONS))
        Gauge(
            "gameline_online_store_age_seconds",
            "Seconds since the online store was last materialized",
            registry=reg,
        ).set_function(lambda: _age_s(paths.online_watermark))

    def count_scores(self, champion: str, challenger: str | None, games: int) -> None:
        self.scored.labels(champion, "champion").inc(games)
        if challenger:
            self.scored.labels(challenger, "challenger").inc(games)

    async def observe(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        endpoint = getattr(route, "path", None) or "other"  # templates: few label values
        self.latency.labels(endpoint).observe(time.perf_counter() - started)
        self.requests.labels(endpoint, request.method, str(response.status_code)).inc()
        return response

    def scrape(self) -> Response:
        for alias, version in self.versions().items():
            self.served.labels(alias).set(float(version) if version else 0.0)
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def instrument(app: FastAPI, metrics: ApiMetrics) -> None:
    app.middleware("http")(metrics.observe)
