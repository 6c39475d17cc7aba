"""lossk.dask and `lossk eval --scheduler` on one machine: sigmoid focal loss
(float32, with its gradient for the in-memory and threaded rows) over an array
4x larger than one chunk. Prints time and peak memory (the worker processes'
peak RSS for the cluster rows) per run; repeat it, the machine is shared.

    python benchmarks/dask_eval.py [--rows 4096] [--cols 4096] [--chunks 4] [--repeat 3]
"""
import argparse
import logging
import os
import resource
import tempfile
import time

import numpy as np


def peak_rss_mib():
    """This process's peak RSS (VmHWM: unlike ru_maxrss, not inherited across exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--cols", type=int, default=4096)
    ap.add_argument("--chunks", type=int, default=4, help="the array is this many chunks of rows")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import dask
    import dask.array as da
    import distributed

    import lossk
    import lossk.dask as ld
    from lossk._eval import evaluate, evaluate_dask

    rng = np.random.default_rng(0)
    x = (3 * rng.standard_normal((args.rows, args.cols))).astype(np.float32)
    t = (rng.random(x.shape) < 0.3).astype(np.float32)
    chunk = args.rows // args.chunks
    mib = x.nbytes / 2**20
    print(f"sigmoid_focal_loss float32 {x.shape}: {mib:.0f} MiB of pred (+ the same of target), "
          f"{args.chunks} chunks of {chunk} rows ({mib / args.chunks:.0f} MiB); {os.cpu_count()} cores")
    rows = []
    sec, ref = best(lambda: lossk.sigmoid_focal_loss(x, t, return_grad=True), args.repeat)
    rows.append(("in memory, lossk default threads, loss+grad", sec, None))
    dx, dt = da.from_array(x, chunks=(chunk, -1)), da.from_array(t, chunks=(chunk, -1))
    sec, got = best(lambda: dask.compute(*ld.sigmoid_focal_loss(dx, dt, return_grad=True), scheduler="threads"),
                    args.repeat)
    assert abs(got[0] - ref[0]) <= 1e-5 * abs(ref[0]) and np.allclose(got[1], ref[1], rtol=1e-5, atol=1e-6)
    rows.append(("lossk.dask threads (1 lossk thread a task), loss+grad", sec, None))
    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "x.npy"), x)
        np.save(os.path.join(tmp, "t.npy"), t)
        xm, tm = np.load(os.path.join(tmp, "x.npy"), mmap_mode="r"), np.load(os.path.join(tmp, "t.npy"), mmap_mode="r")
        sec, plain = best(lambda: evaluate("sigmoid_focal_loss", xm, tm, chunk_rows=chunk), args.repeat)
        rows.append(("lossk eval (one process, memory-mapped)", sec, None))
        sec, thr = best(lambda: evaluate_dask("sigmoid_focal_loss", xm, tm, scheduler="threads", chunk_rows=chunk),
                        args.repeat)
        assert thr == plain
        rows.append(("lossk eval --scheduler threads", sec, None))
        with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1, dashboard_address=None,
                                      host="127.0.0.1", silence_logs=logging.CRITICAL) as cluster, \
                distributed.Client(cluster) as client:
            client.run(lambda: __import__("lossk.dask"))
            base = client.run(peak_rss_mib)
            sec, dist = best(lambda: evaluate_dask("sigmoid_focal_loss", xm, tm, scheduler=cluster.scheduler_address,
                                                   chunk_rows=chunk), args.repeat)
            assert dist == plain
            from lossk._eval import _NpyFile
            fx = da.from_array(_NpyFile(xm), chunks=(chunk, -1), asarray=True, lock=False, fancy=False)
            ft = da.from_array(_NpyFile(tm), chunks=(chunk, -1), asarray=True, lock=False, fancy=False)
            sec2, _ = best(lambda: client.compute(ld.sigmoid_focal_loss(fx, ft)).result(), args.repeat)
            peak = client.run(peak_rss_mib)
            per_worker = ", ".join(f"{peak[w]:.0f} MiB (at start {base[w]:.0f})" for w in sorted(peak))
            rows.append(("lossk eval --scheduler ADDRESS (2 worker processes x 1 thread; connects a client)",
                         sec, per_worker))
            rows.append(("lossk.dask on that cluster, client connected, chunks read from the files", sec2, None))
    print(f"this process's peak RSS: {peak_rss_mib():.0f} MiB (holds x, t and the in-memory gradient)")
    print("| run | seconds (best of %d) | peak RSS per worker |" % args.repeat)
    print("| --- | ---: | --- |")
    for name, sec, mem in rows:
        print(f"| {name} | {sec:.3f} | {mem or '-'} |")


if __name__ == "__main__":
    main()
