"""`lossk eval`: one loss over prediction and target arrays larger than memory.

The arrays are ``.npy`` files, memory-mapped, and go through the loss in
chunks of rows (axis 0 of the prediction). Each chunk gives its ``"sum"``;
``"mean"`` divides the sum of the chunks' sums by the sum of their divisors,
which the loss's registry entry names (``_registry.SPECS[name].mean``), so the result
is the whole arrays' mean however they are cut. Each chunk's sum comes back
rounded to the prediction's dtype (the kernels add in double); the chunks' sums
add in double, left to right in chunk order, as IEEE arithmetic does (as the
kernels combine their blocks): sums that overflow give inf, +inf and -inf NaN,
as the in-memory call does, where math.fsum would raise.
"""
import math
import time

import numpy as np

from ._checks import broadcast_shapes
from ._registry import LOSSES, SPECS

CHUNK_BYTES = 64 << 20   # of prediction per chunk: the kernels' threads and blocks stay busy


def _row_axis(kind, pred):
    """True if the prediction has rows to stream: a class axis (1) or the box
    coordinates (-1) must stay whole."""
    return pred.ndim >= (1 if kind == "elements" else 2)


def _follows_rows(arr, pred, kind, is_target):
    """True if `arr` holds one entry per row of `pred` (it is cut with it); False
    if it applies whole to every chunk (class weights, or an array that
    broadcasts along pred's rows). Broadcasting aligns trailing axes, so an
    array of fewer dimensions than pred is whole, except a class-index target,
    which has pred's dimensions without the class axis."""
    if not isinstance(arr, np.ndarray) or arr.ndim == 0 or arr.shape[0] != pred.shape[0]:
        return False
    if is_target and kind in ("samples", "weight[target]", "alpha[target]"):
        return arr.ndim >= pred.ndim - 1
    return arr.ndim == pred.ndim


def _divisor(kind, pred, target, options):
    """What `kind`'s mean divides by, for these (chunk) arrays."""
    if kind == "elements":
        return math.prod(broadcast_shapes(pred.shape, np.shape(target), "pred", "target"))
    if kind == "boxes":
        return math.prod(pred.shape[:-1])
    if pred.ndim >= 2 and pred.shape[1] == 0:
        return 0            # no class: the kernels' mean is NaN (the caller's divisor-0 case)
    samples = math.prod(pred.shape[:1] + pred.shape[2:]) if pred.ndim >= 2 else 1
    if kind == "samples" or np.asarray(target).dtype.kind == "f":   # probability targets
        return samples
    t = np.asarray(target).reshape(-1)
    kept = t[t != options.get("ignore_index", -100)]
    weight = options.get("weight" if kind == "weight[target]" else "alpha")
    if weight is None:
        return kept.size
    return float(np.sum(np.asarray(weight, np.float64)[kept]))   # inf and NaN weights propagate


def evaluate(loss, pred, target, *, reduction="mean", options=None, chunk_rows=None, n_threads=None,
             progress=None):
    """The loss `loss` (a name in lossk.LOSSES) of `pred` and `target`, computed over
    chunks of `chunk_rows` rows of `pred` (default: about 64 MiB of it), as a float.

    reduction : "mean" or "sum" ("batchmean" too for kl_div)
    options : the loss's other keyword arguments; arrays with one entry per row of
        `pred` (same leading length and dimensions) are cut with it, others pass whole
    progress : optional callable(rows_done, rows_total), called after each chunk

    Returns ``(value, chunks)``.
    """
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; the losses are: {', '.join(sorted(LOSSES))}")
    spec = SPECS[loss]
    if spec.split != "rows":
        raise ValueError(f"{loss} cannot be streamed in chunks of rows (its loss is not a sum over rows)")
    fn, kind = spec.fn, spec.mean
    reductions = tuple(r for r in spec.reductions if r != "none")
    if reduction not in reductions:
        raise ValueError(f"reduction must be one of {reductions} for {loss}, got {reduction!r}")
    options = dict(options or {})
    for name in ("reduction", "return_grad", "grad_out", "n_threads"):
        if name in options:
            raise ValueError(f"option {name!r} is set by lossk eval itself, not as a loss option")
    if not isinstance(pred, np.ndarray) or not isinstance(target, np.ndarray):
        raise TypeError("pred and target must be NumPy arrays (e.g. np.load(path, mmap_mode='r'))")
    if chunk_rows is not None and (isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int)
                                   or chunk_rows < 1):
        raise ValueError(f"chunk_rows must be a positive int, got {chunk_rows!r}")
    kw = dict(n_threads=n_threads) if n_threads is not None else {}
    if not _row_axis(kind, pred) or pred.shape[0] == 0:
        # nothing to cut (one sample, one box, or none): the loss itself, whole
        value = fn(pred, target, reduction=reduction, **options, **kw)
        if progress:
            progress(1, 1)
        return float(value), 1
    n = pred.shape[0]
    if chunk_rows is None:
        row_bytes = max(1, pred.itemsize * math.prod(pred.shape[1:]))
        chunk_rows = max(1, CHUNK_BYTES // row_bytes)
    per_row = {name: _follows_rows(v, pred, kind, False) for name, v in options.items()}
    target_rows = _follows_rows(target, pred, kind, True)
    total, divisor, chunks = 0.0, 0.0, 0
    for start in range(0, n, chunk_rows):
        rows = slice(start, min(n, start + chunk_rows))
        p, t = pred[rows], target[rows] if target_rows else target
        opts = {name: v[rows] if per_row[name] else v for name, v in options.items()}
        total += float(fn(p, t, reduction="sum", **opts, **kw))   # a float64 sum, in chunk order
        if reduction == "mean":
            divisor += _divisor(kind, p, t, opts)
        chunks += 1
        if progress:
            progress(rows.stop, n)
    if reduction == "sum":
        return total, chunks
    if reduction == "batchmean":
        return total / n, chunks
    if divisor == 0 and total == 0:
        # no element, box, class or weight to divide by: the loss's own mean of that case
        # (NaN, or 0 for boxes), from the first row alone
        return float(fn(pred[:1], target[:1] if target_rows else target, reduction="mean",
                        **{name: v[:1] if per_row[name] else v for name, v in options.items()}, **kw)), chunks
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(total) / divisor), chunks   # IEEE: x / 0 is +-inf (weights summing to 0)


class ProgressBar:
    """A one-line progress bar on a text stream: rows done, percent, rate."""

    def __init__(self, stream, label, width=30):
        self.stream, self.label, self.width = stream, label, width
        self.start = time.perf_counter()
        self.drawn = False          # a line is open on the stream

    def close(self):
        """End the open line, if any."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()
            self.drawn = False

    def __call__(self, done, total):
        frac = done / total if total else 1.0
        fill = int(round(frac * self.width))
        elapsed = time.perf_counter() - self.start
        rate = f", {done / elapsed:,.0f} rows/s" if elapsed > 0 else ""
        self.stream.write(f"\r{self.label} [{'#' * fill}{'.' * (self.width - fill)}] {100 * frac:5.1f} % "
                          f"({done:,}/{total:,} rows{rate})")
        self.drawn = True
        self.stream.flush()
        if done >= total:
            self.close()
