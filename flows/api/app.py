"""`gameline api`: the pipeline over HTTP (FastAPI, served by uvicorn).

One process, the config read once. The champion and challenger are loaded once and swapped
whole when an alias moves (a promotion, a rollback): a background thread asks the registry
every `poll_seconds`, loads the new versions, then replaces the pair in one assignment, so a
request scores with the old pair or the new one, never a mix, and never waits for a load.
Games are scored by `tasks.serving.on_request`, the same rows and models as batch predict.
Writes (a retrain, a rollback) start Prefect deployment runs (`write.py`) and need a token;
`/metrics` is Prometheus' text format (`metrics.py`); `/` is the status page.
"""

from __future__ import annotations

import threading
from contextlib import asynccontextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi_offline import FastAPIOffline

from gameline.flows.api.access import Access, guard, load_tokens
from gameline.flows.api.metrics import ApiMetrics, instrument
from gameline.flows.api.write import write_router
from gameline.flows.deploy import prefect_ui
from gameline.tasks.backends import BackendUnavailable
from gameline.tasks.config import GamelineConfig, state_paths
from gameline.tasks.data.ingest import read_store
from gameline.tasks.data.sources import league_now
from gameline.tasks.features.store import TeamFeatureStore
from gameline.tasks.monitoring.alerts import read_alerts
from gameline.tasks.monitoring.triggers import read_retrains
from gameline.tasks.ops.doctor import doctor
from gameline.tasks.records import records_for
from gameline.tasks.registry.aliases import CHALLENGER, CHAMPION, recent_decisions
from gameline.tasks.registry.mlflow_registry import Registry, tracking_uri
from gameline.tasks.registry.snapshot import read_snapshot
from gameline.tasks.serving.on_request import (
    BadRequest,
    GameRequest,
    GameScore,
    Schedule,
    ScoreCache,
    UnknownTeam,
    check_requests,
    score_requests,
)
from gameline.tasks.serving.overview import Overview, days_games, overview
from gameline.tasks.serving.page import Links, PageView, status_page
from gameline.tasks.serving.predict import ServedModel, served_model, upcoming_games
from gameline.tasks.serving.predictions import (
    json_records,
    latest_predictions,
    read_predictions,
    served_results,
)
from gameline.tasks.serving.tokens import Tokens
from gameline.tasks.storage import DamagedFile

SERVING_PATH = ("state folder", "mlflow", "feast registry", "online store")  # /health's 200
MAX_BATCH = 1000


class Models:
    """The champion and challenger being served, as one pair; `refresh()` swaps in new
    versions when the aliases have moved."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.pair: tuple[ServedModel, ServedModel | None] | None = None
        self.error: str | None = "not loaded yet"
        self.checked_at: datetime | None = None

    def versions(self) -> tuple[str | None, str | None]:
        pair = self.pair
        if pair is None:
            return None, None
        return pair[0].version, pair[1].version if pair[1] else None

    def refresh(self) -> bool:
        """Load the versions behind the aliases if they differ from the served ones; True if
        the pair changed. Errors are kept (`error`) and the served pair stays as it was."""
        try:
            wanted = (
                self.registry.alias_version(CHAMPION),
                self.registry.alias_version(CHALLENGER),
            )
            self.checked_at = datetime.now().astimezone()
            if wanted[0] is None:
                self.error = f"{self.registry.model_name} has no {CHAMPION} yet"
                return False
            if wanted == self.versions():
                self.error = None
                return False
            champion = served_model(self.registry, CHAMPION)
            challenger = served_model(self.registry, CHALLENGER)
            assert champion is not None
            self.pair = (champion, challenger)  # one assignment: requests see old or new
            self.error = None
            return True
        except Exception as exc:  # the registry down: keep serving what is loaded
            self.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            return False


class GameStore:
    """The game store, read again (and prepared for requests) only when its file changes."""

    def __init__(self, config: GamelineConfig) -> None:
        self.config = config
        self.path = state_paths(config).raw_games
        self.stamp: float | None = None
        self.current: Schedule | None = None

    def schedule(self) -> Schedule:
        if not self.path.exists():
            raise HTTPException(503, f"{self.path}: no game store yet: run `gameline ingest`")
        stamp = self.path.stat().st_mtime
        current = self.current
        if current is None or stamp != self.stamp:
            current = Schedule(self.config, read_store(self.path))
            self.current, self.stamp = current, stamp  # whole: a request sees one version
        return current

    def read(self) -> pd.DataFrame:
        return self.schedule().games


class Scorer:
    """Games scored on request with the served pair, the game store and the online store, as
    batch predict scores them; answers reused while nothing they depend on has changed."""

    def __init__(self, config: GamelineConfig, models: Models, games: GameStore) -> None:
        self.config, self.models, self.games = config, models, games
        self.store = TeamFeatureStore.from_config(config)
        self.answers = ScoreCache(ttl_s=config.api.cache_seconds)
        self.watermark = state_paths(config).online_watermark
        # One game scored at a time: the schedule's frames and the online store's connection
        # are shared, and pandas builds an index's lookup table on its first use, which two
        # threads at once get wrong (a MultiIndex's `get_indexer` raises InvalidIndexError).
        self.computing = threading.Lock()

    def serving(self) -> tuple[ServedModel, ServedModel | None]:
        pair = self.models.pair
        if pair is None:
            raise HTTPException(503, f"no model to serve: {self.models.error}")
        return pair

    def score(self, requests: list[GameRequest]) -> list[GameScore]:
        """Score games as batch predict would; with the online store down, from the offline
        store (each answer says `feature_source: offline`). 404/422 for a request that cannot
        be scored, 503 without a model or a game store."""
        champion, challenger = self.serving()
        config, store = self.config, self.store
        schedule, now = self.games.schedule(), league_now(config)
        try:
            check_requests(schedule.teams, requests, now)
        except UnknownTeam as exc:
            raise HTTPException(404, str(exc)) from exc
        except BadRequest as exc:
            raise HTTPException(422, str(exc)) from exc
        depends_on = (
            champion.version,
            challenger and challenger.version,
            self.games.stamp,
            _mtime(self.watermark),
        )
        keys = [ScoreCache.key(r, depends_on) for r in requests]
        if (cached := self.answers.get(keys)) is not None:
            return [a.aged(now) for a in cached]
        with self.computing:
            if (cached := self.answers.get(keys)) is not None:  # scored while this waited
                return [a.aged(now) for a in cached]
            try:
                scored = score_requests(
                    config, store, schedule, requests, now, champion, challenger
                )
                self.answers.put(keys, scored)
            except Exception:
                if store.online_down() is None:
                    raise
                scored = score_requests(
                    config, store, schedule, requests, now, champion, challenger, offline=True
                )
        return scored

    def upcoming_requests(self) -> list[GameRequest]:
        """The next games (the predict horizon, or the next game day), as requests."""
        config = self.config
        nxt = upcoming_games(
            self.games.read(),
            league_now(config),
            config.predict.horizon_hours,
            config.league.timezone,
        )
        return [
            GameRequest(
                home=str(g.home_team),
                away=str(g.away_team),
                start_time=pd.Timestamp(g.start_time).to_pydatetime(),
                neutral=bool(g.neutral),
            )
            for g in nxt.itertuples()
        ]


def create_app(
    config: GamelineConfig, poll_seconds: float = 5.0, tokens: Tokens | None = None
) -> FastAPI:
    """The API of one config; its background thread polls the aliases every `poll_seconds`.
    `tokens`: who may write (default: from the config's environment variable or Secret block).
    ValueError for a bad token list (naming where it came from, never a token)."""
    paths = state_paths(config)
    records = records_for(config)
    registry = Registry.from_config(config)
    models = Models(registry)
    games = GameStore(config)
    scorer = Scorer(config, models, games)
    score = scorer.score
    access = Access(load_tokens(config.api) if tokens is None else tokens, config.api)
    metrics = ApiMetrics(
        paths, records, lambda: dict(zip((CHAMPION, CHALLENGER), models.versions(), strict=True))
    )
    links = ui_links(config, registry.model_name)
    stop = threading.Event()

    def poll() -> None:
        """Look at the aliases; then score the upcoming games ahead of their requests, so a
        slate's games are answered from the cache (a no-op while nothing they depend on has
        changed; a failure here is the next request's to report)."""
        while not stop.wait(poll_seconds):
            models.refresh()
            try:
                score(scorer.upcoming_requests())
            except Exception:  # reported by the requests that meet it
                continue

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> Any:
        models.refresh()
        thread = threading.Thread(target=poll, name="gameline-alias-poll", daemon=True)
        thread.start()
        yield
        stop.set()

    # FastAPIOffline: FastAPI whose /docs and /redoc take Swagger's and ReDoc's files from the
    # package, not a CDN (the pipeline's machine need not reach the internet).
    app = FastAPIOffline(
        title=f"Gameline API: {config.name}",
        version="1",
        description="Calibrated win probabilities of the config's league: scored on request, "
        "the served predictions, the models behind the aliases, live performance, alerts and "
        "retrains; a retrain or rollback started as a Prefect deployment run (with a token); "
        "Prometheus metrics at /metrics and a status page at /.",
        lifespan=lifespan,
    )
    guard(app, config.api)

    @app.exception_handler(DamagedFile)
    @app.exception_handler(BackendUnavailable)
    async def unavailable(_request: Request, exc: Exception) -> JSONResponse:
        """A state file that cannot be read, or a backend that does not answer: 503 naming
        it and what to do (the message the CLI prints), not a 500 and a traceback."""
        return JSONResponse({"detail": str(exc)}, status_code=503)

    instrument(app, metrics)
    reads = APIRouter(dependencies=[Depends(access.reader)])

    def answered(scores: list[GameScore]) -> list[GameScore]:
        """Count the games answered, by the versions that scored them."""
        for a in scores:
            metrics.count_scores(a.champion_version, a.challenger_version, 1)
        return scores

    @app.get("/health", tags=["operations"])
    def health() -> JSONResponse:
        """The doctor's probes; 200 when the serving path (state, MLflow, Feast's registry,
        the online store) works, 503 naming the failing probe otherwise."""
        checks = [c.model_dump() for c in doctor(config)]
        failing = [c for c in checks if c["status"] == "fail" and c["name"] in SERVING_PATH]
        body = {"status": "fail" if failing else "ok", "failing": failing, "checks": checks}
        return JSONResponse(body, status_code=503 if failing else 200)

    @app.get("/ready", tags=["operations"])
    def ready() -> JSONResponse:
        """200 once a champion is loaded and served; 503 with the reason before."""
        champion, challenger = models.versions()
        body = {
            "ready": champion is not None,
            "champion_version": champion,
            "challenger_version": challenger,
            "last_checked": models.checked_at.isoformat() if models.checked_at else None,
            "error": models.error,
        }
        return JSONResponse(body, status_code=200 if champion else 503)

    @reads.get("/v1/models", tags=["models"])
    def list_models() -> dict[str, Any]:
        """The versions behind the aliases, their recipes and scores, the last gate decisions."""
        champion, challenger = models.versions()
        return {
            "model_name": registry.model_name,
            "champion": _version(registry, champion) if champion else None,
            "challenger": _version(registry, challenger) if challenger else None,
            "gate_decisions": [d.model_dump(mode="json") for d in recent_decisions(records, 10)],
        }

    @reads.get("/v1/models/{version}", tags=["models"])
    def one_model(version: str) -> dict[str, Any]:
        """One registered version: its tags (recipe, scores, gate record)."""
        try:
            return _version(registry, version)
        except Exception as exc:
            raise HTTPException(404, f"{registry.model_name} has no version {version!r}") from exc

    @reads.post("/v1/predict", tags=["predictions"])
    def predict(game: GameRequest) -> GameScore:
        """One game's probability of a home win, from the online store's features: the
        champion's, the challenger's in shadow, the versions, the features' age."""
        return answered(score([game]))[0]

    @reads.post("/v1/predict/batch", tags=["predictions"])
    def predict_batch(
        batch: Annotated[list[GameRequest], Body(max_length=MAX_BATCH)],
    ) -> list[GameScore]:
        """Many games in one request (at most 1,000), in the order given."""
        if not batch:
            return []
        return answered(score(batch))

    @reads.get("/v1/games/upcoming", tags=["predictions"])
    def upcoming() -> list[GameScore]:
        """The next games (the predict horizon, or the next game day) with their probabilities,
        as the batch predict stage scores them now."""
        requests = scorer.upcoming_requests()
        return answered(score(requests)) if requests else []

    @reads.get("/v1/predictions", tags=["predictions"])
    def predictions(
        start: Annotated[date | None, Query(alias="from")] = None,
        end: Annotated[date | None, Query(alias="to")] = None,
        team: str | None = None,
    ) -> list[dict[str, Any]]:
        """The served predictions (each game's latest), with the result where the game is
        final; `from`/`to` are UTC dates of the start, inclusive."""
        table = latest_predictions(read_predictions(records))
        if table.empty:
            return []
        start_day = table["start_time"].dt.tz_convert("UTC").dt.date
        keep = pd.Series(True, index=table.index)
        if start:
            keep &= start_day >= start
        if end:
            keep &= start_day <= end
        if team:
            keep &= (table["home_team"] == team) | (table["away_team"] == team)
        chosen = table[keep]
        stored = games.read()[["game_id", "status", "home_score", "away_score"]]
        joined = chosen.merge(stored.astype({"game_id": str}), on="game_id", how="left")
        return json_records(joined)

    @reads.get("/v1/alerts", tags=["monitoring"])
    def alerts(open_only: bool = True) -> list[dict[str, Any]]:
        """The monitor's alerts (open ones unless `open_only=false`)."""
        found = read_alerts(records)
        return [a.model_dump(mode="json") for a in found if not (open_only and a.resolved)]

    @reads.get("/v1/retrains", tags=["monitoring"])
    def retrains(limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[dict[str, Any]]:
        """The latest retrain decisions of the daily runs, newest first."""
        found = read_retrains(records)
        return [d.model_dump(mode="json") for d in reversed(found[-limit:])]

    @reads.get("/v1/performance", tags=["monitoring"])
    def performance() -> Overview:
        """The champion's live performance as the last monitor run measured it (log loss
        against Elo and the backtest's promise, calibration, the sequential tests), the A/B
        arms, a reliability curve of the served games, open alerts, the last decisions."""
        return overview(config, games.read())

    @reads.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        """The status page."""
        stored = games.read() if paths.raw_games.exists() else pd.DataFrame()
        now = league_now(config)
        local = pd.Timestamp(now).tz_convert(config.league.timezone).date()
        days = [local, local + pd.Timedelta(days=1)]
        predictions = read_predictions(records)  # once, for the games and the record
        served = served_results(predictions, stored)
        snapshot = read_snapshot(records)
        view = PageView(
            title=f"Gameline: {config.name}",
            model=registry.model_name,
            now=pd.Timestamp(now).tz_convert(config.league.timezone).to_pydatetime(),
            timezone=config.league.timezone,
            games=json_records(days_games(served, days, config.league.timezone)),
            models=snapshot.models if snapshot else [],
            overview=overview(config, stored, predictions),
            links=links,
        )
        return HTMLResponse(status_page(view))

    @reads.get("/metrics", tags=["operations"])
    def prometheus() -> Response:
        """Prometheus' text format: requests and latency by endpoint, games scored by version,
        the served versions, open alerts, the age of the last predictions and online store."""
        return metrics.scrape()

    app.include_router(reads)
    app.include_router(write_router(config, access))
    return app


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return None


def ui_links(config: GamelineConfig, model: str) -> Links:
    """The Prefect UI of the server in PREFECT_API_URL; MLflow's UI when it is a server."""
    uri = tracking_uri(config)
    served = uri.startswith(("http://", "https://"))
    return Links(
        prefect_ui=prefect_ui(),
        mlflow_ui=f"{uri.rstrip('/')}/#/models/{model}" if served else None,
        mlflow_hint=f"mlflow ui --backend-store-uri {uri}",
    )


def _version(registry: Registry, version: str) -> dict[str, Any]:
    return {"version": version, "tags": registry.version_tags(version)}


def api_server(config: GamelineConfig, host: str, port: int, poll_seconds: float) -> Any:
    """A uvicorn server of the config's API (ValueError for a bad token list: before it
    listens)."""
    import uvicorn

    app = create_app(config, poll_seconds)
    settings = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    return uvicorn.Server(settings)


def serve_api_in_thread(
    config: GamelineConfig, host: str, port: int, poll_seconds: float
) -> threading.Thread:
    """The API served from a daemon thread (next to `gameline serve`'s deployments, which
    keep the main thread); it stops with the process."""
    server = api_server(config, host, port, poll_seconds)
    thread = threading.Thread(target=server.run, name="gameline-api", daemon=True)
    thread.start()
    return thread
