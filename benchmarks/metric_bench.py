"""NT-Xent / InfoNCE / triplet: lossk vs torch autograd (the formula in torch
ops) vs pytorch-metric-learning's NTXentLoss, time and peak extra memory.

Each (method, workload) runs in its own subprocess: the inputs are made, the
process's resident size is read, then the loss and its gradients are computed
`--repeat` times after one warm-up call; the child reports the median time and
the peak extra memory (peak RSS minus the RSS before the first call; for lossk
also tracemalloc's peak of NumPy's allocations). float32, 2 threads.

    python benchmarks/metric_bench.py [--only nt_xent] [--sizes 4096,16384] [--repeat 3]
"""
import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, os, resource, statistics, sys, time, tracemalloc
import numpy as np
method, loss, n, d, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rng = np.random.default_rng(0)
arrays = [rng.standard_normal((n, d), dtype=np.float32) for _ in range(3 if loss == "triplet" else 2)]
tau = {"nt_xent": 0.5, "info_nce": 0.1, "triplet": None}[loss]

def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024

if method == "lossk":
    import lossk
    fn = {"nt_xent": lambda: lossk.nt_xent_loss(*arrays, temperature=tau, return_grad=True, n_threads=2),
          "info_nce": lambda: lossk.info_nce_loss(*arrays, temperature=tau, return_grad=True, n_threads=2),
          "triplet": lambda: lossk.triplet_margin_loss(*arrays, return_grad=True, n_threads=2)}[loss]
    run = fn
else:
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(2)
    ts = [torch.from_numpy(a).requires_grad_() for a in arrays]
    if method == "torch":
        def f():
            if loss == "nt_xent":
                z = F.normalize(torch.cat(ts), dim=1)
                s = (z @ z.T / tau).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
                out = F.cross_entropy(s, (torch.arange(2 * n) + n) % (2 * n))
            elif loss == "info_nce":
                q, k = F.normalize(ts[0], dim=1), F.normalize(ts[1], dim=1)
                out = F.cross_entropy(q @ k.T / tau, torch.arange(n))
            else:
                out = F.triplet_margin_loss(*ts)
            out.backward()
            return out
    else:  # pml
        from pytorch_metric_learning.losses import NTXentLoss
        pml = NTXentLoss(temperature=tau)
        labels = torch.arange(n)
        def f():
            out = pml(torch.cat(ts), torch.cat([labels, labels]))
            out.backward()
            return out
    def run():
        for t in ts:
            t.grad = None
        return f()

base = rss_kib()
traced = method == "lossk" and loss != "triplet"
if traced:
    tracemalloc.start()
run()
peak_traced = tracemalloc.get_traced_memory()[1] if traced else None
if traced:
    tracemalloc.stop()
times = []
for _ in range(repeat):
    t0 = time.perf_counter()
    run()
    times.append(time.perf_counter() - t0)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps(dict(method=method, loss=loss, n=n, d=d, ms=1e3 * statistics.median(times),
                      spread=[1e3 * min(times), 1e3 * max(times)],
                      peak_extra_mib=(peak - base) / 1024,
                      traced_peak_mib=None if peak_traced is None else peak_traced / 2**20)))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=None, help="nt_xent, info_nce or triplet")
    ap.add_argument("--sizes", default="4096,16384")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--methods", default="lossk,torch,pml")
    args = ap.parse_args()
    jobs = []
    for loss in ("nt_xent", "info_nce", "triplet"):
        if args.only and args.only != loss:
            continue
        sizes = [65536] if loss == "triplet" else [int(s) for s in args.sizes.split(",")]
        for n in sizes:
            for method in args.methods.split(","):
                if method == "pml" and loss != "nt_xent":
                    continue
                jobs.append((method, loss, n))
    env = dict(os.environ, OMP_NUM_THREADS="2")
    for method, loss, n in jobs:
        repeat = args.repeat if loss == "triplet" else max(1, args.repeat if n <= 4096 else args.repeat // 2)
        if loss == "triplet":
            repeat = max(args.repeat, 9)
        p = subprocess.run([sys.executable, "-c", CHILD, method, loss, str(n), "128", str(repeat)],
                           capture_output=True, text=True, env=env)
        if p.returncode:
            print(json.dumps(dict(method=method, loss=loss, n=n, error=p.stderr.strip()[-300:])), flush=True)
        else:
            print(p.stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
