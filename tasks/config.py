"""Gameline configuration: YAML files loaded into bounded pydantic models.

This module is the one place that reads environment variables (`GAMELINE_STATE_DIR`,
`GAMELINE_DATA_DIR`), so a deployment can move the stores or the data without editing YAML.
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

MonthDay = Annotated[str, Field(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")]
# Environment variables the loader applies (secrets such as a registry password live here).
ENV_OVERRIDES = {
    "GAMELINE_STATE_DIR": ("state_dir",),
    "GAMELINE_DATA_DIR": ("data_dir",),
    "GAMELINE_FEAST_REGISTRY_URL": ("feast", "registry_url"),
    "GAMELINE_REDIS_CONNECTION": ("feast", "redis_connection"),
    "GAMELINE_DASK_ADDRESS": ("runner", "dask_address"),
    "GAMELINE_MLFLOW_TRACKING_URI": ("mlflow", "tracking_uri"),
    "GAMELINE_RECORDS_URL": ("records", "url"),
}


def redis_target(connection: str) -> tuple[str, int, str | None, int]:
    """(host, port, password, db) of a Redis address in either form users have: a URL
    (`redis://[:password@]host:port/db`, `rediss://` for TLS) or Feast's connection string
    (`host:port[,password=...][,db=N][,ssl=true]`)."""
    if connection.startswith(("redis://", "rediss://")):
        parts = urlsplit(connection)
        db = int(parts.path.lstrip("/") or 0)
        return parts.hostname or "127.0.0.1", parts.port or 6379, parts.password, db
    head, *options = connection.split(",")
    host, _, port = head.partition(":")
    opts = dict(o.split("=", 1) for o in options if "=" in o)
    return host or "127.0.0.1", int(port or 6379), opts.get("password"), int(opts.get("db", 0))


def feast_redis_connection(connection: str) -> str:
    """Feast's connection string for a Redis address given in either form."""
    if not connection.startswith(("redis://", "rediss://")):
        return connection
    host, port, password, db = redis_target(connection)
    options = [f"{host}:{port}", f"db={db}"]
    if password:
        options.append(f"password={password}")
    if connection.startswith("rediss://"):
        options.append("ssl=true")
    return ",".join(options)


class Section(BaseModel):
    """Base of every config section: unknown keys are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DateRange(Section):
    """An inclusive range of local calendar dates."""

    start: date
    end: date


class SeasonWindow(Section):
    """Dates a season's games may fall on: month-day plus a year offset from the season label."""

    start: MonthDay = "08-01"
    start_year_offset: int = Field(default=-1, ge=-1, le=1)
    end: MonthDay = "10-31"
    end_year_offset: int = Field(default=0, ge=-1, le=1)


class LeagueConfig(Section):
    """What a league looks like: teams, calendar, clock."""

    name: str = Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_]+$")
    teams: list[str] | None = Field(default=None, description="allowed team codes; None: any")
    season_label: Literal["start", "end"] = Field(
        default="end", description="a season is named by the year it starts or ends in"
    )
    season_window: SeasonWindow = Field(default_factory=SeasonWindow)
    games_per_season: int = Field(default=82, ge=1, le=400)
    timezone: str = "America/New_York"
    default_start_local: str = Field(default="19:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    game_duration_hours: float = Field(default=2.5, gt=0, le=12)
    allow_ties: bool = Field(default=False, description="whether a final game may end level")
    allow_doubleheaders: bool = Field(
        default=False,
        description="two games of the same teams on one date are games 1 and 2 (by start time, "
        "then file order), as in baseball; false: they are one game given twice",
    )
    neutral_periods: list[DateRange] = Field(
        default_factory=list, description="local dates on which every game was at a neutral site"
    )


class RegimeChange(Section):
    """From `start` on, the simulated home advantage becomes `home_advantage_pts` and the
    cost of a back-to-back's second night `fatigue_pts` (None: unchanged)."""

    start: date
    home_advantage_pts: float | None = Field(default=None, ge=-20, le=20)
    fatigue_pts: float | None = Field(default=None, ge=0, le=20)


class SimulatorConfig(Section):
    """Seeded league simulator (the embedded default source)."""

    seed: int = Field(default=7, ge=0)
    n_teams: int = Field(default=30, ge=2, le=1000)
    n_seasons: int = Field(default=6, ge=1, le=400)
    games_per_team: int = Field(default=82, ge=1, le=200)
    season_start: MonthDay = "10-20"
    as_of: datetime | None = Field(
        default=None, description="the simulated 'now' (UTC); None: the current hour"
    )
    upcoming_days: int = Field(default=3, ge=0, le=60)
    home_advantage_pts: float = Field(default=3.2, ge=-20, le=20)
    strength_sd: float = Field(default=4.5, ge=0, le=30)
    strength_walk_sd: float = Field(default=0.25, ge=0, le=10, description="per round")
    season_carryover: float = Field(default=0.7, ge=0, le=1)
    margin_sd: float = Field(default=12.0, gt=0, le=50)
    mean_score: float = Field(default=110.0, gt=0, le=500)
    total_sd: float = Field(default=14.0, ge=0, le=100)
    neutral_share: float = Field(default=0.0, ge=0, le=1, description="games at neutral sites")
    back_to_back_share: float = Field(default=0.75, ge=0, le=1, description="share of 2-day gaps")
    fatigue_pts: float = Field(
        default=0.0, ge=0, le=20, description="points a team loses on a back-to-back's 2nd night"
    )
    market_noise_sd: float = Field(default=0.25, ge=0, le=5, description="logit noise of odds")
    market_margin: float = Field(default=0.045, ge=0, le=0.3, description="bookmaker overround")
    line_noise_pts: float = Field(
        default=1.5, ge=0, le=20, description="points of noise in the spread and total lines"
    )
    line_move_pts: float = Field(
        default=1.5, ge=0, le=20, description="how far the opening lines sit from the closing"
    )
    regime_change: RegimeChange | None = None
    star_pts: float = Field(
        default=0.0,
        ge=0,
        le=20,
        description="points a team loses when its star misses the game: a hidden factor the "
        "results do not show, emitted as the simulator's `star` team timeline",
    )
    star_out_rate: float = Field(default=0.08, ge=0, le=1, description="P(out next game | in)")
    star_return_rate: float = Field(default=0.3, gt=0, le=1, description="P(back | out)")
    star_notice_hours: float = Field(
        default=6.0, ge=0, le=240, description="how long before a game its star's status is known"
    )


class SourceConfig(Section):
    """Where games come from."""

    kind: Literal["simulator", "csv", "nba_odds", "fivethirtyeight_nfl"] = "simulator"
    path: Path | None = Field(default=None, description="file; relative paths are under data_dir")
    simulator: SimulatorConfig = Field(default_factory=SimulatorConfig)
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="csv: the file's column for a contract column, e.g. {home_team: h_team}",
    )
    values: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="csv: the file's values for a contract column's, e.g. "
        "{status: {F: final, S: scheduled}, neutral: {N: 'true'}}",
    )
    date_format: str | None = Field(
        default=None,
        description="csv: strftime format of start_time when it is not ISO (e.g. '%m/%d/%Y')",
    )
    spread_convention: Literal["home", "away", "favourite"] = Field(
        default="home",
        description="csv: how the file writes home_spread: the home side's line (-5.5 = home "
        "favoured by 5.5), the away side's, or the favourite's unsigned (who is favoured from "
        "a `favourite` column of home/away, else from the moneylines)",
    )

    @model_validator(mode="after")
    def _file_sources_need_a_path(self) -> SourceConfig:
        if self.kind != "simulator" and self.path is None:
            raise ValueError(f"source.kind={self.kind!r} needs source.path")
        return self


class ValidationConfig(Section):
    """Data-quality rules and how many bad rows a file may have before the run fails."""

    max_bad_share: float = Field(default=0.02, ge=0, le=1)
    odds_abs_min: float = Field(default=100.0, ge=100)
    odds_abs_max: float = Field(default=100_000.0, gt=100)
    max_score: int = Field(default=400, ge=1)
    spread_abs_max: float = Field(default=60.0, gt=0, description="largest point spread")


class EloConfig(Section):
    """Elo rating: K factor, home advantage (rating points), margin multiplier, carry-over."""

    k: float = Field(default=20.0, gt=0, le=200)
    home_advantage: float = Field(default=100.0, ge=-400, le=400)
    initial: float = Field(default=1500.0, gt=0)
    mov_multiplier: Literal[
        "none", "fivethirtyeight_nba", "fivethirtyeight_nfl", "fivethirtyeight_nhl"
    ] = Field(
        default="fivethirtyeight_nba",
        description="how the winning margin scales an update: points in basketball (nba), "
        "football (nfl), goals or runs (nhl: log of the goal margin), or not at all (none)",
    )
    season_carryover: float = Field(default=0.75, ge=0, le=1, description="share of rating kept")
    home_advantage_mode: Literal["fixed", "point_in_time"] = Field(
        default="fixed",
        description="fixed: home_advantage; point_in_time: elo_per_point x the league's recent "
        "home margin (an EWM over home games that ended before the game started)",
    )
    elo_per_point: float = Field(default=28.0, gt=0, le=200)


class LeagueHomeConfig(Section):
    """The league's recent home margin, estimated point in time."""

    halflife_games: float = Field(default=1000.0, gt=0)
    prior_points: float = Field(default=3.0, ge=-20, le=20, description="before any game")


FEATURE_NAME = r"^[a-z][a-z0-9_]{0,47}$"
SourceKind = Literal["game_facts", "team_timeline", "team_game_stats"]
# The key columns each kind of feature source may map (`columns`), besides its features.
SOURCE_KEYS: dict[str, tuple[str, ...]] = {
    "game_facts": ("game_id", "date", "home_team", "away_team", "game_number", "known_at"),
    "team_timeline": ("team", "known_at"),
    "team_game_stats": ("game_id", "date", "team", "game_number"),
}


class FeatureSpec(Section):
    """One feature of a source: its file column, type and bounds (its contract)."""

    column: str | None = Field(default=None, description="the file's column (None: the name)")
    type: Literal["number", "flag", "category", "moneyline"] = Field(
        default="number",
        description="moneyline: American odds, given to the models as the logit of the implied "
        "probability (the price's own scale is not linear in anything)",
    )
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = Field(
        default=None, description="category: its values, coded 0, 1, ... in this order"
    )
    negate_when: dict[str, str] | None = Field(
        default=None,
        description="the value's sign flips where another column has a value, e.g. a spread "
        "given as the favourite's points: {whos_favored: home} makes it the home team's line",
    )

    @model_validator(mode="after")
    def _categories_for_categories(self) -> FeatureSpec:
        if (self.type == "category") != bool(self.categories):
            raise ValueError("a category feature lists its categories (and only it does)")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        if self.negate_when is not None and len(self.negate_when) != 1:
            raise ValueError("negate_when names one column and its value: {column: value}")
        return self


class FeatureSourceConfig(Section):
    """A user's feature source: facts of games known before they start (`game_facts`), facts
    about a team stamped with when they became known (`team_timeline`), or each team's
    statistics of a finished game (`team_game_stats`, used only as rolling aggregates of
    earlier games)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    kind: SourceKind
    path: Path | None = Field(
        default=None,
        description="CSV or parquet file (relative: under data_dir); None: the results file's "
        "own columns (game_facts), or the simulator's table of this name",
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="the file's column for a key: game_id, or date + home_team + away_team "
        "(+ game_number); team; known_at",
    )
    date_format: str = Field(default="%Y-%m-%d", description="format of the `date` key")
    features: dict[str, FeatureSpec] = Field(min_length=1)
    known_before_start: bool = Field(
        default=False,
        description="game_facts without a known_at column: every fact was known before its game "
        "started (stamped with the start); nothing is assumed unless this says so",
    )
    windows: list[Annotated[int, Field(ge=1, le=200)]] | None = Field(
        default=None, description="team_game_stats: rolling windows (None: features.windows)"
    )
    max_bad_share: float | None = Field(
        default=None, ge=0, le=1, description="None: validation.max_bad_share"
    )
    max_age_days: float | None = Field(
        default=None, gt=0, description="monitor: alert when the newest fact is older than this"
    )
    max_missing_share: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="monitor: alert when more of the latest predicted games than this lack "
        "this source's features",
    )

    @model_validator(mode="after")
    def _keys_of_its_kind(self) -> FeatureSourceConfig:
        unknown = [k for k in self.columns if k not in SOURCE_KEYS[self.kind]]
        if unknown:
            raise ValueError(
                f"source {self.name!r}: {unknown} are not keys of {self.kind} "
                f"(keys: {list(SOURCE_KEYS[self.kind])})"
            )
        bad = [f for f in self.features if not re.match(FEATURE_NAME, f)]
        if bad:
            raise ValueError(
                f"source {self.name!r}: feature names {bad} must be lower-case words (a-z, 0-9, _)"
            )
        return self

    def key(self, name: str) -> str:
        """The file's column of a key (the key's own name unless `columns` maps it)."""
        return self.columns.get(name, name)

    def feature_names(self, default_windows: list[int]) -> list[str]:
        """The features this source gives a game's side (or the game, for game facts)."""
        if self.kind == "team_game_stats":
            windows = self.windows or default_windows
            return [f"{f}_{w}" for f in self.features for w in windows]
        if self.kind == "team_timeline":
            return [*self.features, f"{self.name}_age_days"]
        return list(self.features)


class FeaturesConfig(Section):
    """Point-in-time team features, and the user's feature sources."""

    windows: list[Annotated[int, Field(ge=1, le=200)]] = Field(default_factory=lambda: [5, 10, 20])
    split_window: int = Field(default=10, ge=1, le=200, description="home/away form window")
    max_rest_days: int = Field(default=7, ge=1, le=365)
    elo: EloConfig = Field(default_factory=EloConfig)
    league_home: LeagueHomeConfig = Field(default_factory=LeagueHomeConfig)
    sources: list[FeatureSourceConfig] = Field(
        default_factory=list, description="the user's feature sources (see README)"
    )

    @model_validator(mode="after")
    def _source_names_unique(self) -> FeaturesConfig:
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"feature source names repeat: {names}")
        seen: dict[str, str] = {}
        for source in self.sources:
            for feature in source.feature_names(self.windows):
                if feature in seen:
                    raise ValueError(
                        f"feature {feature!r} of source {source.name!r} is also given by "
                        f"{seen[feature]!r}: names must be unique"
                    )
                seen[feature] = source.name
        return self

    @field_validator("windows")
    @classmethod
    def _windows_unique(cls, v: list[int]) -> list[int]:
        if not v or len(set(v)) != len(v):
            raise ValueError("windows must be a non-empty list of distinct sizes")
        return sorted(v)


class FeastConfig(Section):
    """The Feast feature store: embedded (file registry, SQLite) or production (SQL, Redis)."""

    project: str = Field(
        default="gameline",
        pattern=r"^[A-Za-z0-9_]+$",
        description="in a config: gameline_<its name> unless given (leagues sharing a Feast "
        "registry and online store never share rows)",
    )
    ttl_days: int = Field(default=400, ge=1, le=36500, description="feature view TTL")
    registry: Literal["file", "sql"] = "file"
    registry_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the SQL registry (env GAMELINE_FEAST_REGISTRY_URL)",
    )
    online_store: Literal["sqlite", "redis"] = "sqlite"
    redis_connection: str = Field(
        default="127.0.0.1:6379",
        description="redis://[:password@]host:port/db or host:port[,password=...] "
        "(env GAMELINE_REDIS_CONNECTION)",
    )
    offline_store: Literal["duckdb", "file"] = "duckdb"

    @model_validator(mode="after")
    def _sql_registry_needs_url(self) -> FeastConfig:
        if self.registry == "sql" and not self.registry_url:
            raise ValueError("feast.registry=sql needs feast.registry_url")
        return self


class LightGBMConfig(Section):
    """LightGBM parameters (early stopping picks the number of trees)."""

    learning_rate: float = Field(default=0.03, gt=0, le=1)
    num_leaves: int = Field(default=7, ge=2, le=1024)
    min_child_samples: int = Field(default=100, ge=1)
    feature_fraction: float = Field(default=0.8, gt=0, le=1)
    bagging_fraction: float = Field(default=0.8, gt=0, le=1)
    lambda_l2: float = Field(default=10.0, ge=0)
    max_rounds: int = Field(default=2000, ge=1)
    early_stopping_rounds: int = Field(default=100, ge=1)


ModelFamily = Literal["logistic", "lightgbm", "blend", "anchored"]
# The families fitted by default; `anchored` is fitted when `train.market` names a market.
MODEL_FAMILIES: tuple[ModelFamily, ...] = ("logistic", "lightgbm", "blend")


class TrainConfig(Section):
    """Walk-forward training: folds by season, model families, calibration."""

    first_test_season: int | None = Field(default=None, description="None: after min_train")
    last_test_season: int | None = None
    min_train_seasons: int = Field(default=3, ge=1, le=100)
    date_blocks: int = Field(
        default=1, ge=1, le=52, description="test blocks per season (1: whole seasons)"
    )
    models: list[ModelFamily] = Field(default_factory=lambda: list(MODEL_FAMILIES))
    logistic_c: float = Field(default=0.05, gt=0, description="inverse L2 strength (scaled)")
    blend_weight: float = Field(default=0.5, ge=0, le=1, description="LightGBM's share")
    features: list[str] | None = Field(
        default=None, description="the features the models use (None: every feature)"
    )
    market_variant: bool = Field(
        default=True, description="also score a variant with the market's price as an input"
    )
    market: list[str] | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="the home and away moneyline features of a game_facts source: the market "
        "the `anchored` family starts from (its trees correct the market's price only where "
        "the validation games show they help); set mlflow.final_family: anchored to serve it",
    )
    bet_edge: float = Field(
        default=0.03, ge=0, lt=1, description="bet when the model beats the market by this"
    )
    feature_lead_hours: float = Field(
        default=0.0,
        ge=0,
        le=240,
        description="train on each game's features as a prediction this many hours before its "
        "start saw them (0: at the start); set it to how far ahead predictions are served, so a "
        "fact known only at the start (a closing line) is missing in training as it is at "
        "serving",
    )
    season_weight_decay: float = Field(
        default=1.0, gt=0, le=1, description="training weight per season of age (1: equal)"
    )
    calibration: Literal["none", "platt", "isotonic"] = "platt"
    line_targets: bool = Field(
        default=True,
        description="also model the home margin and the total score: P(home covers the "
        "spread), P(over the total), the fair spread and total (needs final scores)",
    )
    inner_valid_share: float = Field(default=0.2, gt=0, lt=0.5, description="latest share")
    lightgbm: LightGBMConfig = Field(default_factory=LightGBMConfig)
    seed: int = Field(default=7, ge=0)


class GateConfig(Section):
    """Promotion gate: challenger vs champion on the same recent games neither trained on."""

    window_games: int = Field(default=1000, ge=10, description="latest finished games judged")
    min_games: int = Field(default=300, ge=1, description="fewer games in the window: reject")
    bootstrap_samples: int = Field(default=2000, ge=100, le=100_000)
    confidence: float = Field(default=0.9, gt=0.5, lt=1, description="two-sided interval")
    margin: float = Field(
        default=0.0,
        description="promote when the interval's upper bound of challenger minus champion "
        "log loss per game is below this (0: the challenger must be better with evidence)",
    )
    max_ece: float = Field(
        default=0.06,
        gt=0,
        le=1,
        description="calibration error bound (10 bins; ~0.03 is noise at 1,000 games)",
    )
    line_margin: float = Field(
        default=0.002,
        ge=0,
        description="P(cover) and P(over) are rejected only when worse than the champion's by "
        "more than this log loss per game with evidence (the interval's lower end above it)",
    )
    seed: int = Field(default=11, ge=0)
    promote_refresh: bool = Field(
        default=True,
        description="a refresh (the champion's own recipe on newer games, judged on the newer "
        "half of the games since the champion's training) goes in unless it is worse with "
        "evidence; false: it must be better with evidence, like any challenger",
    )

    @model_validator(mode="after")
    def _min_within_window(self) -> GateConfig:
        if self.min_games > self.window_games:
            raise ValueError("gate.min_games cannot exceed gate.window_games")
        return self


class PredictConfig(Section):
    """Batch predictions of upcoming games."""

    horizon_hours: float = Field(default=36.0, gt=0, le=24 * 60, description="games ahead")
    challenger_share: float = Field(
        default=0.0, ge=0, le=1, description="A/B: share of games the challenger serves"
    )


class MonitorConfig(Section):
    """Watching the champion: input and prediction drift, live performance of what it served."""

    window_days: int = Field(
        default=14, ge=1, le=365, description="served games of the last N days are 'current'"
    )
    min_games: int = Field(
        default=100, ge=10, description="fewer current (or finished) games: not enough data"
    )
    phase_band: float = Field(
        default=0.02,
        ge=0,
        le=1.5,
        description="reference rows: earlier seasons' games within this much season progress "
        "of the current window (like is compared with like)",
    )
    drift_share: float = Field(
        default=0.5, gt=0, le=1, description="data drift when this share of inputs drifted"
    )
    drift_test: Literal["ks", "auto"] = Field(
        default="ks",
        description="ks: a Kolmogorov-Smirnov test of every column (p < 0.05), whose "
        "false-alarm rate does not depend on the window's size; auto: "
        "Evidently's choice, a distance at 0.1 once the reference has over 1,000 rows, which "
        "a window of 100 games from the very same distribution exceeds by chance",
    )
    cusum_k: float = Field(
        default=0.15,
        ge=0,
        le=5,
        description="calibration CUSUM allowance, in standard deviations of a game's residual",
    )
    cusum_h: float = Field(
        default=25.0, gt=0, le=1000, description="calibration CUSUM alarm threshold"
    )
    loss_k: float = Field(
        default=0.05, ge=0, le=5, description="log-loss CUSUM allowance over the promised loss"
    )
    loss_h: float = Field(default=5.0, gt=0, le=1000, description="log-loss CUSUM alarm threshold")


class RetrainConfig(Section):
    """When the daily run retrains: only on a reason, never in a loop."""

    on_drift: bool = Field(default=True, description="retrain on data or prediction drift")
    on_degradation: bool = Field(default=True, description="retrain on a live-performance alarm")
    max_champion_age_days: int | None = Field(
        default=28, ge=1, description="retrain when the champion's training data is older"
    )
    cooldown_days: float = Field(
        default=3.0, ge=0, description="no retrain within this long of the last one"
    )
    min_new_games: int | None = Field(
        default=None,
        ge=0,
        description="finished games since the champion's training, at least, before a triggered "
        "retrain; never fewer than twice gate.min_games (a refresh is judged on the newer half of "
        "them), which is also the default",
    )


class AlertsConfig(Section):
    """Where alert notifications go. The target URL is a secret: it is read at run time from
    the environment variable named here (or the Prefect Secret block), never written down."""

    url_env: str = Field(
        default="GAMELINE_ALERT_URL",
        pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="environment variable holding an apprise URL (slack://, mailto://, json://)",
    )
    secret_block: str | None = Field(
        default=None,
        description="Prefect Secret block holding the URL (used when the env is unset)",
    )

    def url_from_environment(self) -> str | None:
        """The alert target from the environment variable named by `url_env` (None: unset)."""
        return os.environ.get(self.url_env) or None


class RunnerConfig(Section):
    """Where concurrent work runs: the walk-forward folds, and a replay's policies."""

    kind: Literal["threads", "dask"] = Field(
        default="threads", description="threads in the flow's process, or a Dask cluster"
    )
    workers: int = Field(
        default=2,
        ge=1,
        le=256,
        description="threads for the folds, or local Dask workers; a replay's policies run in "
        "this many processes (1: one after another)",
    )
    dask_address: str | None = Field(
        default=None,
        description="scheduler of a running Dask cluster (env GAMELINE_DASK_ADDRESS); "
        "None: a temporary local cluster of `workers` processes",
    )


class ApiConfig(Section):
    """`gameline api`: who may start runs, whether reads need a token, what browsers may call.
    The tokens are secrets: read when the API starts from the environment variable named here
    (or the Prefect Secret block), never written down, logged or returned."""

    tokens_env: str = Field(
        default="GAMELINE_API_TOKENS",
        pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="environment variable holding `name:token` pairs separated by commas",
    )
    tokens_secret_block: str | None = Field(
        default=None, description="Prefect Secret block holding them (used when the env is unset)"
    )
    protect_reads: bool = Field(
        default=False, description="read endpoints need a token too (the status page, /metrics)"
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="origins a browser may call from; none: CORS off"
    )
    max_request_bytes: int = Field(
        default=1_000_000, ge=1_000, le=100_000_000, description="a larger body is 413"
    )
    cache_seconds: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="a game's answer is reused this long while the models and stores are "
        "unchanged (0: every request is scored)",
    )
    url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        description="where the API is served (e.g. http://127.0.0.1:8000): `gameline doctor` "
        "asks its /ready; None: no API is run",
    )

    def tokens_from_environment(self) -> str | None:
        """The `name:token` pairs from the environment variable `tokens_env` (None: unset)."""
        return os.environ.get(self.tokens_env) or None


class MlflowConfig(Section):
    """Where runs and models are tracked (embedded: SQLite + files under the state folder)."""

    tracking_uri: str | None = Field(
        default=None,
        description="None: sqlite in the state dir (env GAMELINE_MLFLOW_TRACKING_URI)",
    )
    artifact_location: str | None = Field(
        default=None, description="new experiments' artifact root; None: the state dir"
    )
    experiment: str | None = Field(default=None, description="None: gameline-<config name>")
    model_name: str | None = Field(default=None, description="None: gameline-<config name>")
    final_family: ModelFamily = Field(default="blend", description="the family registered")


class RecordsConfig(Section):
    """Where the records that decide or must not be lost live: the alert, retrain and audit
    logs, the gate's decisions, the predictions and the ingest manifests."""

    url: str | None = Field(
        default=None,
        description="PostgreSQL URL of a store shared by every worker; None: the state folder "
        "(env GAMELINE_RECORDS_URL)",
    )

    @field_validator("url")
    @classmethod
    def _postgres(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith("postgresql"):
            raise ValueError("the record store is PostgreSQL: a postgresql:// URL")
        return url


class GamelineConfig(Section):
    """Everything one Gameline pipeline needs; flows take this as their parameter."""

    name: str = Field(default="default", pattern=r"^[A-Za-z0-9_-]+$")
    state_dir: Path = Path(".gameline")
    data_dir: Path = Path("../shared/data")
    league: LeagueConfig
    source: SourceConfig = Field(default_factory=SourceConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    feast: FeastConfig = Field(default_factory=FeastConfig)
    records: RecordsConfig = Field(default_factory=RecordsConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    runner: RunnerConfig = Field(default_factory=RunnerConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    predict: PredictConfig = Field(default_factory=PredictConfig)
    monitor: MonitorConfig = Field(default_factory=MonitorConfig)
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    # The YAML file it was read from (absolute; None when built in code): what an event names
    # so the retrain it triggers reads the same config.
    _file: Path | None = PrivateAttr(default=None)

    @property
    def file(self) -> Path | None:
        return self._file

    @property
    def retrain_min_new_games(self) -> int:
        """Finished games a triggered retrain waits for since the champion's training: twice
        `gate.min_games`, since the gate judges a refresh on the newer half of them (fewer is a
        full training the gate must reject), or `retrain.min_new_games` where it asks for more."""
        return max(self.retrain.min_new_games or 0, 2 * self.gate.min_games)

    @model_validator(mode="before")
    @classmethod
    def _feast_project_per_config(cls, data: Any) -> Any:
        """Each config its own Feast project by default, as its MLflow names and records: two
        leagues on one registry and Redis must not share the online rows of a team code."""
        if isinstance(data, dict) and isinstance(data.get("name", "default"), str):
            feast = data.get("feast")
            if feast is None or (isinstance(feast, dict) and "project" not in feast):
                name = str(data.get("name", "default")).replace("-", "_")
                data = {**data, "feast": {**(feast or {}), "project": f"gameline_{name}"}}
        return data

    @model_validator(mode="after")
    def _market_is_two_moneyline_facts(self) -> GamelineConfig:
        market = self.train.market
        if market is None:
            if self.mlflow.final_family == "anchored" or "anchored" in self.train.models:
                raise ValueError(
                    "the anchored family starts from a market: name its home and away "
                    "moneyline features in train.market"
                )
            return self
        specs = {
            name: spec
            for source in self.features.sources
            if source.kind == "game_facts"
            for name, spec in source.features.items()
        }
        bad = [n for n in market if n not in specs or specs[n].type != "moneyline"]
        if bad or market[0] == market[1]:
            raise ValueError(
                f"train.market {market}: give the home and away moneyline features of a "
                f"game_facts source (moneyline features: "
                f"{[n for n, s in specs.items() if s.type == 'moneyline']})"
            )
        return self

    @model_validator(mode="after")
    def _source_stays_in_data_dir(self) -> GamelineConfig:
        path = self.source.path
        relative = path is not None and not path.is_absolute()
        if relative and Path(os.path.normpath(str(path))).parts[:1] == ("..",):
            raise ValueError(
                f"source.path {str(path)!r} leaves data_dir: a relative path stays inside "
                "it; give an absolute path to read a file elsewhere"
            )
        return self

    def feature_source_path(self, source: FeatureSourceConfig) -> Path | None:
        """A feature source's file (relative paths under data_dir; None: no file of its own)."""
        if source.path is None:
            return None
        return source.path if source.path.is_absolute() else self.data_dir / source.path

    def source_path(self, override: Path | None = None) -> Path | None:
        """The source file to read: the override, else the configured path under data_dir."""
        path = override or self.source.path
        if path is None:
            return None
        return path if path.is_absolute() else self.data_dir / path


ONLINE_WATERMARK = "online_watermark.json"


class StatePaths(Section):
    """Where each store lives inside the state folder."""

    root: Path

    @property
    def raw_games(self) -> Path:
        return self.root / "raw" / "games.parquet"

    @property
    def manifests(self) -> Path:
        return self.root / "manifests"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def staging(self) -> Path:
        return self.root / "staging"

    @property
    def team_features(self) -> Path:
        return self.root / "features" / "team_features.parquet"

    @property
    def team_states(self) -> Path:
        """Each team's state after each of its final games (Feast's source)."""
        return self.root / "features" / "team_states.parquet"

    def feature_source(self, name: str) -> Path:
        """A feature source's folder: its stored facts, its Feast table, its manifests."""
        return self.root / "features" / "sources" / name

    def source_facts(self, name: str) -> Path:
        """A feature source's stored facts (validated, matched to games, deduplicated)."""
        return self.feature_source(name) / "facts.parquet"

    def source_table(self, name: str) -> Path:
        """A feature source's point-in-time table: what its Feast view reads."""
        return self.feature_source(name) / "view.parquet"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def feast(self) -> Path:
        return self.root / "feast"

    @property
    def online_watermark(self) -> Path:
        """How far Feast's online store is loaded, as its last materialization recorded it."""
        return self.feast / ONLINE_WATERMARK

    @property
    def mlflow(self) -> Path:
        return self.root / "mlflow"

    @property
    def lock(self) -> Path:
        return self.root / "store.lock"

    @property
    def decisions(self) -> Path:
        """Gate decisions, one JSON file each."""
        return self.root / "registry" / "decisions"

    @property
    def audit_log(self) -> Path:
        """Every alias move, one JSON line each."""
        return self.root / "registry" / "audit.jsonl"

    @property
    def registry_snapshot(self) -> Path:
        """The models behind the aliases, recorded after each change (what `status` reads)."""
        return self.root / "registry" / "snapshot.json"

    @property
    def registry_lock(self) -> Path:
        return self.root / "registry" / "promotion.lock"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions" / "predictions.parquet"

    @property
    def training(self) -> Path:
        """Training sets, each named by its content hash."""
        return self.root / "training"

    @property
    def alert_log(self) -> Path:
        """Alerts, one JSON line each (monitoring writes them, status reads them)."""
        return self.root / "alerts" / "alerts.jsonl"

    @property
    def monitor_reports(self) -> Path:
        """Evidently drift reports (HTML) and each monitor run's result (JSON)."""
        return self.root / "reports" / "monitor"

    @property
    def retrain_log(self) -> Path:
        """Every daily run's retrain decision, one JSON line each."""
        return self.root / "registry" / "retrains.jsonl"


def state_paths(config: GamelineConfig) -> StatePaths:
    """The store layout of a config's state folder."""
    return StatePaths(root=config.state_dir)


def deep_update(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_update(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file as a mapping; with `extends: other.yaml` (relative to the file), that
    base with this file's keys merged over it, so a config states only how it differs."""
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"config file not found: {path}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"{path}: not valid YAML: {where}{problem}") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a config must be a mapping, got {type(raw).__name__}")
    base = raw.pop("extends", None)
    if base is None:
        return raw
    parent = (path.parent / str(base)).resolve()
    if parent in seen or parent == path.resolve():
        raise ValueError(f"{path}: `extends: {base}` makes a cycle")
    return deep_update(read_yaml(parent, (*seen, path.resolve())), raw)


def config_errors(exc: ValidationError) -> str:
    """Pydantic's errors as `key.path: what is wrong (got value)`, one per problem; a whole
    section's value (a rule across its fields) is not repeated back."""
    parts = []
    for error in exc.errors():
        key = ".".join(str(k) for k in error["loc"]) or "(top level)"
        shown = error["type"] != "missing" and not isinstance(error["input"], dict)
        got = f" (got {error['input']!r})" if shown else ""
        parts.append(f"{key}: {error['msg']}{got}")
    return "; ".join(parts)


def load_config(
    path: Path,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> GamelineConfig:
    """Read a YAML config (and the base it `extends`), apply `GAMELINE_*` env overrides and
    explicit overrides, validate."""
    raw = read_yaml(Path(path))
    env = os.environ if environ is None else environ
    for var, keys in ENV_OVERRIDES.items():
        if env.get(var):
            nested: dict[str, Any] = {keys[-1]: env[var]}
            for key in reversed(keys[:-1]):
                nested = {key: nested}
            raw = deep_update(raw, nested)
    try:
        config = GamelineConfig.model_validate(deep_update(raw, overrides or {}))
    except ValidationError as exc:
        raise ValueError(f"{path}: {config_errors(exc)}") from exc
    config._file = Path(path).resolve()
    return config
