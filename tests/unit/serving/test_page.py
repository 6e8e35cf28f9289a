"""The status page: each game's probability as a bar, every stored value escaped, a reliability
plot of the served games, and what is missing said in words."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gameline.tasks.registry.snapshot import ModelStatus
from gameline.tasks.serving.overview import Overview
from gameline.tasks.serving.page import Links, PageView, calibration_svg, status_page

NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)
NOTHING = Overview(
    monitored_at=None,
    monitor_status=None,
    champion_version=None,
    performance=None,
    arms=[],
    calibration=[],
    served_finished_games=0,
    open_alerts=[],
    last_daily_decision=None,
    last_retrain=None,
)
LINKS = Links(prefect_ui=None, mlflow_ui=None, mlflow_hint="mlflow ui --backend-store-uri x")


def view(**changes: Any) -> PageView:
    base: dict[str, Any] = {
        "title": "Gameline: test",
        "model": "gameline-test",
        "now": NOW,
        "timezone": "America/New_York",
        "games": [],
        "models": [],
        "overview": NOTHING,
        "links": LINKS,
    }
    return PageView(**{**base, **changes})


def test_each_game_is_a_bar_and_stored_text_is_escaped() -> None:
    game = {
        "start_time": "2026-12-06 00:00:00+00:00",
        "home_team": "<script>alert(1)</script>",
        "away_team": "T02",
        "p_home": 0.73,
        "model_version": "3",
        "y": None,
    }
    page = status_page(view(games=[game]))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert 'style="width:73.0%">73%' in page and 'style="width:27.0%">27%' in page
    assert "Sat 05 Dec 19:00" in page  # the league's time zone
    assert "v3" in page
    assert page.count("<td class='num'>-</td>") == 2  # no line, no margin model: dashes
    lined = {**game, "home_spread": -4.5, "fair_spread": -5.25, "p_cover": 0.532}
    priced = status_page(view(games=[{**lined, "total_line": 221.0, "fair_total": 219.4}]))
    assert "<td class='num'>-4.5 (-5.2)</td><td class='num'>53%</td>" in priced
    assert "<td class='num'>221.0 (219.4)</td><td class='num'>-</td>" in priced


def test_what_is_missing_is_said() -> None:
    page = status_page(view())
    assert "No games today or tomorrow" in page
    assert "No registered model yet" in page
    assert "The monitor has not run yet." in page
    assert "No served game has finished yet." in page
    assert "No open alerts." in page
    assert "no Prefect server" in page and "mlflow ui --backend-store-uri x" in page
    ran = NOTHING.model_copy(update={"monitored_at": NOW, "monitor_status": "no champion"})
    assert "The last monitor run: no champion." in status_page(view(overview=ran))


def test_models_with_their_live_scores_and_links() -> None:
    champion = ModelStatus(
        alias="champion", version="4", run_id=None, family="blend", trained_from=None,
        trained_until="2026-11-30T00:00:00", train_games=900,
        metrics={"blend_log_loss": 0.6123}, gate_decision="promote",
    )  # fmt: skip
    arms = [{"arm": "champion", "games": 120, "served_log_loss": 0.6234}]
    links = Links(prefect_ui="http://p:4200", mlflow_ui="http://m:5000/#/models/x", mlflow_hint="")
    page = status_page(
        view(models=[champion], overview=NOTHING.model_copy(update={"arms": arms}), links=links)
    )
    assert "0.6123" in page and "0.6234" in page and ">120<" in page
    assert 'href="http://p:4200/runs"' in page and 'href="http://m:5000/#/models/x"' in page


def test_the_reliability_plot_has_a_dot_per_bin_sized_by_games() -> None:
    curve = [
        {"bin_low": 0.3, "games": 10, "p_mean": 0.35, "y_rate": 0.3},
        {"bin_low": 0.6, "games": 40, "p_mean": 0.65, "y_rate": 0.7},
    ]
    svg = calibration_svg(curve)
    assert svg.count("<circle") == 2
    assert "10 games: predicted 0.35, won 0.30" in svg
    assert 'r="9.0"' in svg and 'r="6.0"' in svg  # the area grows with the games


def test_finished_games_say_who_won_and_missing_scores_are_dashes() -> None:
    game = {
        "start_time": "2026-12-06 00:00:00+00:00", "home_team": "H", "away_team": "A",
        "p_home": 0.6, "model_version": "1",
    }  # fmt: skip
    page = status_page(view(games=[{**game, "y": 1.0}, {**game, "y": 0.0}, {**game, "y": None}]))
    assert page.count("home won") == 1 and page.count("away won") == 1
    challenger = ModelStatus(
        alias="challenger", version="5", run_id=None, family=None, trained_from=None,
        trained_until=None, train_games=None, metrics={}, gate_decision=None,
    )  # fmt: skip
    rows = status_page(view(models=[challenger]))
    assert "<td>challenger</td><td>v5</td><td>-</td><td>-</td>" in rows
    assert "<td class='num'>-</td><td class='num'>-</td><td class='num'>-</td>" in rows
