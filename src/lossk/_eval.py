"""`lossk eval`: one loss over prediction and target arrays larger than memory.

The arrays are ``.npy`` files, memory-mapped, and go through the loss in
chunks of rows (axis 0 of the prediction). Each chunk gives its ``"sum"``
(as its kernel's float64 block sums: _stream); ``"mean"`` divides the sum of the chunks' sums by the sum of their divisors,
which the loss's registry entry names (``_registry.SPECS[name].mean``), so the result
is the whole arrays' mean however they are cut. The chunks' block sums
add in double, left to right in chunk order, as IEEE arithmetic does (as the
kernels combine their blocks): sums that overflow give inf, +inf and -inf NaN,
as the in-memory call does, where math.fsum would raise. The pieces shared with
lossk.dask (which arrays are cut, each chunk's divisor, the fold) are in
_stream.py; evaluate_dask() runs the same chunks as a Dask graph
(`lossk eval --scheduler`).
"""
import math
import time

import numpy as np

from ._registry import LOSSES, SPECS
from ._stream import call_blocks, divisor_blocks, fold, follows_rows, row_axis, value

CHUNK_BYTES = 64 << 20   # of prediction per chunk: the kernels' threads and blocks stay busy


def _checked(loss, reduction, options, pred, target, chunk_rows):
    """The checks of evaluate() and evaluate_dask(): (spec, options, rows)."""
    if loss not in LOSSES:
        streamed = sorted(n for n, spec in SPECS.items() if spec.split == "rows")
        raise ValueError(f"unknown loss {loss!r}; the losses are: {', '.join(streamed)}")
    spec = SPECS[loss]
    if spec.split != "rows":
        raise ValueError(f"{loss} cannot be streamed in chunks of rows (its loss is not a sum over rows)")
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
    return spec, options, pred.shape[0] if pred.ndim else 1


def _default_rows(pred):
    row_bytes = max(1, pred.itemsize * math.prod(pred.shape[1:]))
    return max(1, CHUNK_BYTES // row_bytes)


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
    spec, options, n = _checked(loss, reduction, options, pred, target, chunk_rows)
    fn, kind = spec.fn, spec.mean
    kw = dict(n_threads=n_threads) if n_threads is not None else {}
    if not row_axis(kind, pred) or pred.shape[0] == 0:
        # nothing to cut (one sample, one box, or none): the loss itself, whole
        whole = fn(pred, target, reduction=reduction, **options, **kw)
        if progress:
            progress(1, 1)
        return float(whole), 1
    n = pred.shape[0]
    if chunk_rows is None:
        chunk_rows = _default_rows(pred)
    per_row = {name: follows_rows(v, pred, kind, False) for name, v in options.items()}
    target_rows = follows_rows(target, pred, kind, True)
    sums, divs, chunks = [], [], 0
    for start in range(0, n, chunk_rows):
        rows = slice(start, min(n, start + chunk_rows))
        p, t = pred[rows], target[rows] if target_rows else target
        opts = {name: v[rows] if per_row[name] else v for name, v in options.items()}
        sums.append(call_blocks(lambda: fn(p, t, reduction="sum", **opts, **kw))[1])
        if reduction == "mean":
            divs.append(divisor_blocks(kind, p, t, opts))
        chunks += 1
        if progress:
            progress(rows.stop, n)

    def first_row_mean():
        return fn(pred[:1], target[:1] if target_rows else target, reduction="mean",
                  **{name: v[:1] if per_row[name] else v for name, v in options.items()}, **kw)
    div = fold(np.concatenate(divs)) if divs else 0.0
    return value(reduction, fold(np.concatenate(sums)), div, n, first_row_mean), chunks


class _NpyFile:
    """A memory-mapped .npy file as Dask reads it: pickled as its path and
    layout (not its data), so that a worker opens the file itself."""

    def __init__(self, arr):
        self.filename, self.offset = arr.filename, arr.offset
        self.shape, self.dtype, self.ndim = arr.shape, arr.dtype, arr.ndim
        self.order = "F" if arr.flags.f_contiguous and not arr.flags.c_contiguous else "C"

    def __getitem__(self, index):
        arr = np.memmap(self.filename, self.dtype, "r", self.offset, self.shape, self.order)
        return np.asarray(arr[index])


def evaluate_dask(loss, pred, target, *, scheduler, reduction="mean", options=None, chunk_rows=None,
                  n_threads=None, progress=None):
    """evaluate() as a Dask graph (lossk.dask): scheduler "threads" (Dask's
    threads on this machine), "processes" (a distributed.LocalCluster of one
    worker a core, one thread each) or a distributed scheduler's address. The
    chunks and the order in which their float64 sums add are evaluate()'s, so
    the value is the same. progress: a text stream for Dask's progress bar, or
    None. Memory-mapped inputs travel as their paths (the workers read the
    chunks from the files, which they must see at the same path)."""
    import dask
    import dask.array as da

    from . import dask as lossk_dask

    spec, options, n = _checked(loss, reduction, options, pred, target, chunk_rows)
    if not row_axis(spec.mean, pred) or n == 0:   # nothing to cut: evaluate()'s one call
        return evaluate(loss, pred, target, reduction=reduction, options=options, n_threads=n_threads)
    if chunk_rows is None:
        chunk_rows = _default_rows(pred)

    def lazy(a):
        if not isinstance(a, np.ndarray) or a.ndim == 0 or a.shape[0] != n:
            return np.asarray(a) if isinstance(a, np.ndarray) else a
        src = _NpyFile(a) if isinstance(a, np.memmap) and a.filename else a
        return da.from_array(src, chunks=(chunk_rows,) + a.shape[1:], asarray=True, lock=False, fancy=False,
                             name=None if src is a else f"npy-{dask.base.tokenize(a.filename, a.offset, a.shape)}")

    result = lossk_dask.lazy(loss, [lazy(pred), lazy(target)], reduction=reduction, n_threads=n_threads,
                             options={k: lazy(v) for k, v in options.items()}, dtype=np.float64)
    chunks = -(-n // chunk_rows)
    if scheduler == "threads":
        if progress is None:
            return float(result.compute(scheduler="threads")), chunks
        from dask.diagnostics import ProgressBar as DaskBar
        with DaskBar(out=progress):
            return float(result.compute(scheduler="threads")), chunks
    import contextlib

    import distributed
    with contextlib.ExitStack() as stack:
        if scheduler == "processes":
            cluster = stack.enter_context(distributed.LocalCluster(processes=True, threads_per_worker=1,
                                                                   dashboard_address=None, host="127.0.0.1"))
            client = stack.enter_context(distributed.Client(cluster))
        else:
            client = stack.enter_context(distributed.Client(scheduler))
        future = client.compute(result)
        if progress is not None:
            with contextlib.redirect_stdout(progress):      # the value alone on stdout
                distributed.progress(future, notebook=False)
            progress.write("\n")
        return float(future.result()), chunks


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
