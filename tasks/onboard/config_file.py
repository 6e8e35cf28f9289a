"""The commented YAML config `gameline init` writes for a league file, and a check of what the
validation rules keep of the file under it."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from gameline.tasks.config import GamelineConfig
from gameline.tasks.onboard.reader import LeagueFile
from gameline.tasks.onboard.seasons import first_test_season, renames_of, walk_forward_seasons


def _inline(value: Any) -> str:
    """A value as one line of YAML."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False)
    return str(text).removesuffix("\n").removesuffix("\n...")


def _operations(found: LeagueFile) -> dict[str, int]:
    """Gate and monitor sizes that fit how many games the league plays (a triggered retrain
    waits for twice the gate's minimum)."""
    league_games = max(found.league_games_per_season, 1)
    window_games = min(1000, max(100, league_games))
    min_games = min(300, max(30, window_games // 3))
    per_day = league_games / max(found.season_days, 1)
    window_days = int(min(60, max(14, math.ceil(100 / max(per_day, 1e-9)))))
    return {
        "window_games": window_games,
        "min_games": min_games,
        "window_days": window_days,
        "monitor_min_games": int(min(100, max(10, 0.6 * per_day * window_days))),
    }


def config_text(found: LeagueFile, data_dir: Path, written: str) -> str:
    """The commented YAML config of a league file."""
    name = found.league["name"].lower()
    lines = [
        f"# Written by `gameline init` from {found.path.name} on {written}: {found.rows} rows,",
        f"# seasons {found.seasons[0]}-{found.seasons[-1]}, {len(found.league['teams'])} teams. "
        "Lines marked CHECK are guesses",
        "# worth a look; everything else was measured on the file.",
        f"name: {name}",
        f"state_dir: .gameline-{name}",
        f"data_dir: {_inline(str(data_dir))}   # the file's folder (GAMELINE_DATA_DIR overrides)",
    ]
    sections = (league_lines, source_lines, model_lines, operations_lines)
    for section in sections:
        lines += ["", *section(found)]
    return "\n".join([*lines, ""])


def league_lines(found: LeagueFile) -> list[str]:
    """The `league` section: teams, seasons, time zone, ties and doubleheaders."""
    lg, last = found.league, found.seasons[-1]
    renames = renames_of(found.relocations)
    merged = f" (renamed codes merged: {_inline(renames)})" if renames else ""
    ends = "starts" if lg["season_label"] == "start" else "ends"
    return [
        "league:",
        f"  name: {lg['name']}",
        f"  # {len(lg['teams'])} teams in the file{merged}",
        f"  teams: {_inline(lg['teams'])}",
        f"  season_label: {lg['season_label']}   # season {last} = the one that {ends} in {last}",
        "  # A season's games fall between these dates; the boundary is the middle of the",
        "  # off-season" + ("" if "season" in found.columns else ", and gives a game its season"),
        f"  season_window: {_inline(lg['season_window'])}",
        f"  games_per_season: {lg['games_per_season']}   # per team: the median team of the "
        "median season",
        f"  timezone: {lg['timezone']}   # CHECK: the league's local time zone",
        f"  default_start_local: {_inline(lg['default_start_local'])}   # a game given a date "
        "only starts at this local time",
        f"  game_duration_hours: {lg['game_duration_hours']}   # a result is known this long "
        "after the start",
        f"  allow_ties: {_inline(lg['allow_ties'])}   # {found.ties} final games ended level",
        f"  allow_doubleheaders: {_inline(lg['allow_doubleheaders'])}   # {found.doubleheaders} "
        "games were a second game of the same teams on a date",
    ]


def source_lines(found: LeagueFile) -> list[str]:
    """The `source` section: the file, its column mapping, its codes and date format."""
    renames = renames_of(found.relocations)
    values = dict(found.values)
    if renames:
        values["home_team"] = dict(renames)
        values["away_team"] = dict(renames)  # a copy: the same object twice is a YAML anchor
    columns = {k: v for k, v in found.columns.items() if k != v}
    lines = [
        "source:",
        "  kind: csv",
        f"  path: {_inline(found.path.name)}",
        "  # contract column: the file's column",
        f"  columns: {_inline(columns)}",
    ]
    if values:
        lines += ["  # the file's codes: what they mean", f"  values: {_inline(values)}"]
    if found.date_format:
        lines.append(
            f"  date_format: {_inline(found.date_format)}   # CHECK: local time in league.timezone"
        )
    if found.spread_convention != "home":
        lines.append(
            f"  spread_convention: {found.spread_convention}   # CHECK: how the file writes its "
            "spread (home: -5.5 = home favoured by 5.5)"
        )
    return lines


def model_lines(found: LeagueFile) -> list[str]:
    """The sport's score bound, feature windows and Elo settings; walk-forward's seasons."""
    sport, t = found.sport, found.tuning
    min_train = walk_forward_seasons(len(found.seasons))
    tuned = (
        f"tuned on seasons {t.seasons}: Elo log loss {t.loss:.4f} (K {sport.k:g}: "
        f"{t.default_loss:.4f})"
        if t
        else "too few seasons before the first test season to tune it"
    )
    odds = "the file has moneylines" if found.has_odds else "the file has no moneylines"
    scoring = (
        f"from a mean total score of {found.mean_total:.1f} a game"
        if not found.winner_only
        else "no scores in the file"
    )
    return [
        "validation:",
        f"  max_score: {sport.max_score}   # a {sport.name} score above this is a typo",
        "",
        "features:",
        f"  windows: {_inline(sport.windows)}   # rolling form over this many games",
        f"  split_window: {sport.split_window}",
        f"  max_rest_days: {sport.max_rest_days}",
        "  elo:",
        f"    # CHECK: {sport.name}, {scoring}: {sport.why}",
        f"    k: {found.k:g}   # {tuned}",
        f"    home_advantage: {sport.home_advantage:g}   # rating points",
        f"    mov_multiplier: {sport.mov_multiplier}",
        f"    season_carryover: {sport.carryover:g}   # share of a rating kept into a new season",
        "  league_home:",
        f"    prior_points: {sport.home_margin_prior:g}   # the home margin before any game",
        *unused_source_lines(found),
        "",
        "train:",
        f"  min_train_seasons: {min_train}   # walk-forward: {len(found.seasons)} seasons, the "
        f"first {min_train} only train",
        f"  first_test_season: {first_test_season(found.seasons)}   # one fold per season from "
        "here on",
        f"  market_variant: {_inline(found.has_odds)}   # {odds}",
        *market_lines(found),
        *winner_only_lines(found),
    ]


def market_lines(found: LeagueFile) -> list[str]:
    """Where the file has moneylines, how to serve a model anchored on them (commented)."""
    if not found.has_odds:
        return []
    return [
        "  # To serve the market's price corrected by the data (the `anchored` family), declare",
        "  # the moneylines as a game-facts source and name them here, as configs/nba_lines.yaml:",
        "  # market: [ml_home, ml_away]",
    ]


def winner_only_lines(found: LeagueFile) -> list[str]:
    """For a file that says only who won: the features that need no score, the margin and
    total targets off, each said."""
    if not found.winner_only:
        return []
    from gameline.tasks.config import FeaturesConfig
    from gameline.tasks.features.team import SCORING_FEATURES, feature_columns

    cfg = FeaturesConfig(windows=found.sport.windows, split_window=found.sport.split_window)
    needs_scores = ("margin", "league_home_margin", *SCORING_FEATURES)
    kept = [f for f in feature_columns(cfg) if not f.startswith(needs_scores)]
    return [
        "  # The file says who won, not by how much: no margin or total to model, and the",
        "  # features that need scores (margins, points, the league's home margin) left out.",
        "  line_targets: false",
        f"  features: {_inline(kept)}",
    ]


def feature_name(column: str) -> str:
    """A file column as a feature name (lower-case words)."""
    name = re.sub(r"[^a-z0-9_]+", "_", column.strip().lower()).strip("_") or "column"
    return name if name[0].isalpha() else f"f_{name}"


def unused_source_lines(found: LeagueFile) -> list[str]:
    """The file's unused numeric columns as a commented-out game-facts source: a user enables
    the ones known before the start (a line, a starter's rating), never a result's parts."""
    if not found.unused_numbers:
        return []
    lines = [
        "  # The file's numeric columns not used yet. Only a column KNOWN BEFORE THE GAME STARTED",
        "  # may be a feature: a line, a forecast, a starter's rating. A score's parts, a box",
        "  # score or anything written after the start leak the result: leave them commented.",
        "  # Uncomment `sources` and the columns that qualify (README: Bring your own features):",
        "  # sources:",
        "  #   - name: file_facts",
        "  #     kind: game_facts",
        "  #     known_before_start: true   # say so only if every enabled column was known then",
        "  #     features:",
    ]
    for column, (low, high) in found.unused_numbers.items():
        name = feature_name(column)
        mapped = f"column: {_inline(column)}, " if name != column else ""
        lines.append(f"  #       {name}: {{{mapped}min: {low:g}, max: {high:g}}}")
    return lines


def operations_lines(found: LeagueFile) -> list[str]:
    """Gate and monitor sizes for how many games the league plays."""
    ops = _operations(found)
    return [
        f"# Sized for about {found.league_games_per_season} games a season across the league",
        "gate:",
        f"  window_games: {ops['window_games']}",
        f"  min_games: {ops['min_games']}   # a triggered retrain waits for twice these new games",
        "monitor:",
        f"  window_days: {ops['window_days']}",
        f"  min_games: {ops['monitor_min_games']}",
    ]


def write_config(found: LeagueFile, out: Path, force: bool = False) -> str:
    """Write the config (temp file, then rename); refuse to overwrite unless `force`."""
    from gameline.tasks.config import load_config
    from gameline.tasks.storage import write_text

    if out.exists() and not force:
        raise ValueError(f"{out} exists: give --force to overwrite it, or --out another file")
    text = config_text(found, found.path.resolve().parent, datetime.now(UTC).date().isoformat())
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(text, out)
    load_config(out)  # what was written loads (a bug here is ours, not the user's)
    return text


def check_config(config: GamelineConfig) -> tuple[int, int, dict[str, int]]:
    """(rows read, rows the rules would keep, rows per broken rule) of the config's file."""
    from gameline.tasks.data.sources import load_games
    from gameline.tasks.data.validate import validate_games

    games = load_games(config)
    outcome = validate_games(games, config, datetime.now(UTC))
    broken = {r.rule: r.failed for r in outcome.results if r.failed}
    return len(games), len(outcome.valid), broken
