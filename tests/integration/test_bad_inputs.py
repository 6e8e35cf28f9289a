"""The bad-input corpus: every kind of broken file a user sends, generated here, ingested into a
store that already holds games. Each gets one clear message naming the file (and the rule), or
its bad rows quarantined with the rule while the rest is stored; when the run fails, the stored
data (game store, manifests, quarantine) is byte for byte what it was."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gameline.tasks.config import GamelineConfig, load_config, state_paths
from gameline.tasks.contracts import ContractError
from gameline.tasks.data.ingest import Manifest, read_store, stage_input, store_input
from gameline.tasks.data.validate import ValidationFailed, check_input
from tests.builders import CONFIGS

pytestmark = [pytest.mark.integration]

NOW = datetime(2025, 3, 1, tzinfo=UTC)
TEAMS = list("ABCDEFGH")
HEADER = "season,start_time,home_team,away_team,home_score,away_score,home_ml,away_ml"
EXPECTED = (ContractError, ValidationFailed, FileNotFoundError)


def good_rows(days: int, start: str, seed: int) -> list[str]:
    """Four final games a day between the eight teams, with scores and moneylines."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(days):
        day = pd.Timestamp(start) + pd.Timedelta(days=d)
        order = rng.permutation(TEAMS)
        for i in range(0, 8, 2):
            home, away = int(rng.integers(85, 130)), int(rng.integers(85, 130))
            home += home == away
            rows.append(
                f"2025,{day:%Y-%m-%d}T23:00:00Z,{order[i]},{order[i + 1]},{home},{away},-150,130"
            )
    return rows


GOOD = good_rows(50, "2024-10-20", seed=0)  # 200 games; one bad row is 0.5% (< max_bad_share)


def csv(path: Path, rows: list[str], header: str = HEADER, end: str = "\n") -> Path:
    path.write_text(end.join([header, *rows]) + end)
    return path


def raw(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def row(date: str, home: str = "A", away: str = "B", hs: str = "100", as_: str = "90",
        hml: str = "-150", aml: str = "130") -> str:  # fmt: skip
    return f"2025,{date},{home},{away},{hs},{as_},{hml},{aml}"


# name: (writes the input into the given path and returns the file to ingest, outcome, text):
# outcome "error": the run fails, naming the file, with `text` in its message;
# "quarantine": the bad rows are held back under the rule `text`, the rest stored;
# "stored": every row stored (`text`: the number of new games).
Case = tuple[Callable[[Path], Path], str, str]
CASES: dict[str, Case] = {
    "empty file": (lambda p: raw(p, b""), "error", "No columns to parse"),
    "header only": (lambda p: csv(p, []), "error", "no rows after the header"),
    "wrong delimiter": (
        lambda p: csv(p, [r.replace(",", ";") for r in GOOD], HEADER.replace(",", ";")),
        "error", "missing required column(s) ['start_time', 'home_team'",
    ),
    "missing required column": (
        lambda p: csv(p, [r.split(",", 2)[2] for r in GOOD], HEADER.split(",", 2)[2]),
        "error", "missing required column(s) ['start_time']",
    ),
    "extra columns": (lambda p: csv(p, [r + ",Arena" for r in GOOD], HEADER + ",venue"),
                      "stored", "200"),
    "wrong type (score 'abc')": (
        lambda p: csv(p, [*GOOD, row("2024-12-25T23:00:00Z", hs="abc")]),
        "quarantine", "every field parses",
    ),
    "unparseable date": (lambda p: csv(p, [*GOOD, row("2024-13-45T23:00:00Z")]),
                         "quarantine", "start_time"),
    "mixed date formats": (lambda p: csv(p, [*GOOD, row("12/25/2024")]),
                           "quarantine", "start_time"),
    "mixed time zones": (lambda p: csv(p, [*GOOD, row("2024-12-25T18:00:00-05:00")]),
                         "stored", "201"),
    "NaN score on a final game": (lambda p: csv(p, [*GOOD, row("2024-12-26T23:00:00Z", hs="")]),
                                  "quarantine", "score"),
    "negative score": (lambda p: csv(p, [*GOOD, row("2024-12-27T23:00:00Z", hs="-3")]),
                       "quarantine", "scores between 0 and"),
    "fractional score": (lambda p: csv(p, [*GOOD, row("2024-12-28T23:00:00Z", hs="100.5")]),
                         "quarantine", "whole numbers"),
    "home == away": (lambda p: csv(p, [*GOOD, row("2024-12-29T23:00:00Z", away="A")]),
                     "quarantine", "home_team != away_team"),
    "unknown team": (lambda p: csv(p, [*GOOD, row("2024-12-30T23:00:00Z", away="ZZ")]),
                     "quarantine", "away_team is a league team"),
    "exact duplicates": (lambda p: csv(p, [*GOOD, GOOD[0]]), "quarantine", "repeated row"),
    "conflicting duplicates": (
        lambda p: csv(p, [*GOOD, GOOD[0].rsplit(",", 4)[0] + ",1,2,-150,130"]),
        "quarantine", "conflicting",
    ),
    "final game in the future": (lambda p: csv(p, [*GOOD, row("2025-04-01T23:00:00Z")]),
                                 "quarantine", "future"),
    "past scheduled game without score": (
        lambda p: csv(p, [*GOOD, row("2025-01-10T23:00:00Z", hs="", as_="")]),
        "stored", "201",  # kept as scheduled: its result may still come
    ),
    "absurd odds": (lambda p: csv(p, [*GOOD, row("2025-01-11T23:00:00Z", aml="-999999999")]),
                    "repaired", "moneyline"),
    "non-UTF-8 bytes": (
        lambda p: raw(p, "\n".join([HEADER, *GOOD, ""]).encode() + b"2025,x,A,\xe9\xff,1,2,,\n"),
        "error", "not UTF-8 text (byte 0xe9",
    ),
    "byte-order mark": (lambda p: raw(p, b"\xef\xbb\xbf" + "\n".join([HEADER, *GOOD]).encode()),
                        "stored", "200"),
    "CRLF line ends": (lambda p: csv(p, GOOD, end="\r\n"), "stored", "200"),
    "truncated last line": (
        lambda p: raw(p, "\n".join([HEADER, *GOOD, "2025,2025-01-13T23:0"]).encode()),
        "quarantine", "",
    ),
    "a file that changes league mid-way": (
        lambda p: csv(p, [*GOOD, *(r.replace(",A,", ",ATL,").replace(",B,", ",BOS,")
                                   for r in good_rows(10, "2025-01-20", seed=5))]),
        "error", "is a league team",
    ),
    "not a parquet file": (lambda p: raw(p.with_suffix(".parquet"), b"season,start_time\n"),
                           "error", "cannot be read as a parquet table"),
    "config pointing at a missing file": (lambda p: p.with_name("missing.csv"),
                                          "error", "file not found"),
}  # fmt: skip


def stored_digest(config: GamelineConfig) -> str:
    """The stored data: game store, manifests and quarantine files, names and bytes."""
    root = state_paths(config).root
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and not {"staging", "reports", "features"} & set(path.parts):
            digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


def ingest(config: GamelineConfig, file: Path) -> Manifest:
    staged = stage_input(config, file)
    checked = check_input(config, staged.path, staged.label, NOW)
    return store_input(config, staged, checked, NOW)


@pytest.fixture
def league(tmp_path: Path) -> GamelineConfig:
    """A store that already holds September's games."""
    config = load_config(
        CONFIGS / "default.yaml",
        overrides={"state_dir": str(tmp_path / "state"), "league": {"teams": TEAMS},
                   "source": {"kind": "csv", "path": str(tmp_path / "september.csv")}},
        environ={},
    )  # fmt: skip
    ingest(config, csv(tmp_path / "september.csv", good_rows(30, "2024-09-01", seed=1)))
    return config


@pytest.mark.parametrize("case", list(CASES))
def test_each_bad_input_gets_a_clear_message_or_quarantine(
    case: str, league: GamelineConfig, tmp_path: Path
) -> None:
    make, outcome, text = CASES[case]
    before, stored = stored_digest(league), len(read_store(state_paths(league).raw_games))
    file = make(tmp_path / "input.csv")
    if outcome == "error":
        with pytest.raises(EXPECTED) as failure:
            ingest(league, file)
        message = str(failure.value)
        assert message.startswith(str(file)) and text in message, message
        assert "\n" not in message.split(". First")[0]  # one line, then the first bad rows
        assert stored_digest(league) == before  # nothing stored, nothing half-written
        return
    manifest = ingest(league, file)
    games = read_store(state_paths(league).raw_games)
    assert len(games) == stored + manifest.new
    if outcome == "stored":
        assert manifest.new == int(text) and manifest.quarantined == 0, manifest
    elif outcome == "repaired":
        assert manifest.repaired == 1 and any(text in rule for rule in manifest.rules)
    else:
        assert manifest.quarantined >= 1 and any(text in rule for rule in manifest.rules), (
            manifest.rules
        )
        held = pd.read_parquet(str(manifest.quarantine_file))
        assert held["source_line"].notna().all()  # each names its line of the file


def test_a_config_with_an_out_of_range_value_names_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"extends: {CONFIGS / 'default.yaml'}\nvalidation: {{max_bad_share: 3}}\n")
    with pytest.raises(ValueError) as failure:
        load_config(path, environ={})
    assert str(path) in str(failure.value) and "max_bad_share" in str(failure.value)


@pytest.mark.slow(seconds=34)
def test_a_million_row_file_is_stored(league: GamelineConfig, tmp_path: Path) -> None:
    """1,000,000 games over 125 days before the run (8,000 a day between 16,000 teams): read,
    validated and stored."""
    n, days = 1_000_000, 125
    rng = np.random.default_rng(3)
    per_day = n // days  # each day's games, between the same pairs of teams
    starts = pd.Timestamp("2024-09-01T23:00:00Z") + pd.to_timedelta(np.arange(days), unit="D")
    slot = np.arange(per_day)
    frame = pd.DataFrame({
        "season": 2025,
        "start_time": np.repeat(starts.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(), per_day),
        "home_team": np.tile(np.char.add("T", (slot * 2).astype(str)), days),
        "away_team": np.tile(np.char.add("T", (slot * 2 + 1).astype(str)), days),
        "home_score": rng.integers(80, 130, n),
        "away_score": rng.integers(80, 130, n),
    })  # fmt: skip
    frame = frame[frame["home_score"] != frame["away_score"]]
    file = tmp_path / "million.csv"
    frame.to_csv(file, index=False)
    config = league.model_copy(update={"league": league.league.model_copy(update={"teams": None})})
    manifest = ingest(config, file)
    assert manifest.read == len(frame) > 970_000
    assert manifest.new == len(frame) and manifest.quarantined == 0
