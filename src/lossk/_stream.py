"""What a loss streamed in chunks of rows needs, shared by `lossk eval`
(_eval.py, one process) and lossk.dask (a Dask graph): which arrays are cut
with the rows, what each chunk's mean divides by, and how the chunks' float64
sums and divisors become the whole arrays' value.

Each chunk gives its ``"sum"`` and divisor (``_registry.SPECS[name].mean``),
as the float64 sums of the kernel's blocks (call_blocks, divisor_blocks); all
chunks' block sums are added in float64, left to right, as the kernels combine
their blocks, so chunks of whole blocks give the in-memory value bit for bit
(IEEE arithmetic: sums that overflow give inf, +inf and -inf NaN, as the
in-memory call does, where math.fsum would raise).
"""
import math

import numpy as np

from ._checks import broadcast_shapes


def row_axis(kind, pred):
    """True if the prediction has rows to stream: a class axis (1) or the box
    coordinates (-1) must stay whole."""
    return pred.ndim >= (1 if kind == "elements" else 2)


def follows_rows(arr, pred, kind, is_target):
    """True if `arr` (a NumPy or Dask array) holds one entry per row of `pred`
    (it is cut with it); False if it applies whole to every chunk (class
    weights, or an array that broadcasts along pred's rows). Broadcasting aligns
    trailing axes, so an array of fewer dimensions than pred is whole, except a
    class-index target, which has pred's dimensions without the class axis."""
    if not (hasattr(arr, "ndim") and hasattr(arr, "shape")) or arr.ndim == 0 or arr.shape[0] != pred.shape[0]:
        return False
    if is_target and kind in ("samples", "weight[target]", "alpha[target]"):
        return arr.ndim >= pred.ndim - 1
    return arr.ndim == pred.ndim


def _dtype(arr):
    dt = getattr(arr, "dtype", None)
    return np.dtype(dt) if dt is not None else np.asarray(arr).dtype


def shape_only(kind, target):
    """True if `kind`'s divisor follows from the arrays' shapes alone (not from
    the class-index targets' values)."""
    return kind in ("elements", "boxes", "samples") or _dtype(target).kind == "f"


def divisor(kind, pred, target, options):
    """What `kind`'s mean divides by, for these (chunk) arrays. For the shape-only
    kinds, `pred` and `target` may be anything with a shape (e.g. Dask chunks)."""
    if kind == "elements":
        return math.prod(broadcast_shapes(pred.shape, np.shape(target), "pred", "target"))
    if kind == "boxes":
        return math.prod(pred.shape[:-1])
    if len(pred.shape) >= 2 and pred.shape[1] == 0:
        return 0            # no class: the kernels' mean is NaN (the caller's divisor-0 case)
    samples = math.prod(pred.shape[:1] + pred.shape[2:]) if len(pred.shape) >= 2 else 1
    if kind == "samples" or _dtype(target).kind == "f":   # probability targets
        return samples
    t = np.asarray(target).reshape(-1)
    kept = t[t != options.get("ignore_index", -100)]
    weight = options.get("weight" if kind == "weight[target]" else "alpha")
    if weight is None:
        return kept.size
    return float(np.sum(np.asarray(weight, np.float64)[kept]))   # inf and NaN weights propagate


TARGET_BLOCK = 16384   # samples a block when the kernels add the kept targets' weights (csrc/core/common.c)


def divisor_blocks(kind, pred, target, options):
    """divisor() as float64 parts whose left-to-right fold is it: for the
    class-weight kinds with weights, the kernels' own parts (each block of
    TARGET_BLOCK samples adds its kept targets' weights left to right), so
    that chunks of whole blocks fold to the in-memory divisor bit for bit;
    otherwise one part (a count: exact)."""
    weight = options.get("weight" if kind == "weight[target]" else "alpha")
    if (kind not in ("weight[target]", "alpha[target]") or weight is None or _dtype(target).kind == "f"
            or (len(pred.shape) >= 2 and pred.shape[1] == 0)):
        return np.array([float(divisor(kind, pred, target, options))])
    t = np.asarray(target).reshape(-1)
    w = np.asarray(weight, np.float64)
    kept = t != options.get("ignore_index", -100)
    vals = np.zeros(-(-t.size // TARGET_BLOCK) * TARGET_BLOCK)
    vals[:t.size][kept] = w[t[kept]]             # an ignored target adds +0.0: no change
    return np.add.accumulate(vals.reshape(-1, TARGET_BLOCK), axis=1)[:, -1] if vals.size else vals


def call_blocks(call):
    """``(result, parts)``: call() (a lossk function with reduction="sum") and
    the float64 block sums that its kernel added left to right into the value
    (lossk.h: lossk_block_sums), so that a chunk of whole blocks contributes
    exactly the in-memory call's additions; ``[value]`` when the kernel gives
    none that fold to it (several accumulators, a value computed afterwards,
    backend="numpy")."""
    from . import _kernels
    _kernels.block_sums_record(True)
    try:
        result = call()
        parts = _kernels.block_sums()
    finally:
        _kernels.block_sums_record(False)
    s = np.asarray(result[0] if isinstance(result, tuple) else result)
    if parts is not None:
        total = np.asarray(fold(parts)).astype(s.dtype)
        if total == s or (np.isnan(total) and np.isnan(s)):
            return result, parts
    return result, np.array([float(s)])


def fold(values):
    """Float64 values added left to right (not pairwise: the kernels' block order)."""
    total = 0.0
    for v in values:
        total += float(v)
    return total


def value(reduction, total, div, rows, first_row_mean):
    """The whole arrays' loss from the chunks' folded sum `total` and divisor
    `div` (float64): `rows` is pred's length (batchmean's divisor);
    first_row_mean() the loss's own "mean" of its first row, which is the value
    when there is nothing to divide by (NaN, or 0 for boxes)."""
    if reduction == "sum":
        return total
    if reduction == "batchmean":
        return total / rows
    if div == 0 and total == 0:
        return float(first_row_mean())
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(total) / div)   # IEEE: x / 0 is +-inf (weights summing to 0)
