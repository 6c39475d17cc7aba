"""lossk benchmarks: every registered workload against its size-matched memory limit
and its peers, at 1 and 2 threads.

    python benchmarks/bench.py [--quick] [--only SUBSTR] [--threads 1,2] [--out DIR]
    lossk bench [the same options]

Prints a Markdown table on stdout (progress goes to stderr) and writes
DIR/results.md, DIR/results.json and DIR/results.png (default DIR: the caller's,
benchmarks/results/ or ./lossk-bench). See benchmarks/README.md for the columns
and the protocol.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from . import harness, report, stream, workloads
from . import peers as peers_mod

# Loss values of peers that differ by more than this from lossk's are flagged in the
# table: a fast wrong kernel must not look like a win. (float32 CE sums in float64
# in lossk but in float32 in torch, hence not tighter.)
LOSS_RTOL = 1e-3
# Other processes using more CPUs than this (on average) before or during the run
# make the timings unreliable: the run proceeds, with a warning in the results.
BUSY_CPUS = 0.2


def import_lossk():
    """The lossk this harness belongs to (imported already, as its parent package)."""
    import lossk
    return lossk


def parse_args(argv=None, default_out: Path = Path("lossk-bench")) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smallest size of each loss only, few timed runs (CI smoke test)")
    p.add_argument("--only", metavar="SUBSTR",
                   help="only workloads whose name or loss contains SUBSTR (case-insensitive)")
    p.add_argument("--threads", default="1,2", metavar="LIST",
                   help="comma-separated thread counts (default: 1,2)")
    p.add_argument("--out", type=Path, default=default_out, metavar="DIR",
                   help=f"directory for results.{{md,json,png}} (default: {default_out})")
    p.add_argument("--list", action="store_true", help="list the selected workloads and exit")
    args = p.parse_args(argv)
    try:
        args.threads = [int(t) for t in args.threads.split(",")]
    except ValueError:
        p.error(f"--threads: expected integers like 1,2, got {args.threads!r}")
    if any(t < 1 for t in args.threads):
        p.error("--threads: thread counts must be positive")
    return args


def system_busy_s() -> float | None:
    """CPU-seconds that all CPUs together have spent busy since boot (/proc/stat;
    stolen time counts as busy: it is someone else's), or None if unknown."""
    try:
        with open("/proc/stat") as f:
            user, nice, system, idle, iowait, irq, softirq, steal = \
                (int(x) for x in f.readline().split()[1:9])
    except (OSError, ValueError):
        return None
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Contention:
    """How much CPU other processes used just before and during the run. The
    machines are shared: a busy neighbour can double a median, and the load
    average lags by minutes, so measure it directly."""

    def __init__(self, probe_s: float = 0.5) -> None:
        b0 = system_busy_s()
        time.sleep(probe_s)
        self.busy0, self.own0, self.t0 = system_busy_s(), own_cpu_s(), time.perf_counter()
        self.before = None if b0 is None else (self.busy0 - b0) / probe_s

    def during(self) -> float | None:
        """Average CPUs used by other processes since the probe."""
        busy = system_busy_s()
        if busy is None or self.busy0 is None:
            return None
        others = (busy - self.busy0) - (own_cpu_s() - self.own0)
        return max(others, 0.0) / (time.perf_counter() - self.t0)


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_case(peer, wl, inputs, n_threads, proto, base: dict) -> report.Row | None:
    """One peer on one workload at one thread count: a timed row, a row saying why
    it was not timed, or None when the peer does not apply."""
    try:
        fn = peer.runner(wl, inputs, n_threads)
        if fn is None:
            return None
        # The first call is kept out of the timing: its loss value checks the peers
        # against each other, and it is one more warm-up call.
        value = peers_mod.loss_value(fn())
        timing = harness.measure(fn, peer.protocol(proto))
    except harness.Skipped as e:
        progress(f"  {peer.name:16} skipped: {e}")
        return report.Row(**base, peer=peer.name, note=f"skipped: {e}")
    except Exception as e:  # one failing peer must not lose the rest of a long run
        progress(f"  {peer.name:16} FAILED: {e!r}")
        return report.Row(**base, peer=peer.name, note=f"error: {type(e).__name__}: {e}")
    progress(f"  {peer.name:16} {timing.median * 1e3:10.3f} ms  "
             f"(IQR {timing.iqr_pct:.1f} %, {timing.runs} runs)")
    return report.Row(**base, peer=peer.name, loss_value=value, **timing_fields(timing))


def timing_fields(timing: harness.Timing) -> dict:
    return dict(median_s=timing.median, min_s=timing.min, max_s=timing.max,
                iqr_pct=timing.iqr_pct, runs=timing.runs)


def check_losses(rows: list[report.Row]) -> None:
    """Flag peers whose loss value disagrees with lossk grad_out's."""
    ours = next((r.loss_value for r in rows if r.peer == peers_mod.LOSSK_GRAD_OUT), None)
    if ours is None:
        return
    for r in rows:
        if r.loss_value is not None and abs(r.loss_value - ours) > LOSS_RTOL * abs(ours):
            r.note = f"loss {r.loss_value:.6g} ≠ lossk {ours:.6g}"
            progress(f"  WARNING {r.workload} T={r.threads} {r.peer}: {r.note}")


def run_workload(wl, threads, kernel, peers, proto) -> tuple[list[report.Row], list[dict]]:
    """The limit and every peer of one workload at each thread count: (rows, limits)."""
    progress(f"{wl.name} ({wl.dtype}, {wl.array_bytes / 2**20:.1f} MiB): generating inputs")
    inputs = wl.inputs()
    rows, limits = [], []
    for t in threads:
        limit = stream.measure_limit(kernel, wl.pattern, wl.array_bytes, t, proto)
        limits.append({"workload": wl.name, "threads": t, **limit.as_dict()})
        label = f"limit ({wl.pattern}, {limit.best_kind})"
        progress(f" T={t} {label:21} {limit.best.median * 1e3:10.3f} ms")
        base = dict(workload=wl.name, loss=wl.loss, shape=wl.shape, dtype=wl.dtype,
                    threads=t, bytes_moved=limit.bytes_moved, limit_s=limit.best.median)
        case = [report.Row(**base, peer=label, **timing_fields(limit.best))]
        for peer in peers:
            row = run_case(peer, wl, inputs, t, proto, base)
            if row is not None:
                case.append(row)
        check_losses(case)
        rows.extend(case)
    return rows, limits


def write_outputs(out: Path, info: dict, proto, rows, limits) -> None:
    table = report.markdown(rows)
    print(table)
    header = (f"lossk benchmarks: {report.machine_summary(info)}\n\n"
              f"Stream kernel: {info['stream_kernel']['flags']}, "
              f"simd={info['stream_kernel']['simd']}. Protocol: warm-up ≥ {proto.warmup_s} s, "
              f"median of ≥ {proto.min_runs} runs (NumPy reference: ≥ "
              f"{min(proto.min_runs, peers_mod.NumpyReference.MIN_RUNS)}); total "
              f"{info['elapsed_s']:.0f} s.\n\n"
              + "".join(f"{note}\n\n" for note in info["notes"]))
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(header + table)
    report.write_json(out / "results.json", info, proto, rows, limits)
    wrote_png = report.write_png(out / "results.png", rows)
    progress(f"wrote {out}/results.md, results.json{', results.png' if wrote_png else ''}")


def main(argv=None, default_out: Path = Path("lossk-bench")) -> int:
    """default_out: where results go without --out (benchmarks/bench.py: benchmarks/results)."""
    args = parse_args(argv, default_out)
    selected = workloads.select(args.only, args.quick)
    if args.list or not selected:
        for w in selected:
            print(f"{w.name:24} {w.loss:20} {w.dtype:8} {w.pattern:5} "
                  f"{w.array_bytes / 2**20:9.1f} MiB")
        if not selected:
            print(f"no workload matches --only {args.only!r}", file=sys.stderr)
        return 0 if selected else 2

    lossk = import_lossk()
    try:
        kernel = stream.StreamKernel()
    except RuntimeError as e:   # no usable C compiler: no limit, no benchmark
        print(e, file=sys.stderr)
        return 2
    proto = harness.QUICK if args.quick else harness.DEFAULT
    peers, notes = peers_mod.available(lossk)
    if kernel.config.get("openmp") != "1":
        notes.append("stream.c built without OpenMP: multi-thread limits are serial")
    contention = Contention()
    if (contention.before or 0) > BUSY_CPUS:
        notes.append(f"WARNING: other processes used {contention.before:.1f} CPUs "
                     "before the run: timings will be noisy")
    for note in notes:
        progress(note)

    started = time.perf_counter()
    rows, limits = [], []
    for wl in selected:
        wl_rows, wl_limits = run_workload(wl, args.threads, kernel, peers, proto)
        rows += wl_rows
        limits += wl_limits
    report.fill_speedups(rows)
    during = contention.during()
    if (during or 0) > BUSY_CPUS:
        notes.append(f"WARNING: other processes used {during:.2f} CPUs on average "
                     "during the run: timings are unreliable")
        progress(notes[-1])

    info = report.machine_info(lossk, kernel, notes)
    info["elapsed_s"] = round(time.perf_counter() - started, 1)
    info["other_cpus_before"] = None if contention.before is None else round(contention.before, 2)
    info["other_cpus_during"] = None if during is None else round(during, 2)
    write_outputs(args.out, info, proto, rows, limits)
    return 1 if lossk_failures(rows) else 0


def lossk_failures(rows: list[report.Row]) -> list[report.Row]:
    """lossk's own rows that raised: a bug, not a skipped peer, so the run fails
    (CI's smoke run would otherwise pass with a broken workload in its table)."""
    failed = [r for r in rows if r.peer in (peers_mod.LOSSK_GRAD_OUT, "lossk")
              and (r.note or "").startswith("error:")]
    for r in failed:
        progress(f"FAILED: {r.workload} T={r.threads} {r.peer}: {r.note}")
    return failed


if __name__ == "__main__":
    sys.exit(main())
