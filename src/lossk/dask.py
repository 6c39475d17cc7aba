"""lossk's losses over Dask arrays: ``lossk.dask.<name>(pred, target, ...)``
for every loss whose registry entry splits along axis 0 (``split="rows"``),
one factory for all of them (a loss added to the registry gets its Dask
version without new code). An optional dependency: ``import lossk`` does not
import Dask; ``import lossk.dask`` does.

How a call is cut (each task is one chunk of rows of every input):

* Inputs with one entry per row of the prediction (same leading length and
  dimensions; a class-index target: the prediction without its class axis)
  are cut with the prediction's row chunks; the others (class weights, an
  array that broadcasts along the rows) go whole to every task. Axes other
  than 0 are rechunked to one chunk each (a class axis, box coordinates and a
  row's elements must be whole in one call); NumPy inputs are wrapped.
* Each task calls lossk with ``reduction="sum"`` and returns the float64
  sums of the kernel's reduction blocks (recorded as the kernel adds them:
  lossk.h lossk_block_sums, _stream.call_blocks) and the chunk's share of the
  mean's divisor (elements, samples, boxes, or the weights of the kept
  class-index targets: ``_registry.MEAN_KINDS``), also as block sums. The
  partials travel up a tree of fixed shape (``split_every`` children a node,
  default 8) that only concatenates them in chunk order; the last node adds
  them left to right in float64 and divides, as the kernels add their blocks
  and as `lossk eval` adds its chunks. So the value is the same on every
  scheduler and for every ``split_every``.
* **Bitwise equal to the in-memory call** (float32 and float64) whenever every
  chunk but the last is a whole number of the kernel's reduction blocks: each
  chunk's call then cuts the same blocks as the whole array's, and their sums
  are added in the same order. The block (csrc/core/common.c,
  ``lossk__run_blocks``; a function of the shapes, never of the threads):

  - pointwise losses (MSE, L1, BCE, sigmoid focal, ...): 16384 elements (for
    (N, 1024): 16 rows) while the whole array has fewer than 2**22 elements;
    65536 from there on, so then every chunk must also hold 2**22 elements or
    more (csrc/pointwise/driver.h);
  - cross-entropy and softmax focal over (N, C): 65536 // C rows for C > 47;
    for C <= 47, tile * max(1, 16384 // (tile * C)) rows with tile =
    min(256, max(16, 16384 // C)) (4096 rows for C = 4; csrc/softmax/softmax.c);
  - the class-weight means (``weight=`` / ``alpha=`` with class-index
    targets): also 16384 samples (rows times spatial positions) for the divisor;
  - box losses: 1024 boxes.

  Other chunkings (and a tail chunk that is not) agree within rounding of the
  block sums' grouping.
* ``reduction="none"``: the per-sample (or per-element) losses, a Dask array
  chunked like the prediction's rows.
* ``return_grad=True``: ``(loss, grad)``, the gradient lazy and with the
  chunks of its input (several differentiated inputs give a tuple). Each
  task's gradient is that of the chunk's ``"sum"``; for ``"mean"`` it is then
  scaled by 1 / the global divisor, which the graph computes first (from the
  targets alone for the class-weight means, from the shapes otherwise), as the
  kernels scale their gradients by 1 / divisor.
* ``n_threads``: lossk's threads inside each task. Default: lossk's default
  when the task runs in the main thread of the main process (the synchronous
  scheduler), else 1, as the threaded, process and distributed schedulers
  already run tasks in parallel (no oversubscription). The kernels release
  the GIL.

Losses that do not split along rows (``split="no"``: batch Dice, NT-Xent,
listwise sums over a whole batch) raise a ValueError naming the loss rather
than quietly rechunking the rows into one task, which would move the whole
array to one worker.
"""
import multiprocessing
import threading

import numpy as np

import dask
import dask.array as da
from dask.highlevelgraph import HighLevelGraph

from ._registry import SPECS
from ._stream import call_blocks, divisor, divisor_blocks, fold, follows_rows, row_axis, shape_only, value

__all__ = []
SPLIT_EVERY = 8


def _threads(n_threads):
    if n_threads is not None:
        return n_threads
    if threading.current_thread() is threading.main_thread() and multiprocessing.parent_process() is None:
        return None     # the synchronous scheduler: lossk's own threads
    return 1


def _call(name, arrays, options, reduction, n_threads, return_grad=False):
    return SPECS[name].fn(*arrays, reduction=reduction, return_grad=return_grad,
                          n_threads=_threads(n_threads), **options)


def _chunk_sum(name, arrays, options, n_threads, mean):
    """(sums, divisors) of one chunk: the float64 block sums of its "sum" and of
    its divisor (_stream.call_blocks, divisor_blocks; the divisor of the
    shape-only kinds is known without the data: none here; and none unless `mean`)."""
    _, sums = call_blocks(lambda: _call(name, arrays, options, "sum", n_threads))
    return sums, _value_divisor(SPECS[name], arrays, options) if mean else _NONE


_NONE = np.zeros(0)


def _value_divisor(spec, arrays, options):
    pred, target = arrays[0], _target(spec, arrays)
    if target is None or shape_only(spec.mean, target):
        return _NONE
    return divisor_blocks(spec.mean, pred, target, options)


def _chunk_divisor(name, arrays, options):
    return _value_divisor(SPECS[name], arrays, options)


def _fold_divisors(*parts):
    return fold(np.concatenate(parts))


def _chunk_sum_grad(name, arrays, options, n_threads, mean, div=None):
    """_chunk_sum and the gradient of the chunk's "sum", from one kernel call;
    scaled here to the mean's when the global divisor `div` is known already
    (in place: the kernel's fresh array, which no other task sees)."""
    (_, grad), sums = call_blocks(lambda: _call(name, arrays, options, "sum", n_threads, return_grad=True))
    if div is not None:
        grad = _scale(grad, div, inplace=True)
    return (sums, _value_divisor(SPECS[name], arrays, options) if mean else _NONE), grad


def _target(spec, arrays):
    return arrays[spec.inputs.index(spec.target)] if spec.target is not None else None


def _scale(grad, div, inplace=False):
    """A chunk's "sum" gradient as the mean's: times 1 / the global divisor (in
    the gradient's dtype: the kernels scale each element once, in double, so
    this differs by one rounding)."""
    grads = grad if isinstance(grad, tuple) else (grad,)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = float(1.0 / np.float64(div))
        out = tuple(np.multiply(g, scale, out=g if inplace else None) for g in grads)
    return out if isinstance(grad, tuple) else out[0]


def _first_row(a):
    return a[:1]


def _concat(*parts):
    """The (sums, divisors) of several chunks, in chunk order."""
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(2))


def _finish(name, parts, known_div, reduction, rows, dtype, first_row, options, n_threads):
    total = fold(parts[0])
    div = known_div + fold(parts[1])

    def first_row_mean():
        return _call(name, first_row, options, "mean", n_threads)
    return np.asarray(value(reduction, total, div, rows, first_row_mean), dtype=dtype)


def _tree(parts, split_every):
    """Concatenate the chunks' partials through a tree of fixed shape."""
    while len(parts) > 1:
        parts = [dask.delayed(_concat, pure=True)(*parts[i:i + split_every])
                 for i in range(0, len(parts), split_every)]
    return parts[0]


def _blocks(arr):
    """The chunks of `arr` (one chunk along every axis but 0) as delayed objects."""
    return list(arr.to_delayed().reshape(-1))


def _out_rows_shape(spec, shapes):
    """The shape of reduction="none"'s result for inputs of these shapes."""
    pred = shapes[0]
    if spec.mean == "elements":
        return np.broadcast_shapes(*shapes)
    if spec.mean == "boxes":
        return pred[:-1]
    return pred[:1] + pred[2:] if len(pred) >= 2 else ()


def _make(name):
    spec = SPECS[name]

    def loss(*inputs, reduction="mean", return_grad=False, n_threads=None, split_every=None, **options):
        return lazy(name, inputs, reduction=reduction, return_grad=return_grad, n_threads=n_threads,
                    split_every=split_every, options=options)

    loss.__name__ = loss.__qualname__ = name
    loss.__doc__ = (f"lossk.{name} over Dask arrays, chunked along axis 0 (see the lossk.dask module's "
                    f"docstring).\n\nArguments as lossk.{name}: {', '.join(spec.inputs)}, then reduction, "
                    f"return_grad, n_threads and the loss's options; split_every: the fan-in of the tree "
                    f"that combines the chunks' partial sums (default {SPLIT_EVERY}; the value does not "
                    f"depend on it).\n\nReturns a lazy 0-d array (a per-sample array for reduction='none'), "
                    f"and with return_grad=True the gradient too, chunked like its input.")
    return loss


def lazy(name, inputs, *, reduction="mean", return_grad=False, n_threads=None, split_every=None, options=None,
         dtype=None):
    """The loss `name` of `inputs` as a Dask graph (the body of every
    lossk.dask.<name>); dtype: the value's dtype (default: the in-memory call's,
    the prediction's; `lossk eval` asks for float64)."""
    spec = SPECS[name]
    options = dict(options or {})
    if spec.split != "rows":
        __getattr__(name)
    if len(inputs) != len(spec.inputs):
        raise TypeError(f"{name} takes {len(spec.inputs)} arrays ({', '.join(spec.inputs)}), "
                        f"got {len(inputs)}")
    if reduction not in spec.reductions:
        raise ValueError(f"reduction must be one of {spec.reductions} for {name}, got {reduction!r}")
    for key in ("grad_out", "backend"):
        if key in options:
            raise ValueError(f"option {key!r} is not available in lossk.dask")
    if split_every is None:
        split_every = SPLIT_EVERY
    if isinstance(split_every, bool) or not isinstance(split_every, int) or split_every < 2:
        raise ValueError(f"split_every must be an int >= 2, got {split_every!r}")
    pred = da.asarray(inputs[0])
    kind = spec.mean
    if row_axis(kind, pred) and pred.shape[0] > 0:
        pred = pred.rechunk({i: -1 for i in range(1, pred.ndim)})
    else:
        pred = pred.rechunk(-1)       # nothing to cut: one task
    cut = row_axis(kind, pred) and pred.shape[0] > 0
    rows = pred.chunks[0] if cut else None
    n_chunks = len(rows) if cut else 1

    def prepare(arr, is_target):
        """A list with each task's piece of `arr`, and whether it is cut."""
        if cut and follows_rows(arr, pred, kind, is_target):
            arr = da.asarray(arr).rechunk((rows,) + tuple(-1 for _ in range(1, arr.ndim)))
            return _blocks(arr), True
        if isinstance(arr, da.Array):
            return _blocks(arr.rechunk(-1)) * n_chunks, False
        return [arr] * n_chunks, False

    pieces = [(_blocks(pred), True)] + [prepare(a, n == spec.target)
                                        for n, a in zip(spec.inputs[1:], inputs[1:])]
    opt_pieces = {k: prepare(v, False) for k, v in options.items()}
    per_task = [([p[0][i] for p in pieces], {k: v[0][i] for k, v in opt_pieces.items()})
                for i in range(n_chunks)]
    if dtype is None:
        dtype = np.result_type(pred.dtype, np.float32) if pred.dtype.kind != "f" else pred.dtype
    loss_dtype = np.result_type(pred.dtype, np.float32) if pred.dtype.kind != "f" else pred.dtype

    if reduction == "none":
        outs = []
        for i, (arrays, opts) in enumerate(per_task):
            shapes = [_piece_shape(a, c, rows, i) for a, (_, c) in zip(inputs, pieces)]
            shape = _out_rows_shape(spec, shapes)
            task = dask.delayed(_call, pure=True, nout=2 if return_grad else None)(
                name, arrays, opts, "none", n_threads, return_grad)
            outs.append((task, shape))
        loss_arr = _stack([t[0] if return_grad else t for t, _ in outs], [shape for _, shape in outs],
                          loss_dtype)
        if not return_grad:
            return loss_arr
        return loss_arr, _grads(spec, inputs, pieces, [t[1] for t, _ in outs], rows, cut, loss_dtype)

    # the divisor the shapes give, known now; the class-weight kinds add theirs from the data
    target = inputs[spec.inputs.index(spec.target)] if spec.target is not None else None
    known_div = 0.0
    if reduction == "mean" and (target is None or shape_only(kind, target)):
        t_cut = target is not None and pieces[spec.inputs.index(spec.target)][1]
        known_div = fold(divisor(kind, _Shape(_piece_shape(inputs[0], True, rows, i)),
                                 _Shape(_piece_shape(target, t_cut, rows, i), getattr(target, "dtype", None))
                                 if target is not None else None, {})
                         for i in range(n_chunks))
    # the first row, for the mean of nothing (see _stream.value): from the first chunk that has rows
    i0 = next((i for i, r in enumerate(rows) if r), 0) if cut else 0
    first_row = [dask.delayed(_first_row, pure=True)(p[i0]) if cut and c else p[i0] for p, c in pieces]
    first_opts = {k: dask.delayed(_first_row, pure=True)(p[i0]) if cut and c else p[i0]
                  for k, (p, c) in opt_pieces.items()}
    n_rows = pred.shape[0] if pred.ndim else 1
    finish = (dask.delayed(_finish, pure=True), (name,), (known_div, reduction, n_rows,
                                                          dtype, first_row, first_opts, n_threads))
    if not return_grad:
        parts = [dask.delayed(_chunk_sum, pure=True)(name, a, o, n_threads, reduction == "mean")
                 for a, o in per_task]
        return da.from_delayed(finish[0](name, _tree(parts, split_every), *finish[2]), (), dtype=dtype)
    mean = reduction == "mean"
    known = not mean or target is None or shape_only(kind, target)    # the divisor needs no data
    scale_by = known_div if mean and known else (n_rows if reduction == "batchmean" else None)
    tasks = [dask.delayed(_chunk_sum_grad, pure=True, nout=2)(name, a, o, n_threads, mean, scale_by)
             for a, o in per_task]
    result = da.from_delayed(finish[0](name, _tree([t[0] for t in tasks], split_every), *finish[2]),
                             (), dtype=dtype)
    grads = [t[1] for t in tasks]
    if not known:       # the class-weight means: the weights of the kept targets, from the targets first
        div = dask.delayed(_fold_divisors, pure=True)(*[dask.delayed(_chunk_divisor, pure=True)(name, a, o)
                                                        for a, o in per_task])
        grads = [dask.delayed(_scale, pure=True)(g, div) for g in grads]
    return result, _grads(spec, inputs, pieces, grads, rows, cut, loss_dtype)


class _Shape:
    """Something with a shape (and a dtype), for the shape-only divisors."""

    def __init__(self, shape, dtype=None):
        self.shape, self.ndim = tuple(shape), len(shape)
        self.dtype = np.dtype(dtype) if dtype is not None else np.dtype(np.float64)


def _piece_shape(arr, is_cut, rows, i):
    shape = tuple(np.shape(arr)) if not hasattr(arr, "shape") else tuple(arr.shape)
    if is_cut and rows is not None:
        return (rows[i],) + shape[1:]
    return shape


def _stack(parts, shapes, dtype):
    """One Dask array of the delayed chunks `parts` along axis 0, empty chunks
    kept (da.concatenate drops them: the result would lose its input's chunks)."""
    if not shapes[0]:
        return da.from_delayed(parts[0], (), dtype=dtype)
    name = "lossk-stack-" + dask.base.tokenize(*parts)
    tail = (0,) * (len(shapes[0]) - 1)
    dsk = {(name, i) + tail: part.key for i, part in enumerate(parts)}
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=parts)
    chunks = (tuple(s[0] for s in shapes),) + tuple((d,) for d in shapes[0][1:])
    return da.Array(graph, name, chunks, dtype=dtype)


def _grads(spec, inputs, pieces, grads, rows, cut, dtype):
    """The lazy gradient(s), each chunked like its input's rows."""
    out = []
    for k, g_name in enumerate(spec.grads):
        j = spec.inputs.index(g_name)
        if cut and not pieces[j][1]:
            raise ValueError(f"{spec.name}: the gradient of {g_name}, which is not cut with the rows of "
                             f"{spec.inputs[0]}, is not available in lossk.dask")
        g_dtype = getattr(inputs[j], "dtype", dtype)
        arr = _stack([g[k] if len(spec.grads) > 1 else g for g in grads],
                     [_piece_shape(inputs[j], pieces[j][1], rows, i) for i in range(len(grads))], g_dtype)
        if isinstance(inputs[j], da.Array) and arr.ndim and inputs[j].chunks[0] == arr.chunks[0]:
            arr = arr.rechunk(inputs[j].chunks)
        out.append(arr)
    return tuple(out) if len(out) > 1 else out[0]


def _export():
    for name, spec in SPECS.items():
        if spec.split == "rows":
            globals()[name] = _make(name)
            __all__.append(name)


def __getattr__(attr):
    spec = SPECS.get(attr)
    if spec is not None and spec.split != "rows":
        raise ValueError(f"{attr} cannot be computed over Dask chunks of rows (its loss is not a sum over "
                         f"rows: split={spec.split!r} in the registry); compute it in memory with lossk.{attr}")
    raise AttributeError(f"module 'lossk.dask' has no attribute {attr!r}")


_export()
