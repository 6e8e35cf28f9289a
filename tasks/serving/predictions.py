"""The predictions table: served and shadow predictions appended run by run, each game's
latest prediction, and the A/B arms scored once their games are final."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from gameline.tasks.contracts import home_win
from gameline.tasks.facts import FactTable
from gameline.tasks.model.metrics import log_loss
from gameline.tasks.records import PREDICTIONS, RecordStore


def store_predictions(records: RecordStore, table: pd.DataFrame) -> None:
    """Append a run's predictions to the predictions table (atomically; earlier runs kept)."""
    records.append_frame(PREDICTIONS, table)


# The columns shown of a predictions table (artifact, CLI, status).
SHOWN_COLUMNS = [
    "game_id",
    "start_time",
    "home_team",
    "away_team",
    "p_home",
    "served_by",
    "model_version",
    "p_champion",
    "p_challenger",
    "home_spread",
    "fair_spread",
    "p_cover",
    "total_line",
    "fair_total",
    "p_over",
    "missing_features",
]


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: timestamps as ISO-like strings, missing values as None."""
    shown = frame.copy()
    for column in shown.columns:
        if pd.api.types.is_datetime64_any_dtype(shown[column]):
            shown[column] = shown[column].astype(str)
    return list(shown.astype(object).where(shown.notna(), None).to_dict(orient="records"))


def read_predictions(records: RecordStore) -> pd.DataFrame:
    return records.read_frame(PREDICTIONS)


def latest_predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    """Each game's latest prediction."""
    if predictions.empty:
        return predictions
    ordered = predictions.sort_values("predicted_at", kind="stable")
    return ordered.drop_duplicates("game_id", keep="last").sort_values("start_time")


def served_results(predictions: pd.DataFrame, games: pd.DataFrame) -> pd.DataFrame:
    """Each game's latest prediction with its outcome `y` (1 home win, 0 away win; NaN until
    the game is final, and for a tie), in start order."""
    latest = latest_predictions(predictions)
    if latest.empty:
        return latest
    finals = games[games["status"] == "final"] if len(games) else games
    if finals.empty:
        return latest.assign(y=np.nan)
    finals = finals.set_index(finals["game_id"].astype(str))
    y = pd.Series(
        home_win(finals["home_score"], finals["away_score"], finals.get("home_won")),
        index=finals.index,
        dtype=float,
    )
    return latest.assign(y=y.reindex(latest["game_id"].astype(str)).to_numpy())


def arm_outcomes(predictions: pd.DataFrame, games: pd.DataFrame) -> pd.DataFrame:
    """Finished predicted games scored per A/B arm (and both models on all of them): games,
    log loss of the served probability and of each model."""
    served = served_results(predictions, games)
    done = served[served["y"].notna()] if len(served) else served
    if done.empty:
        return pd.DataFrame()
    rows = []
    for arm, part in done.groupby("served_by"):
        y = part["y"].to_numpy()
        rows.append(
            {
                "arm": arm,
                "games": int(np.sum(~np.isnan(y))),
                "served_log_loss": log_loss(y, part["p_home"].to_numpy()),
                "champion_log_loss": log_loss(y, part["p_champion"].to_numpy()),
                "challenger_log_loss": log_loss(y, part["p_challenger"].to_numpy())
                if part["p_challenger"].notna().any()
                else np.nan,
            }
        )
    return pd.DataFrame(rows)


def predictions_facts(rows: list[dict[str, Any]], title: str) -> FactTable:
    """Prediction rows as a fact table: served probability, both models' probabilities."""
    columns: tuple[str, ...] = (
        "start (UTC)", "home", "away", "p_home", "served by", "p champion", "p challenger",
    )  # fmt: skip
    shown: list[tuple[str, ...]] = [
        (
            str(row["start_time"])[:16],
            row["home_team"],
            row["away_team"],
            f"{row['p_home']:.3f}",
            f"{row['served_by']} v{row['model_version']}",
            f"{row['p_champion']:.3f}",
            "-" if row["p_challenger"] is None else f"{row['p_challenger']:.3f}",
        )
        for row in rows
    ]
    if any(row.get("fair_spread") is not None for row in rows):  # margin and total models
        columns = (*columns, "spread (fair)", "P(cover)", "total (fair)", "P(over)")
        shown = [(*line, *line_cells(row)) for line, row in zip(shown, rows, strict=True)]
    if any(row.get("missing_features") for row in rows):  # sourced features not there yet
        columns = (*columns, "missing features")
        shown = [
            (*line, row.get("missing_features") or "-")
            for line, row in zip(shown, rows, strict=True)
        ]
    right: tuple[str, ...] = ("start (UTC)", "p_home", "p champion", "p challenger")
    right += ("spread (fair)", "P(cover)", "total (fair)", "P(over)")
    return FactTable(title, columns, shown, right=right)


def line_cells(row: dict[str, Any]) -> tuple[str, str, str, str]:
    """A prediction's spread and total cells: the posted line with the fair one beside it,
    and the probability at the posted line ('-' where there is none)."""

    def number(key: str, form: str) -> str:
        value = row.get(key)
        return "-" if value is None or value != value else format(value, form)

    return (
        f"{number('home_spread', '+.1f')} ({number('fair_spread', '+.1f')})",
        number("p_cover", ".3f"),
        f"{number('total_line', '.1f')} ({number('fair_total', '.1f')})",
        number("p_over", ".3f"),
    )
