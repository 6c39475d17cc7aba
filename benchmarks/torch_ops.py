"""The training-step cost of lossk.torch ops against torch's own losses, in one run:
forward + backward of each (fresh leaf each repeat), the fastest of interleaved
repeats (the least disturbed by other work on a shared machine).

    python benchmarks/torch_ops.py [--threads 2] [--repeats 15] [--quick]
"""
import argparse
import sys
import time

import torch
import torch.nn.functional as F

import lossk
import lossk.torch as lt


def _ce(n, c, dtype):
    x = torch.randn(n, c, dtype=dtype)
    return x, torch.randint(0, c, (n,))


def _bce(n, c, dtype):
    x = torch.randn(n, c, dtype=dtype)
    return x, (torch.rand(n, c) < 0.3).to(dtype)


def _mse(n, c, dtype):
    return torch.randn(n, c, dtype=dtype), torch.randn(n, c, dtype=dtype)


# (name, make inputs, lossk op, torch loss, sizes (n, c))
ROWS = [
    ("cross_entropy", _ce, lt.cross_entropy, F.cross_entropy, [(64, 10), (256, 1000), (4096, 1000), (16384, 1000)]),
    ("binary_cross_entropy_with_logits", _bce, lt.binary_cross_entropy_with_logits,
     F.binary_cross_entropy_with_logits, [(4096, 80), (65536, 80)]),
    ("mse_loss", _mse, lt.mse_loss, F.mse_loss, [(4096, 256), (65536, 256)]),
]


def step_time(fn, x, t):
    leaf = x.detach().requires_grad_(True)
    t0 = time.perf_counter()
    fn(leaf, t).backward()
    return time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--quick", action="store_true", help="the smallest size of each row, 3 repeats")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    lossk.set_num_threads(a.threads)
    repeats = 3 if a.quick else a.repeats
    print(f"torch {torch.__version__}, lossk {lossk.__version__}, {a.threads} threads, float32, "
          f"fastest of {repeats} interleaved forward+backward steps")
    print("| loss | size | lossk.torch (ms) | torch (ms) | torch / lossk.torch |")
    print("|---|---|---:|---:|---:|")
    for name, make, mine, theirs, sizes in ROWS:
        for n, c in sizes[:1] if a.quick else sizes:
            x, t = make(n, c, torch.float32)
            for fn in (mine, theirs):        # warm up (first-call imports, allocator)
                step_time(fn, x, t)
            tm, tt = [], []
            for _ in range(repeats):
                tm.append(step_time(mine, x, t))
                tt.append(step_time(theirs, x, t))
            m, o = min(tm), min(tt)
            print(f"| {name} | {n}x{c} | {m * 1e3:.3f} | {o * 1e3:.3f} | {o / m:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
