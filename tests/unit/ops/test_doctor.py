"""`gameline doctor`: one line per backend, failures named with their address and no password,
every probe bounded by a short timeout."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gameline.tasks.config import GamelineConfig, feast_redis_connection, redis_target
from gameline.tasks.ops.doctor import doctor, redact
from tests.servers import free_port


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://app:pw@db:5432/x", "postgresql+psycopg://app:***@db:5432/x"),
        ("redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("127.0.0.1:6379,password=s3cret,ssl=true", "127.0.0.1:6379,password=***,ssl=true"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ],
)
def test_passwords_are_never_shown(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_both_redis_forms_are_understood() -> None:
    assert redis_target("redis://:pw@cache:6380/2") == ("cache", 6380, "pw", 2)
    assert redis_target("cache:6380,password=pw,db=1") == ("cache", 6380, "pw", 1)
    assert redis_target("127.0.0.1:6379") == ("127.0.0.1", 6379, None, 0)
    # Feast takes only its own form: a URL is turned into it (it used to fail on "//").
    assert feast_redis_connection("redis://:pw@cache:6380/2") == "cache:6380,db=2,password=pw"
    assert feast_redis_connection("rediss://cache:6380") == "cache:6380,db=0,ssl=true"
    assert feast_redis_connection("cache:6380,password=pw") == "cache:6380,password=pw"


def test_embedded_default_before_any_run(
    sim_config: Callable[..., GamelineConfig], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A fresh machine: nothing fails; no Prefect server, no alert target and no API are
    warnings."""
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    monkeypatch.delenv("GAMELINE_ALERT_URL", raising=False)
    checks = {c.name: c for c in doctor(sim_config())}
    assert list(checks) == [
        "state folder", "mlflow", "prefect", "records", "feast registry", "online store",
        "alerts", "api",
    ]  # fmt: skip
    assert "one machine" in checks["records"].detail  # files in the state folder
    assert {c.status for c in checks.values()} == {"ok", "warn"}
    assert checks["prefect"].status == checks["alerts"].status == checks["api"].status == "warn"
    assert "writable" in checks["state folder"].detail


def test_each_failure_is_one_line_naming_the_backend_fast(
    sim_config: Callable[..., GamelineConfig], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    closed = free_port()
    monkeypatch.setenv("PREFECT_API_URL", f"http://127.0.0.1:{closed}/api")
    monkeypatch.setenv("GAMELINE_ALERT_URL", "json://127.0.0.1:9/hook")
    config = sim_config(
        state_dir=str(blocker / "state"),
        mlflow={"tracking_uri": f"postgresql+psycopg://app:s3cret@127.0.0.1:{closed}/x"},
        feast={"online_store": "redis", "redis_connection": f"127.0.0.1:{closed},password=pw"},
        records={"url": f"postgresql+psycopg://app:s3cret@127.0.0.1:{closed}/records"},
    )
    started = time.monotonic()
    checks = {c.name: c for c in doctor(config)}
    assert time.monotonic() - started < 5
    for name in ("state folder", "mlflow", "prefect", "records", "online store"):
        assert checks[name].status == "fail", checks[name]
        assert "\n" not in checks[name].detail
    assert f"127.0.0.1:{closed}" in checks["mlflow"].detail
    assert "s3cret" not in checks["mlflow"].detail + checks["records"].detail
    assert "pw" not in checks["online store"].detail
    assert checks["alerts"].status == "ok" and "hook" not in checks["alerts"].detail
