"""linear_cross_entropy against the three matrix products alone (the BLAS floor,
NumPy's BLAS, in the same run) and torch's F.linear + F.cross_entropy + backward,
float32, and the peak extra memory of each (a fresh subprocess per measurement:
peak RSS minus the RSS with the inputs and the gradient buffers in place).

    python benchmarks/linear_ce.py [--quick] [--rows quick,full,slow] [--reps 3] [--threads 2]
                                   [--no-torch] [--no-memory]

--quick runs one small shape; the default runs "quick" and "full"; "slow"
(8192×2048→128256) needs minutes and, for torch, more memory than it may have:
it runs only when named, each method in its own subprocess (time and peak
memory of one call, --reps calls), so that torch being killed for memory
cannot end the benchmark.
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
if glob.glob(str(SRC / "lossk" / "_kernels*.so")):
    sys.path.insert(0, str(SRC))

import numpy as np  # noqa: E402

import lossk  # noqa: E402
from lossk._bench.workloads.linear import SHAPES, lm_head_inputs  # noqa: E402

SHAPES = dict(SHAPES, tiny=(1024, 512, 8192))


def inputs(n, d, v):
    return lm_head_inputs(v)(np.random.default_rng(0), (n, d), np.dtype(np.float32))


def runners(name, h, w, t, threads):
    """A zero-argument callable doing one forward + backward, and the bytes of
    the gradients it returns (allocated by torch: not 'extra' memory)."""
    n, d = h.shape
    v = w.shape[0]
    if name == "lossk":
        bufs = (np.zeros_like(h), np.zeros_like(w))
        return (lambda: lossk.linear_cross_entropy(h, w, t, return_grad=True, grad_out=bufs, n_threads=threads)), 0
    if name == "gemms":   # the three products alone, unchunked, outputs reused
        logits, dh, dw = np.empty((n, v), np.float32), np.zeros_like(h), np.zeros_like(w)

        def gemms():
            np.matmul(h, w.T, out=logits)
            np.matmul(logits, w, out=dh)
            np.matmul(logits.T, h, out=dw)
        return gemms, 0
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    ht, wt, tt = torch.from_numpy(h).requires_grad_(), torch.from_numpy(w).requires_grad_(), torch.from_numpy(t)

    def torch_call():
        ht.grad = wt.grad = None
        F.cross_entropy(F.linear(ht, wt), tt).backward()
    return torch_call, (n * d + v * d) * 4


def _rss(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def memory_child(name, shape, threads):
    h, w, t = inputs(*shape)
    call, returned = runners(name, h, w, t, threads)
    base = _rss("VmRSS")
    call()
    print(json.dumps({"extra": _rss("VmHWM") - base - returned}))


def isolated_child(name, shape, threads, reps):
    """The peak extra memory of the first call and the times of `reps` more."""
    h, w, t = inputs(*shape)
    call, returned = runners(name, h, w, t, threads)
    base = _rss("VmRSS")
    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    extra = _rss("VmHWM") - base - returned
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    print(json.dumps({"extra": extra, "first": first, "times": times}))


def _child(func, *args):
    code = (f"import sys; sys.argv = ['x']; sys.path.insert(0, {str(HERE)!r}); import linear_ce; "
            f"linear_ce.{func}{tuple(args)!r}")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=6 * 3600)
    if out.returncode != 0:
        err = out.stderr.strip().splitlines()
        return f"failed (exit {out.returncode}: {err[-1] if err else 'killed, no message: out of memory?'})"
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak_extra(name, shape, threads):
    got = _child("memory_child", name, tuple(shape), threads)
    return got if isinstance(got, str) else got["extra"]


def isolated_row(row, shape, names, args):
    n, d, v = shape
    print(f"\n{row}: N={n} D={d} V={v} float32, each method in its own subprocess, one call for the "
          f"peak memory then {args.reps} timed; load average before: {os.getloadavg()[0]:.2f}")
    for name in names:
        got = _child("isolated_child", name, tuple(shape), args.threads, args.reps)
        if isinstance(got, str):
            print(f"  {name:6s} {got}")
        else:
            ts = got["times"] or [got["first"]]
            print(f"  {name:6s} median {statistics.median(ts):8.3f} s  (first call {got['first']:.3f}, "
                  f"times {', '.join(f'{x:.3f}' for x in ts)}), peak extra memory {got['extra'] / 2**20:9.1f} MiB"
                  f"  load {os.getloadavg()[0]:.2f}")
        sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rows", default="quick,full")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    args = ap.parse_args()
    rows = ["tiny"] if args.quick else args.rows.split(",")
    names = ["gemms", "lossk"] + ([] if args.no_torch else ["torch"])
    print(f"load average before: {os.getloadavg()}; CPUs: {os.cpu_count()}; threads: {args.threads}; "
          f"BLAS threads: NumPy's default (OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')})")
    for row in rows:
        shape = SHAPES[row]
        if row == "slow":
            isolated_row(row, shape, names, args)
            continue
        h, w, t = inputs(*shape)
        calls = {}
        for name in names:
            try:
                calls[name] = runners(name, h, w, t, args.threads)[0]
                calls[name]()                                   # warm-up (page faults, thread wake-up)
            except (MemoryError, RuntimeError) as e:
                calls[name] = None
                print(f"{row} {name}: cannot run ({type(e).__name__}: {e})")
        times = {name: [] for name in calls if calls[name] is not None}
        for _ in range(args.reps):                              # interleaved: the same load for each
            for name in times:
                t0 = time.perf_counter()
                calls[name]()
                times[name].append(time.perf_counter() - t0)
        del calls
        med = {name: statistics.median(ts) for name, ts in times.items()}
        n, d, v = shape
        print(f"\n{row}: N={n} D={d} V={v} float32, {args.reps} interleaved reps, "
              f"load average after: {os.getloadavg()[0]:.2f}")
        for name, ts in times.items():
            ratio = f"  {med[name] / med['gemms']:.3f}x the products" if "gemms" in med else ""
            vs_torch = f", {med[name] / med['torch']:.3f}x torch" if "torch" in med else ""
            print(f"  {name:6s} median {med[name]:8.3f} s  (min {min(ts):.3f}, max {max(ts):.3f}){ratio}{vs_torch}")
        if not args.no_memory:
            for name in names:
                extra = peak_extra(name, shape, args.threads)
                mib = f"{extra / 2**20:9.1f} MiB" if isinstance(extra, int) else extra
                print(f"  {name:6s} peak extra memory {mib}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
