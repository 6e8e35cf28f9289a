"""Doubleheaders (issue 14): where a league allows them, two games of the same teams on one date
are games 1 and 2 (by start time, then file order) and both are kept; the same file again adds
nothing. Where it does not, the present rule stands: they are conflicting rows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from gameline.tasks.config import GamelineConfig, load_config, state_paths
from gameline.tasks.data.ingest import Manifest, read_store, stage_input, store_input
from gameline.tasks.data.validate import ValidationFailed, check_input
from tests.builders import CONFIGS

pytestmark = [pytest.mark.integration]

NOW = datetime(2025, 9, 30, tzinfo=UTC)
TEAMS = ["nyy", "bos", "tb", "tor", "bal", "cle"]


def ingest(config: GamelineConfig, file: Path) -> Manifest:
    staged = stage_input(config, file)
    if staged.earlier is not None:
        return staged.earlier.model_copy(update={"new": 0})
    checked = check_input(config, staged.path, staged.label, NOW)
    return store_input(config, staged, checked, NOW)


def baseball_file(path: Path) -> Path:
    """Forty days of three games a day, and on five days a doubleheader: the same two teams at
    13:05 and 19:05, or (twice) dated only, told apart by file order."""
    lines = ["season,start_time,home_team,away_team,home_score,away_score"]
    for day in range(40):
        date = f"2025-05-{day + 1:02d}" if day < 31 else f"2025-06-{day - 30:02d}"
        pairs = [(TEAMS[(day + i) % 6], TEAMS[(day + i + 3) % 6]) for i in range(3)]
        for n, (home, away) in enumerate(pairs):
            lines.append(f"2025,{date}T23:05:00Z,{home},{away},{5 + n},{n}")
        if day % 8 == 0:
            home, away = pairs[0]
            if day % 16 == 0:  # dated only, twice: file order decides
                lines[-3] = f"2025,{date},{home},{away},5,4"
                lines.append(f"2025,{date},{home},{away},1,2")
            else:
                lines.append(f"2025,{date}T17:05:00Z,{home},{away},7,1")
    path.write_text("\n".join(lines) + "\n")
    return path


def league(tmp_path: Path, doubleheaders: bool) -> GamelineConfig:
    return load_config(
        CONFIGS / "default.yaml",
        overrides={
            "state_dir": str(tmp_path / f"state-{doubleheaders}"),
            "league": {"name": "MLB", "teams": TEAMS, "allow_doubleheaders": doubleheaders,
                       "season_window": {"start": "02-01", "start_year_offset": 0,
                                         "end": "11-30", "end_year_offset": 0}},
            "source": {"kind": "csv", "path": str(tmp_path / "games.csv")},
        },
        environ={},
    )  # fmt: skip


def test_doubleheaders_are_numbered_kept_and_idempotent(tmp_path: Path) -> None:
    file = baseball_file(tmp_path / "games.csv")
    config = league(tmp_path, doubleheaders=True)
    first = ingest(config, file)
    assert (first.read, first.new, first.quarantined) == (125, 125, 0)
    games = read_store(state_paths(config).raw_games)
    seconds = games[games["game_id"].str.endswith("-2")]
    assert len(seconds) == 5 and games["game_id"].is_unique
    # Each pair: game 1 starts first (17:05 before 23:05 UTC), or, dated only, came first in
    # the file (its score 5-4).
    for second in seconds.itertuples():
        pair = games[games["game_id"].isin([second.game_id[:-1] + "1", second.game_id])]
        one, two = pair.sort_values("game_id").itertuples()
        assert one.start_time < two.start_time or (one.home_score, one.away_score) == (5, 4)
    again = ingest(config, file)
    assert again.new == 0 and len(read_store(state_paths(config).raw_games)) == 125


def test_without_the_flag_they_are_conflicting_rows(tmp_path: Path) -> None:
    file = baseball_file(tmp_path / "games.csv")
    with pytest.raises(ValidationFailed, match=r"game_id is unique \(conflicting rows\)"):
        ingest(league(tmp_path, doubleheaders=False), file)  # 10 of 125 rows: above 2%
