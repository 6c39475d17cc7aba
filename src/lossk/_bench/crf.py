"""The linear-chain CRF against pytorch-crf 0.7.2, in one run: the NLL's forward
+ its four gradients (pytorch-crf: CRF.forward + autograd backward) and Viterbi
decoding (pytorch-crf: CRF.decode), float32, at issue 23's sizes.

    python benchmarks/crf.py [--threads 2] [--sizes 64x128x32,256x64x9]
    python -m lossk._bench.crf ...

Not only a workload (workloads/crf.py has the NLL rows of `lossk bench`): decode
is not a loss (no gradient, no limit), so it is timed here, beside the NLL, so
that both ratios come from the same run.
"""
from __future__ import annotations

import argparse

import numpy as np

from . import harness
from .bench import import_lossk
from .workloads.crf import crf_problem, torch_crf_nll


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sizes", default="64x128x32,256x64x9", help="BxTxK,...")
    args = p.parse_args(argv)
    lossk = import_lossk()
    import torch
    import torchcrf
    torch.set_num_threads(args.threads)
    print(f"| B×T×K | threads | lossk NLL+grads ms (grad_out) | lossk allocating ms | pytorch-crf fwd+bwd ms "
          f"| speed-up | lossk decode ms | pytorch-crf decode ms | speed-up |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in args.sizes.split(","):
        shape = tuple(int(v) for v in size.split("x"))
        em, tags, tr, st, en = crf_problem(np.random.default_rng(0), shape, np.dtype(np.float32))
        t = args.threads
        outs = tuple(np.empty_like(a) for a in (em, tr, st, en))
        ours = harness.measure(lambda: lossk.crf_nll_loss(em, tags, tr, st, en, return_grad=True,
                                                           grad_out=outs, n_threads=t)).median
        alloc = harness.measure(lambda: lossk.crf_nll_loss(em, tags, tr, st, en, return_grad=True,
                                                            n_threads=t)).median
        tensors = [torch.from_numpy(a) for a in (em, tags, tr, st, en)]
        diff = [tensors[i].requires_grad_() for i in (0, 2, 3, 4)]

        def peer():
            for x in diff:
                x.grad = None
            torch_crf_nll(*tensors).backward()

        theirs = harness.measure(peer).median
        loss, _ = lossk.crf_nll_loss(em, tags, tr, st, en, return_grad=True, n_threads=t)
        assert np.isclose(loss, torch_crf_nll(*tensors).item(), rtol=1e-5)
        dec = harness.measure(lambda: lossk.crf_decode(em, tr, st, en, n_threads=t)).median
        crf = torchcrf.CRF(shape[2], batch_first=True)
        with torch.no_grad():
            for name, v in (("transitions", tr), ("start_transitions", st), ("end_transitions", en)):
                getattr(crf, name).copy_(torch.from_numpy(v))
        em_t = torch.from_numpy(em)
        with torch.no_grad():
            dec_peer = harness.measure(lambda: crf.decode(em_t)).median
            paths, _ = lossk.crf_decode(em, tr, st, en, n_threads=t)
            assert paths.tolist() == crf.decode(em_t)
        print(f"| {size} | {t} | {ours * 1e3:.3f} | {alloc * 1e3:.3f} | {theirs * 1e3:.2f} | "
              f"{theirs / ours:.1f}× | {dec * 1e3:.3f} | {dec_peer * 1e3:.2f} | {dec_peer / dec:.1f}× |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
