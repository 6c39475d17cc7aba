"""Numerical edges of every registered loss (tests/cases.py EDGES): saturated
logits, probabilities 0 and 1, degenerate boxes, zero distances, all-ignored
batches, infinities. For every reduction the loss has:

* the kernel equals the reference (NaN exactly where the reference has NaN);
* finite inputs (or an entry marked finite) give a finite loss ("sum",
  "none") and finite gradients;
* wherever the loss is finite, no gradient holds a NaN;
* with a PEERS entry (torch), the loss is NaN only where the peer's is, and
  equals the peer's wherever the peer's is finite.

A loss without an EDGES entry shows as skipped, so the gap is visible."""
import numpy as np
import pytest

import lossk
from awkward import call, compare, edge_call, edge_expect, edges, has_nonfinite, signature, tol_scale
from cases import PEERS
from helpers import assert_close, torch

DTYPES = (np.float32, np.float64)


def _float_inputs(args, kwargs):
    vals = list(args) + list(kwargs.values())
    vals += [x for v in args if isinstance(v, (list, tuple)) for x in v]   # a list of arrays (penalties)
    return [np.asarray(v) for v in vals if isinstance(v, np.ndarray) and v.dtype.kind == "f"]


def _calls(name, dtype, with_grad):
    """(description, entry, args, kwargs) of every EDGES entry of the loss under
    every reduction it has; skips the test when the loss has no EDGES."""
    entries = edges(name, dtype)
    if not entries:
        pytest.skip(f"tests/cases.py has no EDGES[{name!r}]: its numerical edges are untested")
    sig = signature(name)
    for i, entry in enumerate(entries):
        args, kwargs = edge_call(entry)
        reds = ("none", "sum", "mean") if "reduction" in sig.keyword else (None,)
        # the reductions the loss has (rmse_loss: only "mean")
        for red in (r for r in reds if r is None or r in lossk._registry.SPECS[name].reductions):
            kw = dict(kwargs)
            if red is not None:
                kw.setdefault("reduction", red)
            if with_grad and sig.has_grad:
                kw["return_grad"] = True
            yield f"EDGES[{i}] reduction={kw.get('reduction')}", entry, args, kw


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", sorted(lossk.LOSSES))
def test_edges(name, dtype):
    failures = []
    for where, entry, args, kw in _calls(name, dtype, with_grad=True):
        finite_inputs = all(np.isfinite(a).all() for a in _float_inputs(args, kw))
        must_be_finite = edge_expect(entry).get("finite", finite_inputs)
        k = call(name, "c", args, kw)
        r = call(name, "numpy", args, kw)
        if k.error is not None:
            failures.append(f"{where}: the kernel raised {k.describe()}")
            continue
        if r.error is not None:
            failures.append(f"{where}: the reference raised {r.describe()}")
            continue
        diff = compare(k.value, r.value, "kernel vs reference", nonfinite_grads=has_nonfinite(args, kw),
                       scale=tol_scale(name, args))
        if diff:
            failures.append(f"{where}: {diff}")
        loss, grads = k.value[0], k.value[1:]
        if must_be_finite and kw.get("reduction") != "mean":
            bad = [j for j, a in enumerate(k.value) if not np.isfinite(a).all()]
            if bad:
                failures.append(f"{where}: results {bad} are not finite for finite inputs: "
                                + " | ".join(np.array2string(k.value[j], threshold=12) for j in bad))
        if np.isfinite(loss).all():
            nan_grads = [j for j, g in enumerate(grads) if np.isnan(g).any()]
            if nan_grads:
                failures.append(f"{where}: finite loss {np.array2string(loss, threshold=12)} but a NaN "
                                f"in gradient(s) {nan_grads}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("name", sorted(lossk.LOSSES))
def test_edges_nan_only_where_the_peer_has_nan(name, dtype):
    if name not in PEERS:
        pytest.skip(f"tests/cases.py has no PEERS[{name!r}]: the edges are not compared with a peer")
    if torch is None:
        pytest.skip("torch is not installed")
    failures = []
    for where, _, args, kw in _calls(name, dtype, with_grad=False):
        peer = PEERS[name](args, kw)
        if peer is None:
            continue
        mine = call(name, "c", args, kw)
        if mine.error is not None:
            failures.append(f"{where}: the kernel raised {mine.describe()}")
            continue
        loss = mine.value[0]
        peer = np.asarray(peer)
        extra_nan = np.isnan(loss) & ~np.isnan(peer)
        if extra_nan.any():
            failures.append(f"{where}: NaN where the peer gives {peer[extra_nan] if peer.ndim else peer}")
            continue
        keep = ~np.isnan(np.atleast_1d(peer))  # where the peer has NaN, lossk may do better
        try:
            assert_close(np.atleast_1d(loss)[keep], np.atleast_1d(peer)[keep], dtype=dtype)
        except AssertionError as e:
            failures.append(f"{where}: differs from the peer: " + " ".join(str(e).split())[:400])
    assert not failures, "\n".join(failures)
