"""What a replay shows: per policy (and the Elo baseline and the market as references) the
served log loss, Brier and ECE, retrains, promotions and alerts; the same by season; and the
rolling served log loss over time with the retrain and alert days marked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gameline.tasks.model.metrics import (
    brier,
    expected_calibration_error,
    log_loss,
    per_game_log_loss,
)
from gameline.tasks.replay.run import ReplayResult

# Rolling window of the plot, in served games.
ROLLING_GAMES = 300


def _scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "log_loss": log_loss(y, p),
        "brier": brier(y, p),
        "ece": expected_calibration_error(y, p),
    }


def finished(result: ReplayResult) -> pd.DataFrame:
    """Served predictions of games that are final, in start order."""
    done = result.served[result.served["y"].notna()]
    return done.sort_values(["start_time", "game_id"], kind="stable")


def policy_table(result: ReplayResult) -> pd.DataFrame:
    """One row per policy, then Elo and the market (on the games with prices) as references."""
    done = finished(result)
    rows: list[dict[str, Any]] = []
    for run in result.runs:
        part = done[done["policy"] == run.policy]
        y, p = part["y"].to_numpy(float), part["p_home"].to_numpy(float)
        rows.append(
            {
                "policy": run.policy,
                "games": len(part),
                **_scores(y, p),
                "retrains": len(run.retrains),
                "promotions": sum(bool(r["promoted"]) for r in run.retrains),
                "alerts": len(run.alerts),
            }
        )
    one = done[done["policy"] == result.runs[0].policy] if result.runs else done
    y = one["y"].to_numpy(float)
    rows.append(
        {"policy": "Elo baseline", "games": len(one), **_scores(y, one["p_elo"].to_numpy())}
    )
    priced = one[one["p_market"].notna()]
    if len(priced):
        rows.append(
            {
                "policy": "market (games with prices)",
                "games": len(priced),
                **_scores(priced["y"].to_numpy(float), priced["p_market"].to_numpy(float)),
            }
        )
    return pd.DataFrame(rows)


def season_table(result: ReplayResult) -> pd.DataFrame:
    """Served log loss per season (rows) and policy (columns), with Elo beside them."""
    done = finished(result)
    table = done.groupby(["season", "policy"]).apply(
        lambda d: log_loss(d["y"].to_numpy(float), d["p_home"].to_numpy(float)),
        include_groups=False,
    )
    out = table.unstack("policy")[[r.policy for r in result.runs]]
    one = done[done["policy"] == result.runs[0].policy]
    out["Elo baseline"] = one.groupby("season").apply(
        lambda d: log_loss(d["y"].to_numpy(float), d["p_elo"].to_numpy(float)),
        include_groups=False,
    )
    out.insert(0, "games", one.groupby("season").size())
    return out.reset_index()


def rolling_loss(served: pd.DataFrame, column: str) -> pd.Series:
    """The rolling mean of the per-game log loss of `column` over `ROLLING_GAMES` games, by
    start time."""
    losses = per_game_log_loss(served["y"].to_numpy(float), served[column].to_numpy(float))
    series = pd.Series(losses, index=pd.DatetimeIndex(served["start_time"]))
    return series.rolling(ROLLING_GAMES, min_periods=ROLLING_GAMES // 3).mean()


def plot(result: ReplayResult, path: Path) -> Path:
    """Rolling served log loss per policy (and Elo) over time; retrain days marked with a
    tick under each policy's line (filled: promoted), alert days with a cross."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = finished(result)
    figure, axis = plt.subplots(figsize=(12, 5.5))
    for run in result.runs:
        part = done[done["policy"] == run.policy]
        rolling = rolling_loss(part, "p_home")
        (line,) = axis.plot(rolling.index, rolling.to_numpy(), label=run.policy, linewidth=1.2)
        level = float(np.nanmin(rolling.to_numpy())) if rolling.notna().any() else 0.6
        for retrain in run.retrains:
            axis.plot(
                [pd.Timestamp(retrain["at"])], [level - 0.01], marker="|", markersize=9,
                color=line.get_color(), alpha=1.0 if retrain["promoted"] else 0.35,
            )  # fmt: skip
        for alert in run.alerts:
            axis.plot(
                [pd.Timestamp(alert.opened_at)], [level - 0.02], marker="x",
                color=line.get_color(),
            )  # fmt: skip
    one = done[done["policy"] == result.runs[0].policy]
    elo = rolling_loss(one, "p_elo")
    axis.plot(elo.index, elo.to_numpy(), label="Elo baseline", color="grey", linestyle="--")
    axis.set_title(
        f"Replay {result.start} .. {result.end}: rolling served log loss "
        f"({ROLLING_GAMES} games); | retrain (faint: rejected), x alert"
    )
    axis.set_ylabel("log loss")
    axis.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def time_table(result: ReplayResult) -> pd.DataFrame:
    """Where the replay's time went (seconds)."""
    rows = [{"step": step, "seconds": round(s, 1)} for step, s in result.seconds.items()]
    for run in result.runs:
        rows.extend(
            {"step": f"  {run.policy}: {part}", "seconds": round(s, 1)}
            for part, s in run.seconds.items()
        )
    return pd.DataFrame(rows)


def write_report(result: ReplayResult) -> dict[str, Path]:
    """The plot, the three tables (CSV), the served predictions and the features each run saw
    (parquet), in the replay's folder; their paths by name."""
    folder = result.folder
    files = {"plot": plot(result, folder / "rolling_log_loss.png")}
    for name, table in (
        ("policies", policy_table(result)),
        ("seasons", season_table(result)),
        ("time", time_table(result)),
    ):
        files[name] = folder / f"{name}.csv"
        table.to_csv(files[name], index=False)
    files["served"] = folder / "served.parquet"
    result.served.to_parquet(files["served"], index=False)
    files["features"] = folder / "features.parquet"
    result.features.to_parquet(files["features"], index=False)
    return files
