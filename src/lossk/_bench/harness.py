"""Timing machinery shared by every benchmark row: one protocol, one statistic.

The machines this runs on are shared 2-vCPU VMs: the first parallel regions after
idle cost milliseconds (vCPU wake-up) and single runs are noisy. So every case is
warmed up for a fixed wall time before anything is timed, and the reported figure
is the median of several timed runs, with the spread alongside it.
"""
from __future__ import annotations

import gc
import math
import os
import statistics
import time
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Protocol:
    """How long to warm up and how many timed runs to take for one case."""

    warmup_s: float = 0.3      # call repeatedly for at least this long before timing
    target_s: float = 0.2      # aim for this much timed wall time per case ...
    min_runs: int = 9          # ... but never fewer runs than this
    max_runs: int = 200        # ... nor more (small cases would otherwise run ~10^5 times)
    max_call_s: float = math.inf  # a single call slower than this skips the case


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


DEFAULT = Protocol()
# CI smoke test: proves every row runs, in seconds per workload (each loss family
# adds one workload to it). Shorter warm-up and few runs: the numbers are indicative.
QUICK = Protocol(warmup_s=0.1, target_s=0.05, min_runs=5, max_runs=50)


@dataclass(frozen=True)
class Timing:
    """Statistics of the timed runs of one case, in seconds."""

    times: tuple[float, ...]

    @property
    def runs(self) -> int:
        return len(self.times)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def min(self) -> float:
        return min(self.times)

    @property
    def max(self) -> float:
        return max(self.times)

    @property
    def iqr_pct(self) -> float:
        """Interquartile range as a % of the median: the spread that ignores outliers."""
        if self.runs < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.times, n=4, method="inclusive")
        return 100.0 * (q3 - q1) / self.median

    def as_dict(self) -> dict:
        return {
            "median_s": self.median, "min_s": self.min, "max_s": self.max,
            "iqr_pct": self.iqr_pct, "runs": self.runs, "times_s": list(self.times),
        }


class Skipped(Exception):
    """A case that was not timed; the message says why (shown in the report)."""


def measure(fn: Callable[[], object], proto: Protocol = DEFAULT,
            self_timed: bool = False) -> Timing:
    """Warm up `fn`, then time it per `proto` and return the statistics.

    `fn` takes no arguments. With `self_timed`, it returns its own elapsed seconds
    (the C streaming kernel does, so that the limit excludes the ctypes call);
    otherwise each call is timed with time.perf_counter. Its return value is
    discarded at once, so an allocating peer pays for freeing its previous result
    inside the timed region, as it would in a training loop.

    Raises Skipped if a single call takes longer than proto.max_call_s.
    """
    def timed_call() -> float:
        if self_timed:
            return fn()
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    # The garbage collector would otherwise fire at arbitrary points (torch creates
    # many small objects per call) and land in a random run.
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        # Warm-up: at least one call and at least warmup_s of wall time. The last
        # call, made with the vCPUs awake and the caches warm, sizes the run count.
        start = time.perf_counter()
        while True:
            last = timed_call()
            if last > proto.max_call_s:
                raise Skipped(f"{last:.1f} s per call > {proto.max_call_s:g} s")
            if time.perf_counter() - start >= proto.warmup_s:
                break
        runs = math.ceil(proto.target_s / max(last, 1e-9))
        runs = max(proto.min_runs, min(proto.max_runs, runs))
        return Timing(tuple(timed_call() for _ in range(runs)))
    finally:
        if gc_was_enabled:
            gc.enable()
