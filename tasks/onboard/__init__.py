"""`gameline init`: a league's results file in its own layout in, a commented config out.

It guesses which column is which from common names (`columns`), the date format, the status and
flag codes (`values`), then reads the file through the same reader `gameline ingest` uses and
measures the league (`reader`): teams, renamed teams, season window and label (`seasons`), games
per season, ties, doubleheaders, the scoring level, hence the sport's Elo settings, with K tuned
on the seasons walk-forward only trains on (`sports`). It writes the config (`config_file`) and
lists what it could not be sure of for the user to check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gameline.tasks.onboard.columns import guess_columns, parse_columns_option
from gameline.tasks.onboard.config_file import check_config, config_text, write_config
from gameline.tasks.onboard.reader import LeagueFile, read_league_file
from gameline.tasks.onboard.seasons import (
    find_relocations,
    first_test_season,
    walk_forward_seasons,
    year_window,
)
from gameline.tasks.onboard.sports import (
    K_STEPS,
    SPORTS,
    Progress,
    elo_log_loss,
    sport_of_scoring,
    tune_k,
)
from gameline.tasks.onboard.values import guess_date_format, guess_values, season_labels

__all__ = [
    "K_STEPS",
    "SPORTS",
    "LeagueFile",
    "Onboarded",
    "check_config",
    "config_text",
    "elo_log_loss",
    "find_relocations",
    "first_test_season",
    "guess_columns",
    "guess_date_format",
    "guess_values",
    "onboard",
    "parse_columns_option",
    "read_league_file",
    "season_labels",
    "sport_of_scoring",
    "tune_k",
    "walk_forward_seasons",
    "write_config",
    "year_window",
]


@dataclass
class Onboarded:
    """What `init` read and wrote, and what the validation rules keep of the file."""

    found: LeagueFile
    target: Path
    rows: int
    kept: int
    broken: dict[str, int]


def league_name(source: Path, league: str | None) -> str:
    """The league's name: given, or from the file's name; 1 to 16 letters, digits or _."""
    name = league or re.sub(r"[^A-Za-z0-9_]", "_", source.stem).upper()[:16]
    if not re.fullmatch(r"[A-Za-z0-9_]{1,16}", name):
        raise ValueError(f"--league {name!r}: 1 to 16 letters, digits or _ (it names ids)")
    return name


def default_target(name: str) -> Path:
    """configs/<league>.yaml where there is a configs folder, else <league>.yaml here."""
    configs = Path("configs")
    return configs / f"{name.lower()}.yaml" if configs.is_dir() else Path(f"{name.lower()}.yaml")


def onboard(
    source: Path,
    league: str | None,
    columns: str | None,
    sport: str | None,
    target: Path | None,
    force: bool,
    progress: Progress | None = None,
) -> Onboarded:
    """Read the file, write its config, check what the rules keep of it under that config."""
    from gameline.tasks.config import load_config

    name = league_name(source, league)
    if sport is not None and sport not in SPORTS:
        raise ValueError(f"--sport {sport!r}: one of {', '.join(SPORTS)}")
    target = target or default_target(name)
    found = read_league_file(source, name, parse_columns_option(columns), sport, progress)
    write_config(found, target, force)
    rows, kept, broken = check_config(load_config(target))
    return Onboarded(found=found, target=target, rows=rows, kept=kept, broken=broken)
