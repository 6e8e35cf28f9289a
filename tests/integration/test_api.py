"""`gameline api` as a client meets it: a real uvicorn server on a free port (httpx), on a league
trained, gated, batch-predicted and monitored by the flows. Scored on request equals what batch
predict served; bad requests, missing or broken stores are clear statuses; the writes need a
token that never shows; a promotion and a rollback under load fail no request."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pandas as pd
import pytest

from gameline.flows.api.access import load_tokens
from gameline.flows.api.app import api_server
from gameline.flows.gate import gate_flow, rollback_flow
from gameline.flows.ingest import feature_store_flow
from gameline.flows.monitor import monitor_flow
from gameline.flows.predict import predict_flow
from gameline.flows.train import train_flow
from gameline.tasks.config import ApiConfig, GamelineConfig, state_paths
from gameline.tasks.ops.doctor import doctor
from gameline.tasks.records import records_for
from gameline.tasks.serving.predictions import latest_predictions, read_predictions
from tests.builders import fatigue_league, write_config
from tests.servers import BIN, free_port, process, quiet_env

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("prefect_harness")]

POLL_S = 0.5
TOKEN = f"test-{secrets.token_hex(16)}"  # a fresh secret: it must never come back


class Served(NamedTuple):
    config: GamelineConfig
    client: httpx.Client
    log: Path


def wait_ready(client: httpx.Client, log: Path | None = None, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if client.get("/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text()[-3000:] if log else "not ready"
        time.sleep(0.2)


@pytest.fixture
def served(sim_config: Callable[..., GamelineConfig], tmp_path: Path) -> Iterator[Served]:
    """A promoted champion, a batch predict and a monitor run, then `gameline api` on a free
    port with one token (`alice`)."""
    config = fatigue_league(sim_config, full=True)
    feature_store_flow(config)  # the online store the API reads
    train_flow(config)
    assert gate_flow(config).applied == "promoted"
    predict_flow(config)
    monitor_flow(config)
    port = free_port()
    command = [
        str(BIN / "gameline"), "api", "--config", str(write_config(config, tmp_path / "c.yaml")),
        "--port", str(port), "--poll", str(POLL_S),
    ]  # fmt: skip
    log = tmp_path / "api.log"
    env = quiet_env(GAMELINE_API_TOKENS=f"alice:{TOKEN}")
    with (
        process(command, env, log),
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
    ):
        wait_ready(client, log)
        yield Served(config, client, log)


@contextmanager
def api_in_thread(config: GamelineConfig) -> Iterator[httpx.Client]:
    """The config's API on a real uvicorn server in this process (stopped on exit)."""
    port = free_port()
    server = api_server(config, "127.0.0.1", port, POLL_S)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + 30
            while not server.started:
                assert time.monotonic() < deadline and thread.is_alive(), "the API did not start"
                time.sleep(0.05)
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def request_of(row: Any) -> dict[str, Any]:
    return {
        "home": row.home_team,
        "away": row.away_team,
        "start_time": pd.Timestamp(row.start_time).isoformat(),
    }


def clients_at_once(config: GamelineConfig, client: httpx.Client, log: Path) -> None:
    """Clients arriving together at a cold server (its schedule's indexes not built yet, and its
    alias poll scoring the slate too): every one answered, as one client alone is answered.
    Two threads building one pandas index's lookup table at once made a 500 here."""
    batch = latest_predictions(read_predictions(records_for(config)))
    games = [request_of(r) for r in batch.itertuples()]
    barrier = threading.Barrier(len(games))

    def ask(game: dict[str, Any]) -> httpx.Response:
        barrier.wait()
        return client.post("/v1/predict", json=game)

    with ThreadPoolExecutor(len(games)) as pool:
        answers = list(pool.map(ask, games))
    assert all(a.status_code == 200 for a in answers), log.read_text()[-3000:]
    alone = client.post("/v1/predict/batch", json=games).json()
    assert [a.json()["p_home"] for a in answers] == pytest.approx(
        [g["p_home"] for g in alone], abs=1e-12
    )  # one game or a batch: the same to the last bits a batch's sums may round


def scores_as_batch_predict(config: GamelineConfig, client: httpx.Client) -> pd.Series:
    """Scored on request: the probability batch predict served for the same game."""
    batch = latest_predictions(read_predictions(records_for(config)))
    assert len(batch) > 0
    upcoming = {g["game_id"]: g for g in client.get("/v1/games/upcoming").json()}
    assert set(upcoming) == set(batch["game_id"])
    for row in batch.itertuples():
        assert upcoming[row.game_id]["p_home"] == pytest.approx(row.p_champion, abs=1e-12)
    first = batch.iloc[0]
    one = client.post("/v1/predict", json=request_of(first)).json()
    assert one["stored_game"] and one["game_id"] == first["game_id"]
    assert one["p_home"] == pytest.approx(first["p_champion"], abs=1e-12)
    assert one["champion_version"] == "1" and one["feature_source"] == "online"
    assert one["features_age_hours"] is not None and one["features_age_hours"] >= 0
    # The stored game's posted lines, priced as batch predict priced them; other lines asked.
    assert one["home_spread"] == pytest.approx(first["home_spread"])
    for column in ("fair_spread", "p_cover", "p_push_spread", "fair_total", "p_over"):
        assert one[column] == pytest.approx(first[column], abs=1e-12)
    longer = client.post("/v1/predict", json={**request_of(first), "home_spread": 30.5}).json()
    # A line is the market's information: the fair spread moves toward it, and the home side
    # given 30.5 points is likelier to cover.
    assert longer["home_spread"] == 30.5 and longer["p_cover"] > one["p_cover"]
    assert one["fair_spread"] < longer["fair_spread"] < 30.5
    many = client.post("/v1/predict/batch", json=[request_of(r) for r in batch.itertuples()])
    assert [g["game_id"] for g in many.json()] == list(batch["game_id"])

    # A game the schedule does not hold: scored from the same states, its own context.
    later = {**request_of(first), "start_time": "2027-01-05T00:30:00+00:00"}
    new = client.post("/v1/predict", json=later).json()
    assert not new["stored_game"] and 0 < new["p_home"] < 1
    return first


def says_what_is_wrong(client: httpx.Client, game: dict[str, Any]) -> None:
    """Bad requests: one clear status and message each."""
    unknown = client.post("/v1/predict", json={**game, "home": "T1"})
    assert unknown.status_code == 404 and "unknown team 'T1'; closest known: T1" in unknown.text
    naive = client.post("/v1/predict", json={**game, "start_time": "2026-11-24"})
    assert naive.status_code == 422 and "timezone" in naive.text
    itself = client.post("/v1/predict", json={**game, "away": game["home"]})
    assert itself.status_code == 422 and "cannot play itself" in itself.text
    past = client.post("/v1/predict", json={**game, "start_time": "2020-01-05T00:30:00Z"})
    assert past.status_code == 422 and "before now" in past.text  # it would see the future
    huge = client.post("/v1/predict/batch", json=[game] * 20_000)  # about 2 MB
    assert huge.status_code == 413 and "api.max_request_bytes" in huge.text
    assert client.post("/v1/predict/batch", json=[game] * 1001).status_code == 422
    assert client.get("/v1/models/99").status_code == 404


def reads(client: httpx.Client, team: str) -> None:
    """Models, predictions, performance, alerts, health, docs, the page and the metrics."""
    models = client.get("/v1/models").json()
    assert models["champion"]["version"] == "1" and models["challenger"] is None
    assert models["gate_decisions"][0]["promote"] is True
    assert models["champion"]["tags"]["family"] and models["champion"]["tags"]["train_config"]
    mine = client.get("/v1/predictions", params={"team": team}).json()
    assert mine and all(team in (p["home_team"], p["away_team"]) for p in mine)
    assert client.get("/v1/predictions", params={"from": "2099-01-01"}).json() == []
    assert client.get("/v1/alerts").json() == []
    assert client.get("/v1/retrains").json() == []  # no daily run here
    performance = client.get("/v1/performance").json()
    assert performance["monitored_at"] and performance["champion_version"] == "1"
    assert performance["performance"]["status"] == "not enough data"  # nothing final yet
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["failing"] == []
    assert client.get("/openapi.json").json()["paths"].keys() >= {
        "/v1/predict", "/v1/performance", "/v1/retrain", "/v1/rollback", "/health", "/metrics",
    }  # fmt: skip
    docs = client.get("/docs").text  # Swagger UI's files from the package, not a CDN
    assert "cdn." not in docs and "/static-offline-docs/swagger-ui-bundle.js" in docs
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Today and tomorrow" in page.text and "<script" not in page.text
    assert "v1" in page.text and "No open alerts." in page.text
    assert "access-control-allow-origin" not in page.headers  # CORS off unless configured

    metrics = client.get("/metrics").text
    assert 'gameline_served_model_version{alias="champion"} 1.0' in metrics
    assert 'gameline_api_games_scored_total{alias="champion",model_version="1"}' in metrics
    assert (
        'gameline_api_requests_total{endpoint="/v1/predict",method="POST",status="200"}' in metrics
    )
    assert 'gameline_api_request_seconds_bucket{endpoint="/v1/predict",le="0.01"}' in metrics
    assert "gameline_open_alerts 0.0" in metrics
    assert "gameline_online_store_age_seconds" in metrics


def writes_need_a_token(client: httpx.Client) -> list[httpx.Response]:
    """401 without a token, 403 with a wrong one; the right one reaches Prefect (none here:
    503 naming it)."""
    missing = client.post("/v1/retrain", json={"reason": "test"})
    assert missing.status_code == 401 and "Bearer" in missing.text
    wrong = client.post("/v1/rollback", json={}, headers={"Authorization": f"Bearer {TOKEN[:-1]}x"})
    assert wrong.status_code == 403
    asked = client.post(
        "/v1/retrain", json={"reason": "test"}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert asked.status_code == 503 and "the Prefect API: no PREFECT_API_URL" in asked.text
    return [missing, wrong, asked]


def redis_down_is_served_offline(config: GamelineConfig, game: dict[str, Any], p: float) -> None:
    """The online store on a Redis that does not answer: the same probability from the
    offline store, flagged; /health names the online store."""
    feast = config.feast.model_copy(
        update={"online_store": "redis", "redis_connection": f"127.0.0.1:{free_port()}"}
    )
    with api_in_thread(config.model_copy(update={"feast": feast})) as client:
        wait_ready(client)
        answer = client.post("/v1/predict", json=game).json()
        assert answer["feature_source"] == "offline"
        assert answer["p_home"] == pytest.approx(p, abs=1e-12)
        health = client.get("/health")
        assert health.status_code == 503
        assert [f["name"] for f in health.json()["failing"]] == ["online store"]


def api_check(config: GamelineConfig, url: str) -> tuple[str, str]:
    """`gameline doctor`'s line for an API at `url`."""
    at = config.model_copy(update={"api": config.api.model_copy(update={"url": url})})
    check = next(c for c in doctor(at) if c.name == "api")
    return check.status, check.detail


class Answer(NamedTuple):
    started: float
    ended: float
    status: int
    version: str | None


def promotion_and_rollback_under_load(
    config: GamelineConfig, client: httpx.Client, game: dict[str, Any]
) -> None:
    """Predict requests from three clients while a gate promotes v2 and a rollback returns to
    v1: none fails, each names the version that scored it, the new version is served within
    the poll interval (and a load) of the flow's end, and once a request has seen it no request
    started later sees the old one."""
    train_flow(config)  # v2, the challenger
    answers: list[Answer] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=str(client.base_url), timeout=30) as mine:
            while not stop.is_set():
                began = time.monotonic()
                r = mine.post("/v1/predict", json=game)
                version = r.json().get("champion_version") if r.status_code == 200 else None
                answers.append(Answer(began, time.monotonic(), r.status_code, version))

    def served_within(version: str, since: float) -> float:
        deadline = since + 10 * POLL_S + 10
        while not any(a.version == version and a.started > since for a in answers):
            assert time.monotonic() < deadline, f"v{version} not served"
            time.sleep(0.05)
        return min(a.ended for a in answers if a.version == version and a.started > since)

    clients = [threading.Thread(target=load) for _ in range(3)]
    for thread in clients:
        thread.start()
    try:
        time.sleep(1)
        # A gate that takes v2 (within 0.05 of the champion's log loss on the unseen games).
        lenient = config.model_copy(
            update={"gate": config.gate.model_copy(update={"margin": 0.05})}
        )
        assert gate_flow(lenient, "2").applied == "promoted"
        promoted = time.monotonic()
        seen_2 = served_within("2", promoted)
        rolling = time.monotonic()
        assert rollback_flow(config).to_version == "1"
        rolled = time.monotonic()
        seen_1 = served_within("1", rolled)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in clients:
            thread.join(timeout=30)
    assert answers and all(a.status == 200 for a in answers), {a.status for a in answers}
    assert {a.version for a in answers} == {"1", "2"}
    assert seen_2 - promoted < POLL_S + 5 and seen_1 - rolled < POLL_S + 5
    assert all(a.version == "2" for a in answers if seen_2 < a.started < rolling)
    assert all(a.version == "1" for a in answers if a.started > seen_1)
    print(  # the closing note's numbers (pytest -s)
        f"under load: {len(answers)} requests, none failed; v2 served {seen_2 - promoted:.2f} s "
        f"after the gate returned, v1 {seen_1 - rolled:.2f} s after the rollback (poll {POLL_S} s)"
    )


@pytest.mark.slow(seconds=40)
def test_the_api_as_a_client_meets_it(served: Served) -> None:
    config, client, log = served
    clients_at_once(config, client, log)
    first = scores_as_batch_predict(config, client)
    game = request_of(first)
    says_what_is_wrong(client, game)
    reads(client, str(first["home_team"]))
    assert api_check(config, str(client.base_url)) == (
        "ok",
        f"{client.base_url}: serving champion v1",
    )
    answers = writes_need_a_token(client)
    redis_down_is_served_offline(config, game, float(first["p_champion"]))
    promotion_and_rollback_under_load(config, client, game)
    # The token never comes back: not in an answer, not in the API's log.
    assert not [a for a in answers if TOKEN in a.text]
    assert TOKEN not in client.get("/metrics").text and TOKEN not in log.read_text()


def test_tokens_from_a_prefect_secret_block_when_the_variable_is_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from prefect.blocks.system import Secret

    Secret(value=f"bot:{TOKEN}").save("gameline-api-test-tokens", overwrite=True)
    monkeypatch.delenv("GAMELINE_API_TOKENS", raising=False)
    api = ApiConfig(tokens_secret_block="gameline-api-test-tokens")
    tokens = load_tokens(api)
    assert tokens.names() == ["bot"] and tokens.who(TOKEN) == "bot"
    monkeypatch.setenv("GAMELINE_API_TOKENS", f"alice:{TOKEN}x")  # the variable wins
    assert load_tokens(api).names() == ["alice"]
    monkeypatch.setenv("GAMELINE_API_TOKENS", "alice:short")
    with pytest.raises(ValueError, match="GAMELINE_API_TOKENS: the token of 'alice' is shorter"):
        load_tokens(api)


@pytest.mark.slow(seconds=10)
def test_an_empty_store_and_mlflow_down_are_clear_statuses(
    sim_config: Callable[..., GamelineConfig],
) -> None:
    empty = sim_config()  # nothing ingested, nothing trained
    with api_in_thread(empty) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503 and "has no champion yet" in ready.json()["error"]
        game = {"home": "T01", "away": "T02", "start_time": "2027-01-05T00:30:00+00:00"}
        predict = client.post("/v1/predict", json=game)
        assert predict.status_code == 503 and "no model to serve" in predict.text
        upcoming = client.get("/v1/games/upcoming")
        assert upcoming.status_code == 503 and "run `gameline ingest`" in upcoming.text
        assert client.get("/v1/predictions").json() == []
        assert client.get("/").status_code == 200  # the page says what is missing
        status, detail = api_check(empty, str(client.base_url))
        assert status == "warn" and "no champion served yet" in detail
    status, detail = api_check(empty, f"http://127.0.0.1:{free_port()}")
    assert status == "fail" and "the Gameline API at http://127.0.0.1:" in detail

    damaged = state_paths(empty).raw_games  # a game store that cannot be read: named, 503
    damaged.parent.mkdir(parents=True, exist_ok=True)
    damaged.write_bytes(b"not parquet")
    with api_in_thread(empty) as client:
        for answer in (client.get("/v1/games/upcoming"), client.get("/v1/performance")):
            assert answer.status_code == 503, answer.text
            assert answer.json()["detail"].startswith(f"{damaged}: damaged, cannot be read")
    damaged.unlink()

    port = free_port()  # nothing listens there
    down = empty.model_copy(
        update={
            "mlflow": empty.mlflow.model_copy(
                update={"tracking_uri": f"postgresql+psycopg://postgres@127.0.0.1:{port}/x"}
            )
        }
    )
    with api_in_thread(down) as client:
        began = time.monotonic()
        ready = client.get("/ready")
        assert ready.status_code == 503 and f"127.0.0.1:{port}" in ready.json()["error"]
        health = client.get("/health")
        assert health.status_code == 503
        assert [f["name"] for f in health.json()["failing"]][:1] == ["mlflow"]
        assert time.monotonic() - began < 5
