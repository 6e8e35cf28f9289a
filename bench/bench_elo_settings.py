"""Do the Elo settings `gameline init` picks suit the sport? For each league file (the generated
baseball-, hockey- and basketball-like files, and the real NBA and NFL files when
../shared/data is there) init picks the margin multiplier from the sport and tunes K on the
seasons before walk-forward's first test season. Here the pre-game Elo probability of every
decided final in the test seasons (which init did not see) is scored (log loss) with init's
pick, with the sport's default K, and with the best of every multiplier and a grid of K.

    .venv/bin/python bench/bench_elo_settings.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gameline.tasks.data.sources import load_games
from gameline.tasks.onboard import elo_log_loss, first_test_season, read_league_file, write_config
from tests import leagues

MULTIPLIERS = ("none", "fivethirtyeight_nba", "fivethirtyeight_nfl", "fivethirtyeight_nhl")
KS = (2, 4, 6, 10, 20, 30)
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def files(folder: Path) -> list[tuple[str, Path]]:
    made = [
        ("baseball-like", "baseball"),
        ("hockey-like", "hockey"),
        ("basketball-like", "relocation"),
    ]
    out = []
    for label, kind in made:
        leagues.LEAGUES[kind](folder / f"{kind}.csv")
        out.append((label, folder / f"{kind}.csv"))
    for label, name in (
        ("NBA (real)", "nba_games_2008_2025.csv"),
        ("NFL (real)", "nfl_elo_1920_2022.csv"),
    ):
        if (DATA / name).exists():
            out.append((label, DATA / name))
    return out


def main() -> None:
    from gameline.tasks.config import load_config

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("Elo log loss on the test seasons (init tuned K on the seasons before them)")
        print("| file | sport | test seasons | init's pick | log loss | sport default K | best |")
        print("|---|---|---|---|---|---|---|")
        for label, path in files(folder):
            found = read_league_file(path, "X", {})
            write_config(found, folder / "x.yaml", force=True)
            config = load_config(folder / "x.yaml")
            games = load_games(config)
            first = first_test_season(found.seasons)
            picked = config.features.elo

            def loss(**change: object) -> float:
                elo = picked.model_copy(update=change)  # noqa: B023 (used in this iteration)
                return elo_log_loss(games, config.league, elo, scored_from=first)  # noqa: B023

            grid = {(m, k): loss(mov_multiplier=m, k=k) for m in MULTIPLIERS for k in KS}
            best = min(grid, key=grid.__getitem__)
            print(
                f"| {label} | {found.sport.name} | {first}-{found.seasons[-1]} | "
                f"{picked.mov_multiplier}, K {picked.k:g} | {loss():.4f} | "
                f"K {found.sport.k:g}: {loss(k=found.sport.k):.4f} | "
                f"{best[0]}, K {best[1]}: {grid[best]:.4f} |"
            )


if __name__ == "__main__":
    main()
