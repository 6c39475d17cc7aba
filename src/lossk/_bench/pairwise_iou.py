"""Pairwise box_iou / generalized_box_iou (N x M matrices, no gradient) against
torchvision's formulas in torch ops, at 1 and 2 threads.

    python benchmarks/pairwise_iou.py [--n 4096] [--m 4096]
    python -m lossk._bench.pairwise_iou [--n 4096] [--m 4096]

Not a workload (workloads/): the harness times losses with gradients and matches the
limit to the prediction's size, while here the work is writing the N x M
output, so the table gives the output's write rate instead of a % of limit
(PERF.md: about 50 GB/s with non-temporal stores at 2 threads).
"""
from __future__ import annotations

import argparse

import numpy as np

from . import harness
from .bench import import_lossk
from .workloads.box import boxes_and_targets


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=4096)
    p.add_argument("--m", type=int, default=4096)
    args = p.parse_args(argv)
    lossk = import_lossk()
    rng = np.random.default_rng(0)
    b1, _ = boxes_and_targets(rng, (args.n, 4), np.dtype(np.float32))
    b2, _ = boxes_and_targets(rng, (args.m, 4), np.dtype(np.float32))
    try:
        import torch

        from . import box_torch
    except ImportError:
        torch = None
    out_bytes = args.n * args.m * 4
    print("| function | N×M | threads | lossk out= ms | GB/s written | lossk allocating ms "
          "| torch ms | speed-up (out=) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    buf = np.empty((args.n, args.m), np.float32)
    for name, generalized in (("box_iou", False), ("generalized_box_iou", True)):
        fn = getattr(lossk, name)
        for t in (1, 2):
            ours = harness.measure(lambda: fn(b1, b2, out=buf, n_threads=t)).median
            alloc = harness.measure(lambda: fn(b1, b2, n_threads=t)).median
            theirs = speedup = "–"
            if torch is not None:
                torch.set_num_threads(t)
                t1, t2 = torch.from_numpy(b1), torch.from_numpy(b2)
                ref = box_torch.box_iou(t1, t2, generalized).numpy()
                assert np.allclose(fn(b1, b2), ref, rtol=1e-5, atol=1e-6, equal_nan=True)
                tt = harness.measure(lambda: box_torch.box_iou(t1, t2, generalized)).median
                theirs, speedup = f"{tt * 1e3:.2f}", f"{tt / ours:.1f}×"
            print(f"| {name} | {args.n}×{args.m} | {t} | {ours * 1e3:.3f} | "
                  f"{out_bytes / ours / 1e9:.1f} | {alloc * 1e3:.3f} | {theirs} | {speedup} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
