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

# Rolling window of the plot, in served games; a pause this long breaks the lines.
ROLLING_GAMES = 300
GAP_DAYS = 20


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
    start time, with a gap (NaN) where no game was played for `GAP_DAYS` (the off-season)."""
    losses = per_game_log_loss(served["y"].to_numpy(float), served[column].to_numpy(float))
    series = pd.Series(losses, index=pd.DatetimeIndex(served["start_time"]))
    rolling = series.rolling(ROLLING_GAMES, min_periods=ROLLING_GAMES // 3).mean()
    starts = rolling.index.to_series()
    gaps = starts[starts.diff() > pd.Timedelta(days=GAP_DAYS)] - pd.Timedelta(days=1)
    breaks = pd.Series(np.nan, index=pd.DatetimeIndex(gaps.to_numpy()))
    return pd.concat([rolling, breaks]).sort_index()


def plot(result: ReplayResult, path: Path) -> Path:
    """Three panels over time: the rolling served log loss of each policy and of Elo; each
    policy's rolling log loss minus never-retrain's (or the first policy's); and one row per
    policy with its retrains (| , faint: rejected by the gate) and alerts (x)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = finished(result)
    names = [run.policy for run in result.runs]
    base = "never" if "never" in names else names[0]
    figure, (top, middle, bottom) = plt.subplots(
        3, 1, figsize=(12, 8), sharex=True, gridspec_kw={"height_ratios": [3, 2, 1.2]}
    )
    reference = rolling_loss(done[done["policy"] == base], "p_home")
    for row, run in enumerate(result.runs):
        rolling = rolling_loss(done[done["policy"] == run.policy], "p_home")
        (line,) = top.plot(rolling.index, rolling.to_numpy(), label=run.policy, linewidth=1.1)
        colour = line.get_color()
        if run.policy != base:
            middle.plot(rolling.index, (rolling - reference).to_numpy(), color=colour, linewidth=1)
        for retrain in run.retrains:
            bottom.plot(
                [pd.Timestamp(retrain["at"])], [row], marker="|", markersize=12, color=colour,
                alpha=1.0 if retrain["promoted"] else 0.3,
            )  # fmt: skip
        for alert in run.alerts:
            bottom.plot([pd.Timestamp(alert.opened_at)], [row + 0.3], marker="x", color=colour)
    elo = rolling_loss(done[done["policy"] == base], "p_elo")
    top.plot(elo.index, elo.to_numpy(), label="Elo baseline", color="grey", linestyle="--")
    top.set_title(
        f"Replay {result.start} .. {result.end}: rolling served log loss ({ROLLING_GAMES} games)"
    )
    top.set_ylabel("log loss")
    top.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    middle.axhline(0.0, color="black", linewidth=0.6)
    middle.set_ylabel(f"minus {base}\n(below 0: better)")
    bottom.set_yticks(range(len(names)), names)
    bottom.set_ylim(-0.6, len(names) - 0.2)
    bottom.set_ylabel("| retrain\nx alert")
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


def events_table(result: ReplayResult) -> pd.DataFrame:
    """Every retrain (trigger, version, gate verdict and reason) and every alert opened, by
    policy and time."""
    rows: list[dict[str, Any]] = []
    for run in result.runs:
        rows.extend(
            {"policy": run.policy, "at": r["at"], "event": "retrain", "trigger": r["trigger"],
             "version": r["version"], "promoted": r["promoted"], "detail": r["reason"]}
            for r in run.retrains
        )  # fmt: skip
        rows.extend(
            {"policy": run.policy, "at": a.opened_at, "event": "alert", "trigger": a.kind,
             "version": a.model_version, "promoted": None, "detail": a.summary}
            for a in run.alerts
        )  # fmt: skip
    columns = ["policy", "at", "event", "trigger", "version", "promoted", "detail"]
    return pd.DataFrame(rows, columns=columns).sort_values(["policy", "at"], kind="stable")


def write_report(result: ReplayResult) -> dict[str, Path]:
    """The plot, the tables and every retrain and alert (CSV), the served predictions and the
    features each run saw (parquet), in the replay's folder; their paths by name."""
    folder = result.folder
    files = {"plot": plot(result, folder / "rolling_log_loss.png")}
    for name, table in (
        ("policies", policy_table(result)),
        ("seasons", season_table(result)),
        ("time", time_table(result)),
    ):
        files[name] = folder / f"{name}.csv"
        table.to_csv(files[name], index=False)
    files["events"] = folder / "events.csv"
    events_table(result).to_csv(files["events"], index=False)
    files["served"] = folder / "served.parquet"
    result.served.to_parquet(files["served"], index=False)
    files["features"] = folder / "features.parquet"
    result.features.to_parquet(files["features"], index=False)
    return files
