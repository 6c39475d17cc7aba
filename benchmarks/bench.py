"""lossk benchmarks: every registered workload against its size-matched memory limit
and its peers, at 1 and 2 threads.

    python benchmarks/bench.py [--quick] [--only SUBSTR] [--threads 1,2] [--out DIR]

Prints a Markdown table on stdout (progress goes to stderr) and writes
DIR/results.md, DIR/results.json and DIR/results.png (default DIR:
benchmarks/results/). See benchmarks/README.md for the columns and the protocol.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

import harness
import peers as peers_mod
import report
import stream
import workloads

HERE = Path(__file__).resolve().parent
# Loss values of peers that differ by more than this from lossk's are flagged in the
# table: a fast wrong kernel must not look like a win. (float32 CE sums in float64
# in lossk but in float32 in torch, hence not tighter.)
LOSS_RTOL = 1e-3


def import_lossk():
    """`import lossk`, else the in-place build in the repo's src/ (so the benchmarks
    run after `python setup.py build_ext --inplace` without setting PYTHONPATH)."""
    try:
        return importlib.import_module("lossk")
    except ImportError:
        sys.path.insert(0, str(HERE.parent / "src"))
        return importlib.import_module("lossk")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smallest size of each loss only, few timed runs (CI smoke test)")
    p.add_argument("--only", metavar="SUBSTR",
                   help="only workloads whose name or loss contains SUBSTR (case-insensitive)")
    p.add_argument("--threads", default="1,2", metavar="LIST",
                   help="comma-separated thread counts (default: 1,2)")
    p.add_argument("--out", type=Path, default=HERE / "results", metavar="DIR",
                   help="directory for results.{md,json,png} (default: benchmarks/results)")
    p.add_argument("--list", action="store_true", help="list the selected workloads and exit")
    args = p.parse_args(argv)
    try:
        args.threads = [int(t) for t in args.threads.split(",")]
    except ValueError:
        p.error(f"--threads: expected integers like 1,2, got {args.threads!r}")
    if any(t < 1 for t in args.threads):
        p.error("--threads: thread counts must be positive")
    return args


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_case(peer, wl, inputs, n_threads, proto, base: dict) -> report.Row | None:
    """One peer on one workload at one thread count: a timed row, a skipped row, or
    None when the peer does not apply."""
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
    progress(f"  {peer.name:16} {timing.median * 1e3:10.3f} ms  "
             f"(IQR {timing.iqr_pct:.1f} %, {timing.runs} runs)")
    return report.Row(**base, peer=peer.name, median_s=timing.median, min_s=timing.min,
                      max_s=timing.max, iqr_pct=timing.iqr_pct, runs=timing.runs,
                      loss_value=value)


def check_losses(rows: list[report.Row]) -> None:
    """Flag peers whose loss value disagrees with lossk grad_out's."""
    ours = next((r.loss_value for r in rows if r.peer == peers_mod.LOSSK_GRAD_OUT), None)
    if ours is None:
        return
    for r in rows:
        if r.loss_value is not None and abs(r.loss_value - ours) > LOSS_RTOL * abs(ours):
            r.note = f"loss {r.loss_value:.6g} ≠ lossk {ours:.6g}"
            progress(f"  WARNING {r.workload} T={r.threads} {r.peer}: {r.note}")


def main(argv=None) -> int:
    args = parse_args(argv)
    selected = workloads.select(args.only, args.quick)
    if args.list or not selected:
        for w in selected:
            print(f"{w.name:24} {w.loss:20} {w.dtype:8} {w.pattern:5} "
                  f"{w.array_bytes / 2**20:9.1f} MiB")
        if not selected:
            print(f"no workload matches --only {args.only!r}", file=sys.stderr)
        return 0 if selected else 2

    try:
        lossk = import_lossk()
    except ImportError as e:
        print(f"cannot import lossk ({e}): build it first (python setup.py build_ext "
              "--inplace) or set PYTHONPATH", file=sys.stderr)
        return 2
    kernel = stream.StreamKernel()
    proto = harness.QUICK if args.quick else harness.DEFAULT
    peers, notes = peers_mod.available(lossk)
    for note in notes:
        progress(note)
    if kernel.config.get("openmp") != "1":
        notes.append("stream.c built without OpenMP: multi-thread limits are serial")
        progress(notes[-1])

    started = time.perf_counter()
    rows: list[report.Row] = []
    limits: list[dict] = []
    for wl in selected:
        progress(f"{wl.name} ({wl.dtype}, {wl.array_bytes / 2**20:.1f} MiB): generating inputs")
        inputs = wl.inputs()
        for t in args.threads:
            limit = stream.measure_limit(kernel, wl.pattern, wl.array_bytes, t, proto)
            limits.append({"workload": wl.name, "threads": t, **limit.as_dict()})
            base = dict(workload=wl.name, loss=wl.loss, shape=wl.shape, dtype=wl.dtype,
                        threads=t, bytes_moved=limit.bytes_moved, limit_s=limit.best.median)
            progress(f" T={t} limit ({wl.pattern}, {limit.best_kind}) "
                     f"{limit.best.median * 1e3:10.3f} ms")
            case = [report.Row(**base, peer=f"limit ({wl.pattern}, {limit.best_kind})",
                               median_s=limit.best.median, min_s=limit.best.min,
                               max_s=limit.best.max, iqr_pct=limit.best.iqr_pct,
                               runs=limit.best.runs)]
            for peer in peers:
                row = run_case(peer, wl, inputs, t, proto, base)
                if row is not None:
                    case.append(row)
            check_losses(case)
            rows.extend(case)
        del inputs   # the largest workloads take 0.5 GiB per array
    report.fill_speedups(rows)
    elapsed = time.perf_counter() - started

    info = report.machine_info(lossk, kernel, notes)
    info["elapsed_s"] = round(elapsed, 1)
    table = report.markdown(rows)
    header = (f"lossk benchmarks: {report.machine_summary(info)}\n\n"
              f"Stream kernel: {kernel.describe()['flags']}, simd={kernel.config['simd']}. "
              f"Protocol: warm-up ≥ {proto.warmup_s} s, median of ≥ {proto.min_runs} runs "
              f"(NumPy reference: ≥ {peers_mod.NumpyReference.MIN_RUNS}); "
              f"total {elapsed:.0f} s.\n\n")
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.md").write_text(header + table)
    report.write_json(args.out / "results.json", info, proto, rows, limits)
    wrote_png = report.write_png(args.out / "results.png", rows)
    progress(f"wrote {args.out}/results.md, results.json"
             f"{', results.png' if wrote_png else ''} ({elapsed:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
