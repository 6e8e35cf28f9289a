"""The one adapter over Great Expectations: a list of rules (name, expectation, arguments) run
as an ephemeral suite on a frame, and the rows that broke each. Nothing else in Gameline imports
great_expectations."""

from __future__ import annotations

import gc
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

ROW = "row_index"  # the frame's column of row positions, which GE reports failing rows by

RuleSpec = tuple[str, str, dict[str, Any]]  # (rule name, GE expectation class, its kwargs)


@dataclass(frozen=True)
class RuleResult:
    """One rule's outcome: which rows (positions in the validated frame) broke it."""

    rule: str
    expectation: str
    rows: np.ndarray = field(repr=False)

    @property
    def failed(self) -> int:
        return int(self.rows.size)


def _expectation(kind: str, kwargs: dict[str, Any], rule: str, spec_index: int) -> Any:
    import great_expectations.expectations as gxe

    return getattr(gxe, kind)(**kwargs, meta={"rule": rule, "spec": spec_index})


def _suite_run(
    frame: pd.DataFrame, specs: dict[int, RuleSpec], result_format: dict[str, Any]
) -> Any:
    import great_expectations as gx
    from great_expectations.data_context.data_context.context_factory import set_context
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    # GE sets this module's logger to INFO when imported, past its package's level: each run
    # logged "Created temporary directory '/tmp/...' for ephemeral docs site" (a folder it
    # makes and removes), five lines on the console of every `gameline run`.
    logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
    # GE fingerprints every batch under 1 GB (an MD5 over pandas' hash of every value: a
    # million games 1.0 s) only to mark the batch; this suite is run once and thrown away,
    # and the input's content hash is Gameline's own (the manifest's).
    pandas_execution_engine.HASH_THRESHOLD = 0
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (
        context.data_sources.add_pandas("games_source")
        .add_dataframe_asset("games")
        .add_batch_definition_whole_dataframe("all_rows")
    )
    # The suite is stored once with all its rules (added one by one to a stored suite, each
    # addition serialises the whole suite again).
    expectations = [_expectation(kind, kw, rule, i) for i, (rule, kind, kw) in specs.items()]
    suite = context.suites.add(gx.ExpectationSuite(name="game_contract", expectations=expectations))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="game_contract_check", data=batch, suite=suite)
    )
    try:
        # GE filters its batch before most metrics, and pandas copies the whole frame even
        # for a filter that keeps every row (a million games: 0.6 s of 15 such copies, more
        # in its other steps). With copy-on-write (pandas 3's default) those copies are
        # deferred until written to, which GE never does. The option is process-wide while
        # the suite runs: Gameline's ingest runs its steps one after another.
        with pd.option_context("mode.copy_on_write", True):
            return definition.run(
                batch_parameters={"dataframe": frame}, result_format=result_format
            )
    finally:
        set_context(None)  # GE keeps the context (and through it the frame) process-wide


def run_rules(frame: pd.DataFrame, specs: list[RuleSpec]) -> list[RuleResult]:
    """Run the rules as Great Expectations suites; return the failing rows of each, in the
    order of `specs`.

    The rules that share a row condition ('status=="final"') run as one suite on the rows
    that meet it, selected once with the query GE would make (GE filters the whole frame
    again for every metric of every such rule: a million games, 13 filters, 1.1 s).
    """
    frame = rule_frame(frame, specs)
    found: dict[int, RuleResult] = {}
    try:
        for condition, group in condition_groups(specs).items():
            rows = frame if condition is None else frame.query(condition, parser="pandas")
            found.update(_run_group(rows, group))
        return [found[i] for i in range(len(specs))]
    finally:
        if len(frame) >= LARGE_FRAME:
            # GE's objects refer to each other (and to the frame) in cycles that only the
            # cycle collector frees: after a million games about 1.3 GB was still held when
            # the next stage started. A collection costs about 0.15 s whatever the frame, so
            # a small frame's cycles are left to Python's own collections.
            gc.collect()


def condition_groups(specs: list[RuleSpec]) -> dict[str | None, dict[int, RuleSpec]]:
    """The rules by their row condition (None: every row), each by its place in `specs` and
    without the condition (it selects the rows the group runs on)."""
    groups: dict[str | None, dict[int, RuleSpec]] = {}
    for i, (rule, kind, kwargs) in enumerate(specs):
        plain = {key: value for key, value in kwargs.items() if key != "row_condition"}
        groups.setdefault(kwargs.get("row_condition"), {})[i] = (rule, kind, plain)
    return groups


def _run_group(frame: pd.DataFrame, specs: dict[int, RuleSpec]) -> dict[int, RuleResult]:
    """A first pass asks only pass/fail (twice as fast, on a day's few games too); only the
    failed expectations are run again for their failing row indices."""
    first = _suite_run(frame, specs, {"result_format": "BOOLEAN_ONLY"})
    for result in first.results:  # GE does not keep the suite's order: match by meta
        _raise_if_broken(result)
    found = {
        result.expectation_config.meta["spec"]: RuleResult(
            result.expectation_config.meta["rule"],
            result.expectation_config.type,
            np.empty(0, dtype=np.int64),
        )
        for result in first.results
        if result.success
    }
    failed = {
        result.expectation_config.meta["spec"]: specs[result.expectation_config.meta["spec"]]
        for result in first.results
        if not result.success
    }
    if failed:
        details = {"result_format": "COMPLETE", "unexpected_index_column_names": [ROW]}
        second = _suite_run(frame, failed, details)
        found.update({r.expectation_config.meta["spec"]: _rule_result(r) for r in second.results})
    return found


LARGE_FRAME = 100_000  # frames from this many rows are collected at once after the check


BETWEEN = "ExpectColumnValuesToBeBetween"
COLUMN_ARGUMENTS = ("column", "column_A", "column_B")


def rule_frame(frame: pd.DataFrame, specs: list[RuleSpec]) -> pd.DataFrame:
    """The frame Great Expectations checks, made in one copy:
    - only the columns the rules read (and the row positions): GE copies its whole batch for
      every rule with a row condition or nulls to skip (1M games: 36 columns copied 34 times,
      5 s);
    - the numbers a range rule checks as NumPy floats (NaN where missing): GE compares those
      in one vectorised step, but pandas' nullable Int64 / Float64 value by value in Python
      (1M games: 8M calls, 10 s). Missing stays missing: GE skips nulls either way;
    - consolidated (a block per dtype): every filter GE makes of a frame of scattered blocks
      merges them again (1M games: 188 merges, 2 s)."""
    wanted = {kwargs[key] for _, _, kwargs in specs for key in COLUMN_ARGUMENTS if key in kwargs}
    for _, _, kwargs in specs:  # a row condition reads its column: 'status=="final"'
        if "row_condition" in kwargs:
            wanted.add(re.split(r"\s*[=!<>]", kwargs["row_condition"], maxsplit=1)[0].strip())
    columns = [c for c in frame.columns if c in wanted or c == ROW]
    floats = {
        kwargs["column"]
        for _, kind, kwargs in specs
        if kind == BETWEEN
        and isinstance(frame[kwargs["column"]].dtype, pd.api.extensions.ExtensionDtype)
        and pd.api.types.is_numeric_dtype(frame[kwargs["column"]].dtype)
    }
    return pd.DataFrame(
        {
            c: frame[c].to_numpy(dtype="float64", na_value=np.nan) if c in floats else frame[c]
            for c in columns
        },
        index=frame.index,
    )


def _raise_if_broken(result: Any) -> None:
    if result.exception_info and result.exception_info.get("raised_exception"):
        rule = result.expectation_config.meta["rule"]
        message = result.exception_info.get("exception_message")
        raise RuntimeError(f"rule {rule!r} could not run: {message}")


def _rule_result(result: Any) -> RuleResult:
    _raise_if_broken(result)
    config = result.expectation_config
    failing = [item[ROW] for item in result.result.get("unexpected_index_list") or []]
    return RuleResult(
        rule=config.meta["rule"],
        expectation=config.type,
        rows=np.unique(np.asarray(failing, dtype=np.int64)),
    )
