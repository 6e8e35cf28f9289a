"""The policies of a replay, one after another or at once: in local processes (up to
`runner.workers` of them, one policy each) or on a Dask cluster (`runner.kind: dask` with an
address). A policy's replay depends only on the shared timeline, so the results are the same
either way; run at once, each policy measures the initial champion for itself where the serial
run shares those monitor results.

Progress is reported as (policy, days done, days in all, retrains so far), from the worker
processes through a queue (each policy's last report is in before its result is returned); from
a Dask cluster, as each policy finishes.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queues
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gameline.tasks.config import RunnerConfig

if TYPE_CHECKING:  # a worker imports them after `_start_worker` has quieted it
    from gameline.tasks.monitoring.monitor import MonitorResult
    from gameline.tasks.replay.engine import Policy, PolicyRun, Timeline

# (policy, days done, days in all, retrains so far)
Progress = Callable[[str, int, int, int], None]

_QUEUE: Any = None  # a worker process's progress queue (set by its initializer)


def run_policies(
    timeline: Timeline,
    policies: list[Policy],
    runner: RunnerConfig,
    progress: Progress | None = None,
) -> list[PolicyRun]:
    """Each policy's replay, in `policies` order."""
    if runner.kind == "dask" and runner.dask_address:
        return _on_dask(timeline, policies, runner.dask_address, progress)
    from gameline.tasks.replay.engine import replay_policy

    workers = at_once(runner, len(policies))
    if workers <= 1:
        cache: dict[datetime, MonitorResult] = {}
        return [
            replay_policy(timeline, policy, cache, _reporter(progress, policy, timeline))
            for policy in policies
        ]
    return _in_processes(timeline, policies, workers, progress)


def at_once(runner: RunnerConfig, policies: int) -> int:
    """How many policies run at the same time (a Dask cluster: all of them)."""
    if runner.kind == "dask" and runner.dask_address:
        return policies
    return max(1, min(runner.workers, policies))


def _reporter(
    progress: Progress | None, policy: Policy, timeline: Timeline
) -> Callable[[int, int], None] | None:
    """`replay_policy`'s progress callback for one policy, reporting to `progress`."""
    if progress is None:
        return None
    total = len(timeline.times)
    return lambda done, retrains: progress(policy, done, total, retrains)


def _start_worker(queue: Any) -> None:
    """A worker process's set-up, before it imports the replay (and the libraries it needs):
    its progress queue, and quiet warnings where the command that started it is quiet (it
    says so in PYTHONWARNINGS; a library that resets the filters cannot undo this)."""
    global _QUEUE
    _QUEUE = queue
    if os.environ.get("PYTHONWARNINGS") == "ignore":
        warnings.showwarning = lambda *args, **kwargs: None


def _replay_in_worker(timeline: Timeline, policy: Policy) -> PolicyRun:
    """One policy in a worker process, its progress put on the process's queue."""
    from gameline.tasks.replay.engine import replay_policy

    if _QUEUE is None:
        return replay_policy(timeline, policy, {})

    def queued(*item: object) -> None:
        _QUEUE.put(item)

    try:
        return replay_policy(timeline, policy, {}, _reporter(queued, policy, timeline))
    finally:
        _QUEUE.put((policy,))  # the policy's last item: every report of it is before this


def _in_processes(
    timeline: Timeline, policies: list[Policy], workers: int, progress: Progress | None
) -> list[PolicyRun]:
    """The policies in `workers` fresh processes (spawned: a forked copy of a process that has
    used LightGBM's OpenMP threads can hang), the timeline pickled to each."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_start_worker, initargs=(queue,)
    ) as pool:
        futures = [pool.submit(_replay_in_worker, timeline, policy) for policy in policies]
        # A worker's queue is fed by a thread of its own, so a result can arrive before the
        # reports put ahead of it: wait for each policy's last item, not only its result
        # (unless a policy failed: a worker that died sends nothing more).
        unfinished = len(futures)
        while unfinished:
            unfinished -= _drain(queue, progress, wait_s=0.2)
            if all(f.done() for f in futures) and any(f.exception() for f in futures):
                break
        return [f.result() for f in futures]


def _drain(queue: Any, progress: Progress | None, wait_s: float) -> int:
    """Hand every progress report waiting on the queue to `progress`; the number of policies
    whose last item came."""
    finished = 0
    try:
        item = queue.get(timeout=wait_s)
        while True:
            if len(item) == 1:
                finished += 1
            elif progress is not None:
                progress(*item)
            item = queue.get_nowait()
    except queues.Empty:
        return finished


def _on_dask(
    timeline: Timeline, policies: list[Policy], address: str, progress: Progress | None
) -> list[PolicyRun]:
    """The policies as tasks on the Dask cluster at `address` (the timeline sent once)."""
    from distributed import Client, as_completed

    from gameline.tasks.replay.engine import replay_policy

    total = len(timeline.times)
    with Client(address) as client:
        [shared] = client.scatter([timeline], broadcast=True)
        futures = [
            client.submit(replay_policy, shared, policy, {}, pure=False) for policy in policies
        ]
        for future in as_completed(futures):
            run = future.result()
            if progress is not None:
                progress(run.policy, total, total, len(run.retrains))
        return [f.result() for f in futures]
