"""Awkward inputs for every registered loss, derived from its example alone.

Everything here works from `lossk.LOSSES`, `tests/cases.py` (CASES, EDGES) and
`lossk.reference`: a new loss is covered without new test code. Each example
call `CASES[name](rng, dtype) -> (args, kwargs)` is turned into variants (wrong
dtypes, broken shapes, views, byte orders, memory maps, NaN/inf, labels and
options out of range, bad `grad_out`), and each variant is checked against the
contract of SPEC §1:

* the kernel either returns the same numbers as the reference on the same
  input, or both raise, the kernel a ValueError/TypeError whose message names
  an argument (the perturbed one when the variant says which);
* a layout change (view, byte order, memmap, torch tensor, ...) gives bitwise
  the result of the clean call, in each backend;
* nothing else escapes (no IndexError, OverflowError, RuntimeError, ...),
  except a MemoryError where a call may ask for more than the machine has;
* `lossk eval` over chunks of one row gives the in-memory call's result, also
  where chunk sums overflow or are +-inf (expect "eval").

A crash cannot be caught in-process, so the variants of one loss and one
category run in a child interpreter (`run_batch`, started by
tests/test_awkward.py); the child prints one JSON line per case before running
it, so a child killed by a signal names the case that killed it.
"""
import inspect
import json
import os
import re
import sys
import tempfile
import traceback
from dataclasses import dataclass, field

import numpy as np

import lossk
from cases import F32_TOL_SCALE, MIN_ROWS
from cases import CASES, EDGES

DTYPES = (np.float32, np.float64)
CATEGORIES = ("dtypes", "shapes", "layouts", "values", "options", "torch")
# The module a category needs (its tests skip without it).
NEEDS = {"torch": "torch"}
ALLOWED = (ValueError, TypeError)
BEYOND_MACHINE = (MemoryError,)   # allowed where a variant may not return (not "ok"/"clean")
# SPEC §1 tolerances (tests/helpers.py TOL), by result dtype.
_TOL = {np.dtype(np.float32): dict(rtol=1e-5, atol=1e-6), np.dtype(np.float64): dict(rtol=1e-10, atol=1e-12)}

# linear_cross_entropy: axis 1 of its first input (hidden) is D, not classes,
# so the no-class variant (axis 1 cut to 0) is a shape mismatch there; and with
# every weight equal, d_hidden = dL @ weight is the rounding of sum_k dL_ik = 0
# times a huge weight, noise in every dtype, so the "all huge" weight is not
# compared (tests/test_linear.py covers large logits through the bias).
NO_CLASS_AXIS = {"linear_cross_entropy"}
NOT_COMPARED_HUGE = {("linear_cross_entropy", "weight")}

# Out-of-range values per keyword-option name that must raise for every loss
# that has the option (SPEC §1 and §2). Options not listed still get the
# generic abuse of their type (NaN, wrong type, unknown string, ...).
MUST_RAISE = {
    "gamma": (-0.5, -1e-300),
    "focal_gamma": (-0.5,),
    "label_smoothing": (-0.1, 1.1, np.inf),
    "temperature": (0.0, -1.0),
    "momentum": (-0.1, 1.5),
    "q": (-0.1, 1.1),
    "delta": (-1.0,),
    "beta": (-1.0,),
    "eps": (-1.0,),
    "smooth": (-1.0,),
    "reduction": ("avg", "", "MEAN", None, 1, ("mean",)),
    "box_format": ("xyzw", "", "XYXY", None, 0),
    "backend": ("cuda", "C", "", None),
    "n_threads": (0, -1, 1.5, "2", True, np.float64(2.0)),
    "ignore_index": (1.5, "1", np.float32(3.0)),
    "lam": (-1e-300, -1.0, np.inf),
}
# Values each option of the matching kind gets; the kernel must agree with the
# reference on them (both return the same numbers or both raise).
MAY_RAISE_FLOAT = (0.0, -1.0, 1e300, -1e300, np.inf, -np.inf, 5e-324, 1, np.float32(0.5), True,
                   2**63, -2**63 - 1, 10**400, -10**400)   # ints beyond int64, beyond float's range
MUST_RAISE_FLOAT = (np.nan, "0.5", [0.5], None, 1j)
MAY_RAISE_INT = (0, -1, 2**31, -2**31 - 1, 2**63 - 1, -2**63, 2**63, -2**63 - 1, 2**64, 10**30,
                 10**400, np.int8(3), np.uint64(2**64 - 1), True)
# Values every boolean option (return_grad included) must refuse with a TypeError.
NOT_BOOL = ("yes", None, 0, 1, np.array([True]))
# n_threads that must work and give bitwise the n_threads=1 result.
HUGE_THREADS = (2**16, 2**31 - 1, 2**31, 2**63, 10**30, 10**400)
# NumPy broadcasts at most 32 dimensions; arrays of more exist from NumPy 2 on.
MANY_DIMS = 34 if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else None

GRAD_KW = "return_grad"


# ---------------------------------------------------------------- calls

@dataclass
class Signature:
    """What the tests need to know about a registered loss's signature."""
    positional: list
    keyword: dict          # keyword-only name -> default (inspect.Parameter.empty if required)
    is_class: bool = False
    grads: tuple = ()      # the inputs return_grad differentiates (registry), in order
    split: str = "rows"    # "rows": lossk eval streams it (registry)
    min_rows: int = 0      # smaller non-empty batches raise (cases.MIN_ROWS)
    name: str = ""         # the loss's registered name

    @property
    def has_grad(self):
        return GRAD_KW in self.keyword

    def names(self):
        return list(self.positional) + list(self.keyword)


def signature(name):
    fn = lossk.LOSSES[name]
    is_class = inspect.isclass(fn)
    sig = inspect.signature(fn.__call__ if is_class else fn)
    pos, kw = [], {}
    for p in sig.parameters.values():
        if p.name == "self":
            continue
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            pos.append(p.name)
        elif p.kind == p.KEYWORD_ONLY:
            kw[p.name] = p.default
    spec = lossk._registry.SPECS.get(name)
    return Signature(pos, kw, is_class, spec.grads if spec is not None else (),
                     spec.split if spec is not None else "rows", MIN_ROWS.get(name, 0), name)



def _function(name, backend):
    """The callable of `name` for backend "c" or "numpy" (the reference).
    A registered class (stateful loss) is instantiated afresh for every call."""
    fn = lossk.LOSSES[name] if backend == "c" else getattr(lossk.reference, name, None)
    if fn is None:
        raise AssertionError(f"lossk.reference has no {name!r}: every registered loss needs a reference")
    if inspect.isclass(fn):
        return lambda *a, **k: fn()(*a, **k)
    return fn


def leaves(result):
    """A call's result as a flat list of arrays (loss, then gradients), copied:
    a later call may write into the same grad_out buffer."""
    if isinstance(result, (tuple, list)):
        out = []
        for r in result:
            out.extend(leaves(r))
        return out
    return [np.array(result, copy=True)]


@dataclass
class Outcome:
    value: list = None
    error: BaseException = None

    def describe(self):
        if self.error is not None:
            return f"{type(self.error).__name__}: {self.error}"
        return "returned " + ", ".join(f"{a.dtype}{list(a.shape)}" for a in self.value)


def call(name, backend, args, kwargs):
    fn = _function(name, backend)
    try:
        with np.errstate(all="ignore"):
            return Outcome(value=leaves(fn(*args, **kwargs)))
    except Exception as e:  # noqa: BLE001 - classified by the checks
        return Outcome(error=e)


def example(name, dtype, seed=0):
    if name not in CASES:
        raise AssertionError(f"tests/cases.py has no CASES[{name!r}]: every registered loss needs an example")
    args, kwargs = CASES[name](np.random.default_rng(seed), dtype)
    return list(args), dict(kwargs)


def settings(sig, name=None):
    """Extra keyword sets every variant is run with: the per-sample losses and
    the mean (those of them the loss's registry entry lists), with the
    gradient when the loss has one."""
    out = []
    reds = ("none", "mean") if "reduction" in sig.keyword else (None,)
    spec = lossk._registry.SPECS.get(name)
    if spec is not None and reds != (None,):
        reds = tuple(r for r in reds if r in spec.reductions) or spec.reductions[:1]
    for red in reds:
        s = {} if red is None else {"reduction": red}
        if sig.has_grad:
            s[GRAD_KW] = True
        out.append(s)
    return out


# ---------------------------------------------------------------- variants

@dataclass
class Variant:
    """One awkward call. expect:
    "clean": must return bitwise the clean call's result (each backend its own);
    "ok":    must not raise, and must equal the reference;
    "agree": equal to the reference, or both raise;
    "raise": must raise one of `exc`;
    "kernel": the kernel alone (the reference may need memory in proportion
              to the sizes): it may raise (naming an argument) or return
              results holding no more than one element each;
    "eval":  `lossk eval` in chunks of one row (the setting's reduction) returns
             the in-memory call's result, or both raise.
    A raised message must name one of `names` (any argument when empty)."""
    desc: str
    args: list
    kwargs: dict
    expect: str = "agree"
    names: tuple = ()
    exc: tuple = ALLOWED
    settings: list = field(default=None)  # None: settings(sig, name)
    baseline: tuple = None                # (args, kwargs) a "clean" variant reproduces; None: the example


def _is_array_list(a):
    """A positional argument holding a list of arrays (penalties' `arrays`)."""
    return isinstance(a, (list, tuple)) and all(isinstance(x, np.ndarray) for x in a)


def _arrays(args, kwargs):
    """(where, key, array): every ndarray argument; where is "args" or "kwargs".
    An array inside a positional list of arrays has the key (i, j)."""
    out = []
    for i, a in enumerate(args):
        if isinstance(a, np.ndarray):
            out.append(("args", i, a))
        elif _is_array_list(a):
            out += [("args", (i, j), x) for j, x in enumerate(a)]
    out += [("kwargs", k, v) for k, v in kwargs.items() if isinstance(v, np.ndarray)]
    return out


def _replace(args, kwargs, where, key, value):
    args, kwargs = list(args), dict(kwargs)
    if where == "args" and isinstance(key, tuple):
        i, j = key
        args[i] = list(args[i])
        args[i][j] = value
    elif where == "args":
        args[key] = value
    else:
        kwargs[key] = value
    return args, kwargs


def _argname(sig, where, key):
    if where == "args" and isinstance(key, tuple):
        return f"{sig.positional[key[0]]}[{key[1]}]"
    return sig.positional[key] if where == "args" else key


def list_variants(sig, args, kwargs):
    """A positional list of arrays: empty, not a list, one array ragged."""
    for i, a in enumerate(args):
        if not _is_array_list(a):
            continue
        nm = sig.positional[i]
        yield Variant(f"{nm} an empty list", *_replace(args, kwargs, "args", i, []), expect="ok")
        yield Variant(f"{nm} as a tuple", *_replace(args, kwargs, "args", i, tuple(a)), expect="clean")
        if a:
            yield Variant(f"{nm} as one array, not a list", *_replace(args, kwargs, "args", i, a[0]),
                          expect="raise", names=(nm,), exc=(TypeError,))
            yield Variant(f"{nm}[0] ragged", *_replace(args, kwargs, "args", (i, 0), [[1.0, 2.0], [3.0]]),
                          expect="raise", names=(f"{nm}[0]",), exc=(ValueError,))


def _batch(args, kwargs):
    """Arrays sharing the prediction's leading (batch) axis."""
    if not args or not isinstance(args[0], np.ndarray) or args[0].ndim == 0:
        return []
    n = args[0].shape[0]
    return [(w, k, a) for w, k, a in _arrays(args, kwargs) if a.ndim >= 1 and a.shape[0] == n]


def _map_batch(args, kwargs, fn):
    for w, k, a in _batch(args, kwargs):
        args, kwargs = _replace(args, kwargs, w, k, fn(a))
    return args, kwargs


def _is_float(a):
    return a.dtype.kind == "f"


def _is_index(a):
    return a.dtype.kind in "iu"


def dtype_variants(sig, args, kwargs, dtype):
    pred = args[0] if args and isinstance(args[0], np.ndarray) else None
    pname = sig.positional[0]
    if pred is not None:
        for bad in (np.int32, np.int64, np.uint8, np.bool_, np.complex64, np.complex128):
            yield Variant(f"{pname} as {np.dtype(bad)}", *_replace(args, kwargs, "args", 0, pred.astype(bad)),
                          expect="raise", names=(pname,), exc=(TypeError,))
        yield Variant(f"{pname} as object", *_replace(args, kwargs, "args", 0, pred.astype(object)),
                      expect="raise", names=(pname,), exc=(TypeError,))
        yield Variant(f"{pname} as str", *_replace(args, kwargs, "args", 0, pred.astype(str)),
                      expect="raise", names=(pname,), exc=(TypeError,))
        yield Variant(f"{pname} as float16", *_replace(args, kwargs, "args", 0, pred.astype(np.float16)),
                      expect="ok")
        yield Variant(f"{pname} as longdouble", *_replace(args, kwargs, "args", 0, pred.astype(np.longdouble)))
        other = np.float64 if np.dtype(dtype) == np.float32 else np.float32
        yield Variant(f"{pname} as {np.dtype(other)}", *_replace(args, kwargs, "args", 0, pred.astype(other)),
                      expect="ok")
    for where, key, a in _arrays(args, kwargs):
        if where == "args" and key == 0:
            continue
        nm = _argname(sig, where, key)
        for bad in (np.complex128, str):
            yield Variant(f"{nm} as {np.dtype(bad)}", *_replace(args, kwargs, where, key, a.astype(bad)),
                          expect="raise", names=(nm,))
        swaps = ((np.int8, np.int16, np.uint8, np.uint64, np.float32, np.float64, np.bool_, object)
                 if _is_index(a) else (np.float16, np.float32, np.float64, np.int64, np.bool_, object))
        for t in swaps:
            if np.dtype(t) != a.dtype:
                yield Variant(f"{nm} as {np.dtype(t)}", *_replace(args, kwargs, where, key, a.astype(t)),
                              names=(nm,))


def shape_variants(sig, args, kwargs, dtype):
    for where, key, a in _arrays(args, kwargs):
        nm = _argname(sig, where, key)
        if a.ndim >= 1 and a.shape[0] > 1:
            yield Variant(f"{nm} one row short", *_replace(args, kwargs, where, key, a[:-1]))
        if a.ndim >= 1:
            pad = np.concatenate([a, a[..., :1]], axis=-1) if a.shape[-1] else a
            yield Variant(f"{nm} one longer on its last axis", *_replace(args, kwargs, where, key, pad))
            yield Variant(f"{nm} as 0-d", *_replace(args, kwargs, where, key, a.reshape(-1)[:1].reshape(())))
            yield Variant(f"{nm} with an extra leading axis", *_replace(args, kwargs, where, key, a[None]))
            yield Variant(f"{nm} with an extra trailing axis", *_replace(args, kwargs, where, key, a[..., None]))
        if a.ndim >= 2:
            yield Variant(f"{nm} flattened", *_replace(args, kwargs, where, key, a.reshape(-1)))
            if a.shape[0] != a.shape[-1]:
                yield Variant(f"{nm} transposed", *_replace(args, kwargs, where, key, np.ascontiguousarray(a.T)))
        yield Variant(f"{nm} as an empty (0,) array", *_replace(args, kwargs, where, key, a.reshape(-1)[:0]))
        if a.ndim >= 2:
            yield Variant(f"{nm} with a zero-length last axis", *_replace(args, kwargs, where, key, a[..., :0]))
    if MANY_DIMS:   # e.g. a target that must broadcast beyond NumPy's 32 dimensions
        def lift(a):
            return a.reshape((1,) * (MANY_DIMS - a.ndim) + a.shape)
        for where, key, a in _arrays(args, kwargs):
            yield Variant(f"{_argname(sig, where, key)} with {MANY_DIMS} dimensions",
                          *_replace(args, kwargs, where, key, lift(a)))
        yield Variant(f"every array with {MANY_DIMS} dimensions", *_map_arrays(args, kwargs, lift))
    yield from no_class_variants(sig, args, kwargs)
    yield from list_variants(sig, args, kwargs)
    if _batch(args, kwargs):
        yield Variant("empty batch", *_map_batch(args, kwargs, lambda a: a[:0]), expect="ok")
        yield Variant("batch of one", *_map_batch(args, kwargs, lambda a: a[:1]),
                      expect="ok" if sig.min_rows <= 1 else "agree")
        yield Variant("one sample without the batch axis", *_map_batch(args, kwargs, lambda a: a[0]))
        # every batch array with a zero-length last axis (e.g. no classes)
        zargs, zkw = _map_batch(args, kwargs, lambda a: a[..., :0] if a.ndim >= 2 else a)
        yield Variant("batch arrays with a zero-length last axis", zargs,
                      {k: v for k, v in zkw.items() if not isinstance(v, np.ndarray)})
        # A zero-size batch with non-batch axes beyond 2^31: size arithmetic
        # must be 64-bit and must not touch memory. Array options (per-class
        # weights and the like) are dropped, since they would not match.
        big = 2**31 + 3

        def huge(a):  # the first non-batch axis longer than 1 (NumPy refuses two such axes)
            shape = list(a.shape)
            shape[0] = 0
            for i in range(1, len(shape)):
                if shape[i] > 1:
                    shape[i] = big
                    break
            return np.empty(tuple(shape), a.dtype)
        hargs, hkw = _map_batch(args, kwargs, huge)
        hkw = {k: v for k, v in hkw.items() if not isinstance(v, np.ndarray)}
        yield Variant("empty batch, other axes 2^31+3", hargs, hkw, expect="kernel")
    pred = args[0] if args and isinstance(args[0], np.ndarray) else None
    if pred is not None:
        yield Variant(f"{sig.positional[0]} as a Python scalar", *_replace(args, kwargs, "args", 0, 0.5))
        yield Variant(f"{sig.positional[0]} as None", *_replace(args, kwargs, "args", 0, None),
                      expect="raise", names=(sig.positional[0],))


def _map_arrays(args, kwargs, fn):
    for w, k, a in _arrays(args, kwargs):
        args, kwargs = _replace(args, kwargs, w, k, fn(a))
    return args, kwargs


def no_class_variants(sig, args, kwargs):
    """A zero-size axis 1 (no classes), which must return in both backends (NaN
    mean, 0 sum) where every target can be ignored."""
    pred = args[0] if args and isinstance(args[0], np.ndarray) else None
    if pred is not None and pred.ndim >= 2 and sig.name not in NO_CLASS_AXIS:
        ig = _ignore_value(sig, kwargs)
        yield Variant("no classes (axis 1 of size 0)" + (", every target ignored" if ig is not None else ""),
                      *_no_classes(sig, args, kwargs), expect="ok" if ig is not None else "agree")


def _no_classes(sig, args, kwargs):
    """The call with axis 1 of the prediction cut to size 0: pred-shaped arrays
    and per-class arrays (C,) cut to 0, index targets all ignore_index (if any)."""
    pred, ig = args[0], _ignore_value(sig, kwargs)

    def cut(a):
        if _is_index(a):
            return a if ig is None else np.full_like(a, ig)
        if a.ndim == pred.ndim and a.shape[:2] == pred.shape[:2]:
            return a[:, :0]
        return a[:0] if a.shape == pred.shape[1:2] else a
    return _map_arrays(args, kwargs, cut)


def _layouts(a, tmpdir):
    """(description, array with a's values in another layout, bitwise-preserving)."""
    out = []
    if a.ndim >= 1:
        big = np.empty(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        big[..., ::2] = a
        out.append(("a strided view", big[..., ::2]))
        out.append(("a negative-stride view", np.flip(np.flip(a).copy())))
    if a.ndim >= 2:
        out.append(("Fortran-ordered", np.asfortranarray(a)))
    out.append(("byte-swapped", a.astype(a.dtype.newbyteorder())))
    ro = a.copy()
    ro.flags.writeable = False
    out.append(("read-only", ro))
    raw = np.zeros(a.nbytes + 1, np.uint8)
    un = np.frombuffer(raw.data, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    un[...] = a
    out.append(("unaligned", un))
    path = os.path.join(tmpdir, f"a{len(os.listdir(tmpdir))}.npy")
    np.save(path, a)
    out.append(("a read-only memmap", np.load(path, mmap_mode="r")))
    return out


def same_values_variants(sig, args, kwargs, forms):
    """Each array, then every array at once, in each form `forms(a)` gives
    ((description, the same values in another layout or container)): "clean"."""
    every = {}
    for where, key, a in _arrays(args, kwargs):
        for desc, b in forms(a):
            every.setdefault(desc, []).append((where, key, b))
            yield Variant(f"{_argname(sig, where, key)} as {desc}", *_replace(args, kwargs, where, key, b),
                          expect="clean")
    for desc, repl in every.items():
        aa, kk = args, kwargs
        for where, key, b in repl:
            aa, kk = _replace(aa, kk, where, key, b)
        yield Variant(f"every array as {desc}", aa, kk, expect="clean")


def layout_variants(sig, args, kwargs, dtype, tmpdir):
    yield from same_values_variants(sig, args, kwargs, lambda a: _layouts(a, tmpdir))
    for where, key, a in _arrays(args, kwargs):
        nm = _argname(sig, where, key)
        yield Variant(f"{nm} as a list", *_replace(args, kwargs, where, key, a.tolist()), names=(nm,))


def _torch_forms(a):
    """(description, a torch tensor holding a's values): plain (sharing a's
    memory), requiring grad, and a non-contiguous view (requiring grad if float)."""
    import torch
    can_grad = a.dtype.kind == "f"
    out = [("a torch tensor", torch.from_numpy(a))]
    if can_grad:
        out.append(("a torch tensor requiring grad", torch.from_numpy(a.copy()).requires_grad_()))
    if a.ndim >= 1:
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        big[..., ::2] = a
        t = torch.from_numpy(big)
        out.append(("a non-contiguous torch tensor", (t.requires_grad_() if can_grad else t)[..., ::2]))
    return out


def torch_variants(sig, args, kwargs, dtype):
    """SPEC §1: torch CPU tensors are read as arrays, in place: the plain-array
    call's bits, whether they require grad or are non-contiguous."""
    yield from same_values_variants(sig, args, kwargs, _torch_forms)


def _ignore_value(sig, kwargs):
    if "ignore_index" not in sig.keyword:
        return None
    v = kwargs.get("ignore_index", sig.keyword["ignore_index"])
    return v if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else None


def value_variants(sig, args, kwargs, dtype, rng):
    for where, key, a in _arrays(args, kwargs):
        nm = _argname(sig, where, key)
        is_pred = where == "args" and key == 0
        if _is_float(a) and a.size:
            # NaN in a prediction is never an error (SPEC §1); +-inf may be out
            # of a bounded domain (probabilities: torch raises too), so there
            # the kernel must only agree with the reference
            for label, val in (("NaN", np.nan), ("+inf", np.inf), ("-inf", -np.inf)):
                must = "ok" if is_pred and label == "NaN" else "agree"
                b = a.copy()
                b.reshape(-1)[rng.integers(a.size)] = val
                yield Variant(f"{nm} with one {label}", *_replace(args, kwargs, where, key, b),
                              expect=must, names=(nm,))
                yield Variant(f"{nm} all {label}", *_replace(args, kwargs, where, key, np.full_like(a, val)),
                              expect=must, names=(nm,))
            if is_pred and a.ndim >= 2:
                b = a.copy()
                b[0] = np.inf
                b[-1] = -np.inf
                yield Variant(f"{nm} first row +inf, last row -inf", *_replace(args, kwargs, where, key, b),
                              names=(nm,))
            # huge values whose squares stay finite: a kernel computing in the
            # input dtype may overflow a product of two of them (box areas,
            # weight x logit) where the float64 reference does not, as torch
            # does; still large enough to expose a lost log-sum-exp
            huge = float(np.sqrt(np.finfo(a.dtype).max)) / 1e4
            extremes = (("tiny", np.finfo(a.dtype).tiny),) if is_pred else ()
            for label, val in (("+huge", huge), ("-huge", -huge)) + extremes:
                if (sig.name, nm) in NOT_COMPARED_HUGE and label != "tiny":
                    continue
                yield Variant(f"{nm} all {label}", *_replace(args, kwargs, where, key, np.full_like(a, val)),
                              names=(nm,))
        if _is_index(a) and a.size:
            info = np.iinfo(a.dtype)
            for label, val in (("a large index", min(10**6, info.max)), ("-1", -1 if info.min < 0 else None),
                               ("the dtype max", info.max), ("the dtype min", info.min if info.min < 0 else None),
                               ("-2", -2 if info.min < 0 else None)):
                if val is None:
                    continue
                b = a.copy()
                b.reshape(-1)[rng.integers(a.size)] = val
                yield Variant(f"{nm} holding {label}", *_replace(args, kwargs, where, key, b), names=(nm,))
            b = a.astype(np.uint64)
            b.reshape(-1)[0] = np.uint64(2**63 + 5)
            yield Variant(f"{nm} as uint64 holding 2^63+5", *_replace(args, kwargs, where, key, b), names=(nm,))
            ig = _ignore_value(sig, kwargs)
            if ig is not None and info.min <= ig <= info.max:
                yield Variant(f"{nm} all ignore_index", *_replace(args, kwargs, where, key, np.full_like(a, ig)),
                              expect="ok")
    yield from eval_variants(sig, args, kwargs)


def eval_variants(sig, args, kwargs):
    """`lossk eval` in chunks of one row where the chunks' sums overflow when
    added, or are +inf and -inf, or there are no classes: the in-memory call's
    inf, NaN. Losses that do not stream (split "no") are refused by lossk eval:
    tests/test_eval.py checks that."""
    if sig.split != "rows" or len(args) != 2 or not all(isinstance(a, np.ndarray) for a in args) or args[0].ndim < 1 \
            or args[0].shape[0] < 2 or not _is_float(args[0]):
        return
    kwargs = {k: x for k, x in kwargs.items() if k != "reduction"}     # the setting's
    pred, red = args[0], [{"reduction": r} for r in ("sum", "mean")]
    big = np.finfo(pred.dtype).max / 8
    yield Variant("eval, every prediction +-max/8", [np.where(pred >= 0, big, -big).astype(pred.dtype), args[1]],
                  kwargs, expect="eval", settings=red)
    for where, key, a in _batch(args, kwargs):            # the prediction, targets, per-row weights
        if _is_float(a):
            b = a.copy()
            b[0], b[-1] = np.inf, -np.inf
            yield Variant(f"eval, {_argname(sig, where, key)} first row +inf, last row -inf",
                          *_replace(args, kwargs, where, key, b), expect="eval", settings=red)
    if pred.ndim >= 2:
        yield Variant("eval, no classes (axis 1 of size 0)", *_no_classes(sig, args, kwargs), expect="eval",
                      settings=red)


def _kind(value):
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, np.ndarray):
        return "array"
    return None


def option_variants(sig, args, kwargs, dtype, extra_inputs):
    """Keyword options out of range or of the wrong type; positional scalar
    options (a penalty's lam) as keyword floats."""
    for i, nm in enumerate(sig.positional):
        if i < len(args) and _kind(args[i]) == "float":
            for bad in MUST_RAISE.get(nm, ()) + MUST_RAISE_FLOAT:
                yield Variant(f"{nm}={bad!r}", *_replace(args, kwargs, "args", i, bad), expect="raise",
                              names=(nm,))
            for v in MAY_RAISE_FLOAT:
                yield Variant(f"{nm}={v!r}", *_replace(args, kwargs, "args", i, v), names=(nm,))
    for nm, default in sig.keyword.items():
        if nm in (GRAD_KW, "grad_out"):
            continue
        value = kwargs.get(nm, default)
        for bad in MUST_RAISE.get(nm, ()):
            yield Variant(f"{nm}={bad!r}", args, {**kwargs, nm: bad}, expect="raise", names=(nm,))
        if nm in ("reduction", "backend", "n_threads"):
            continue
        kind = _kind(value)
        if kind == "float":
            for bad in MUST_RAISE_FLOAT:
                if bad is None and default is None:
                    continue  # None is this option's default (e.g. focal_gamma)
                yield Variant(f"{nm}={bad!r}", args, {**kwargs, nm: bad}, expect="raise", names=(nm,))
            for v in MAY_RAISE_FLOAT:
                yield Variant(f"{nm}={v!r}", args, {**kwargs, nm: v}, names=(nm,))
        elif kind == "int":
            for bad in (1.5, "1", None):
                if bad is None and default is None:
                    continue  # None is this option's default (the segmentation losses' ignore_index)
                yield Variant(f"{nm}={bad!r}", args, {**kwargs, nm: bad}, expect="raise", names=(nm,))
            for v in MAY_RAISE_INT:
                yield Variant(f"{nm}={v!r}", args, {**kwargs, nm: v}, names=(nm,))
        elif kind == "str":
            for bad in ("no_such_option", "", 1):
                yield Variant(f"{nm}={bad!r}", args, {**kwargs, nm: bad}, expect="raise", names=(nm,))
            yield Variant(f"{nm}=None", args, {**kwargs, nm: None}, names=(nm,))
        elif kind == "bool":
            yield from bool_variants(args, kwargs, nm)
        elif kind == "array":
            if value.ndim >= 1 and value.shape[0] > 1:
                yield Variant(f"{nm} one element short", args, {**kwargs, nm: value[:-1]}, expect="raise",
                              names=(nm,))
            yield Variant(f"{nm} with an extra axis", args, {**kwargs, nm: value[None]}, names=(nm,))
            yield Variant(f"{nm} as complex", args, {**kwargs, nm: value.astype(complex)}, expect="raise",
                          names=(nm,))
            yield Variant(f"{nm} as a scalar", args, {**kwargs, nm: value.reshape(-1)[0]}, names=(nm,))
            yield Variant(f"{nm} as a list", args, {**kwargs, nm: value.tolist()}, names=(nm,))
            yield Variant(f"{nm} as a string", args, {**kwargs, nm: "weights"}, expect="raise", names=(nm,))
    if sig.has_grad:
        yield from bool_variants(args, kwargs, GRAD_KW, settings=[{}])
    if "n_threads" in sig.keyword:
        # Valid but absurd thread counts: the same bits as n_threads=1, on the
        # example and on every loss-specific edge input (some reach code paths
        # with more threads than work).
        for tag, (aa, kk) in extra_inputs:
            for t in HUGE_THREADS:
                yield Variant(f"{tag}, n_threads={t}", aa, {**kk, "n_threads": t}, expect="clean",
                              baseline=(aa, {**kk, "n_threads": 1}))
    if sig.has_grad and "grad_out" in sig.keyword:
        yield from grad_out_variants(sig, args, kwargs, dtype)


def bool_variants(args, kwargs, nm, settings=None):
    """A boolean option: anything but a bool raises TypeError; NumPy bools are
    bools (the bits of the call with the Python bool)."""
    for bad in NOT_BOOL:
        yield Variant(f"{nm}={bad!r}", args, {**kwargs, nm: bad}, expect="raise", names=(nm,), exc=(TypeError,),
                      settings=settings)
    for v in (np.True_, np.False_):
        yield Variant(f"{nm}={v!r}", args, {**kwargs, nm: v}, expect="clean", settings=settings,
                      baseline=(args, {**kwargs, nm: bool(v)}))


def grad_out_tuple(sig, args, first):
    """grad_out for a call: `first` (the first input's gradient buffer) alone, or,
    for a loss with several gradients, the tuple of it and fresh buffers for the
    others (SPECS[name].grads), so that the variants perturb its first slot."""
    if len(sig.grads) <= 1:
        return first
    rest = [args[sig.positional.index(n)] for n in sig.grads[1:]]
    return (first,) + tuple(np.full(np.shape(a), np.nan, np.asarray(a).dtype) for a in rest)


def grad_out_variants(sig, args, kwargs, dtype):
    pred = args[0] if args and isinstance(args[0], np.ndarray) else None
    if pred is None or pred.dtype != np.dtype(dtype):
        return
    g = "grad_out"
    if len(sig.grads) > 1:
        yield Variant("grad_out a single array for several gradients", args,
                      {**kwargs, g: np.full(pred.shape, np.nan, dtype)}, expect="raise", names=(g,),
                      settings=[{GRAD_KW: True}])
    other = np.float64 if np.dtype(dtype) == np.float32 else np.float32
    raise_cases = [
        ("of the other float dtype", np.empty(pred.shape, other)),
        ("of an integer dtype", np.empty(pred.shape, np.int64)),
        ("one row short", np.empty((pred.shape[0] - 1,) + pred.shape[1:], dtype) if pred.ndim else None),
        ("flattened", np.empty(pred.size, dtype) if pred.ndim != 1 else None),
        ("a list", np.zeros(pred.shape, dtype).tolist()),
        ("a strided view", np.empty(pred.shape[:-1] + (2 * pred.shape[-1],), dtype)[..., ::2] if pred.ndim else None),
        ("Fortran-ordered", np.asfortranarray(np.empty(pred.shape, dtype)) if pred.ndim >= 2 else None),
        ("byte-swapped", np.empty(pred.shape, np.dtype(dtype).newbyteorder())),
    ]
    ro = np.empty(pred.shape, dtype)
    ro.flags.writeable = False
    raise_cases.append(("read-only", ro))
    for desc, buf in raise_cases:
        if buf is not None:
            yield Variant(f"grad_out {desc}", args, {**kwargs, g: grad_out_tuple(sig, args, buf)},
                          expect="raise", names=(g,), settings=[{GRAD_KW: True}])
    # Overlapping an input other than pred itself (a shifted view of pred; an
    # input of pred's shape and dtype).
    if pred.size > 1:
        p2 = np.empty(pred.size + 1, dtype)
        p2[:-1] = pred.reshape(-1)
        aa = [p2[:-1].reshape(pred.shape)] + list(args[1:])
        yield Variant("grad_out overlapping pred shifted by one element", aa,
                      {**kwargs, g: grad_out_tuple(sig, aa, p2[1:].reshape(pred.shape))}, expect="raise", names=(g,),
                      settings=[{GRAD_KW: True}])
    for where, key, a in _arrays(args, kwargs):
        if (where, key) != ("args", 0) and a.shape == pred.shape and a.dtype == pred.dtype:
            aa, kk = _replace(args, kwargs, where, key, a.copy())
            src = aa[key] if where == "args" else kk[key]
            yield Variant(f"grad_out = {_argname(sig, where, key)}", aa, {**kk, g: grad_out_tuple(sig, aa, src)}, expect="raise",
                          names=(g,), settings=[{GRAD_KW: True}])
    yield Variant("grad_out with return_grad=False", args, {**kwargs, g: grad_out_tuple(sig, args, np.empty(pred.shape, dtype))},
                  expect="raise", names=(g,), settings=[{GRAD_KW: False}])
    # Valid: a fresh buffer, and pred itself (in place). Both must give the
    # clean call's bits.
    yield Variant("grad_out a fresh buffer", args, {**kwargs, g: grad_out_tuple(sig, args, np.full(pred.shape, np.nan, dtype))},
                  expect="clean", settings=[{GRAD_KW: True}])
    yield Variant("grad_out = pred (in place)", [pred.copy()] + list(args[1:]), dict(kwargs), expect="clean",
                  settings=[{GRAD_KW: True, "__in_place__": True}])


def variants(name, category, dtype, tmpdir):
    sig = signature(name)
    args, kwargs = example(name, dtype)
    rng = np.random.default_rng(1)
    if category == "dtypes":
        yield from dtype_variants(sig, args, kwargs, dtype)
    elif category == "shapes":
        yield from shape_variants(sig, args, kwargs, dtype)
    elif category == "layouts":
        yield from layout_variants(sig, args, kwargs, dtype, tmpdir)
    elif category == "values":
        yield from value_variants(sig, args, kwargs, dtype, rng)
    elif category == "torch":
        yield from torch_variants(sig, args, kwargs, dtype)
    elif category == "options":
        extra = [("example", (args, kwargs))]
        extra += [(f"EDGES[{i}]", edge_call(e)) for i, e in enumerate(edges(name, dtype))]
        yield from option_variants(sig, args, kwargs, dtype, extra)
    else:
        raise ValueError(category)


# ---------------------------------------------------------------- edges

def edges(name, dtype):
    """Loss-specific edge inputs (tests/cases.py EDGES), or []."""
    hook = EDGES.get(name)
    return list(hook(dtype)) if hook else []


def edge_call(entry):
    """(args, kwargs) of an EDGES entry; an entry may carry a third item, a
    dict of expectations (see tests/test_edges.py)."""
    return list(entry[0]), dict(entry[1])


def edge_expect(entry):
    return dict(entry[2]) if len(entry) > 2 else {}


# ---------------------------------------------------------------- checks

def names_an_argument(msg, names):
    return any(re.search(r"(?<![A-Za-z0-9_])" + re.escape(n) + r"(?![A-Za-z0-9_])", msg) for n in names)


def tol_scale(name, args):
    """cases.F32_TOL_SCALE for the call (1 for most losses); only float32 uses it."""
    scale = F32_TOL_SCALE.get(name)
    try:
        return scale(args) if scale else 1.0
    except (AttributeError, IndexError, TypeError):   # an input the awkward variants made a list or scalar
        return 1.0


def compare(actual, expected, what, nonfinite_grads=False, scale=1.0):
    """None when the two outcomes give the same numbers (SPEC tolerance of the
    result dtype, NaN where the other has NaN), else the difference.
    nonfinite_grads: the inputs hold inf or NaN; then where the reference's
    gradient is not finite the kernel's may be any non-finite value (inf - inf
    or inf * 0 of two equally valid formulas), finite entries still match."""
    if len(actual) != len(expected):
        return f"{what}: {len(actual)} results, the reference gives {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        if a.shape != e.shape or a.dtype != e.dtype:
            return f"{what}: result {i} is {a.dtype}{list(a.shape)}, the reference gives {e.dtype}{list(e.shape)}"
        if a.dtype.kind not in "fc":
            if not np.array_equal(a, e):
                return f"{what}: result {i} differs"
            continue
        tol = _TOL.get(a.dtype, _TOL[np.dtype(np.float32)])
        if a.dtype == np.float32 and scale != 1.0:
            tol = {k: v * scale for k, v in tol.items()}
        if i > 0 and nonfinite_grads:
            undefined = ~np.isfinite(e)
            if (np.isfinite(a) & undefined).any():
                return f"{what}: gradient {i} is finite where the reference's is not"
            a, e = np.where(undefined, 0, a), np.where(undefined, 0, e)
        try:
            np.testing.assert_allclose(a.astype(np.float64), e.astype(np.float64), equal_nan=True, **tol)
        except AssertionError as err:
            return f"{what}: result {i} ({'loss' if i == 0 else 'gradient'}) differs: " + " ".join(str(err).split())[:600]
    return None


def bitwise(actual, expected, what):
    if len(actual) != len(expected):
        return f"{what}: {len(actual)} results instead of {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        if a.dtype != e.dtype or a.shape != e.shape or a.tobytes() != e.tobytes():
            return f"{what}: result {i} is not bitwise equal"
    return None


def _effective(v, setting):
    """The keywords of variant v under a setting: the variant's own keywords
    win (a variant about `reduction` keeps its bad reduction)."""
    kw = dict(v.kwargs)
    for k, x in setting.items():
        if not k.startswith("__") and k not in kw:
            kw[k] = x
    return kw


def check(name, sig, v, setting, clean):
    """Failures (strings) of variant v under `setting`; `clean(v, setting)`
    gives the result a "clean" variant must reproduce bitwise."""
    kw = _effective(v, setting)
    args = list(v.args)
    if v.expect == "eval":
        return check_eval(name, sig, args, kw)
    in_place = setting.get("__in_place__", False)
    if in_place:
        pristine = args[0]
        args[0] = pristine.copy()
        kw["grad_out"] = grad_out_tuple(sig, args, args[0])
    k = call(name, "c", args, kw)
    if isinstance(k.error, BEYOND_MACHINE) and v.expect not in ("ok", "clean"):
        return []
    if k.error is not None and not isinstance(k.error, ALLOWED):
        return [f"the kernel raised {k.describe()} (only ValueError/TypeError may escape)\n"
                + "".join(traceback.format_exception(k.error))[-700:]]
    if v.expect == "raise":
        if k.error is None:
            return [f"should raise {'/'.join(e.__name__ for e in v.exc)} naming {v.names}, but it returned"]
        if not isinstance(k.error, v.exc):
            return [f"should raise {'/'.join(e.__name__ for e in v.exc)}, raised {k.describe()}"]
    if k.error is not None:
        if v.expect in ("ok", "clean"):
            return [f"should work, raised {k.describe()}"]
        names = v.names or tuple(sig.names())
        if not names_an_argument(str(k.error), names):
            return [f"the message does not name {' or '.join(names)}: {k.describe()}"]
    if v.expect == "raise":
        return []
    if v.expect == "kernel":
        # the gradients of inputs without a batch axis (a CRF's transitions) keep their shapes
        fixed = {a.shape for a in args if isinstance(a, np.ndarray) and a.size}
        big = [f"{a.dtype}{list(a.shape)}" for a in (k.value or []) if a.size > 1 and a.shape not in fixed]
        return [f"an empty input gave results with elements: {big}"] if big else []
    if in_place:
        args[0] = pristine
        kw.pop("grad_out")
    r = call(name, "numpy", args, kw)
    if isinstance(r.error, BEYOND_MACHINE) and v.expect not in ("ok", "clean"):
        return []
    if r.error is not None and not isinstance(r.error, ALLOWED):
        return [f"the reference raised {r.describe()} (only ValueError/TypeError may escape)\n"
                + "".join(traceback.format_exception(r.error))[-700:]]
    if (k.error is None) != (r.error is None):
        return [f"the kernel {k.describe()} but the reference {r.describe()}"]
    if k.error is not None:
        if isinstance(k.error, ValueError) != isinstance(r.error, ValueError):
            return [f"the kernel raised {k.describe()}, the reference {r.describe()}"]
        return []
    fails = []
    d = compare(k.value, r.value, "kernel vs reference", nonfinite_grads=has_nonfinite(args, kw),
                scale=tol_scale(name, args))
    if d:
        fails.append(d)
    if v.expect == "clean":
        for backend, got in (("c", k), ("numpy", r)):
            c = clean(v, setting, backend)
            if c.error is not None:
                fails.append(f"the clean call ({backend}) raised {c.describe()}")
            else:
                d = bitwise(got.value, c.value, f"backend {backend} vs its clean call")
                if d:
                    fails.append(d)
    return fails


def check_eval(name, sig, args, kw):
    """Failures of `lossk eval` in chunks of one row against the in-memory call."""
    from lossk._eval import evaluate
    options = {k: x for k, x in kw.items() if k != "reduction"}
    e = Outcome()
    try:
        with np.errstate(all="ignore"):
            value = evaluate(name, *args, reduction=kw["reduction"], options=options, chunk_rows=1)[0]
    except Exception as err:  # noqa: BLE001 - classified below
        e.error = err
    m = call(name, "c", args, kw)
    if e.error is not None and not isinstance(e.error, ALLOWED + BEYOND_MACHINE):
        return [f"lossk eval raised {e.describe()} (only ValueError/TypeError may escape)\n"
                + "".join(traceback.format_exception(e.error))[-700:]]
    if isinstance(e.error, BEYOND_MACHINE) or isinstance(m.error, BEYOND_MACHINE):
        return []
    if (e.error is None) != (m.error is None):
        return [f"lossk eval {e.describe()} but the in-memory call {m.describe()}"]
    if e.error is not None:
        names = tuple(sig.names()) + ("pred", "target")
        return [] if names_an_argument(str(e.error), names) else [f"the message names no argument: {e.describe()}"]
    with np.errstate(over="ignore"):      # a float64 sum beyond float32: inf, as in memory
        value = np.array(value).astype(m.value[0].dtype)
    d = compare([value], m.value, "lossk eval vs in memory")
    return [d] if d else []


def has_nonfinite(args, kwargs):
    """Whether a floating-point input holds inf or NaN."""
    for v in list(args) + list(kwargs.values()):
        if isinstance(v, np.ndarray) and v.dtype.kind in "fc" and v.size and not np.isfinite(v).all():
            return True
    return False


def _jsonable(x):
    return x if isinstance(x, (str, int, float, bool, type(None))) else repr(x)


def run_batch(name, category, out=sys.stdout):
    """Runs every variant of (name, category) for both dtypes and every
    setting; one JSON line per case start, per failure, and a final summary.
    Returns the number of failures."""
    sig = signature(name)
    n_cases = n_fail = 0
    cache = {}

    def emit(**rec):
        out.write(json.dumps({k: _jsonable(v) for k, v in rec.items()}) + "\n")
        out.flush()

    def clean(v, setting, backend="c"):
        args, kwargs = v.baseline
        # the baseline's own keywords win, as the variant's do (_effective)
        kw = {**{k: x for k, x in setting.items() if not k.startswith("__")}, **kwargs}
        key = (id(v.baseline), backend, json.dumps({k: _jsonable(x) for k, x in kw.items()
                                                    if not isinstance(x, np.ndarray)}, sort_keys=True))
        if key not in cache:
            cache[key] = (v.baseline, call(name, backend, list(args), kw))  # keeps baseline alive: ids stay unique
        return cache[key][1]

    with tempfile.TemporaryDirectory() as tmp:
        for dtype in DTYPES:
            args, kwargs = example(name, dtype)
            example_call = (args, kwargs)
            for s in settings(sig, name):
                o = call(name, "c", args, {**kwargs, **s})
                if o.error is not None:
                    emit(fail=f"{name} {np.dtype(dtype)} the clean example with {s}", why=o.describe())
                    n_fail += 1
            try:
                batch = list(variants(name, category, dtype, tmp))
            except Exception:  # noqa: BLE001 - a bug of this generator, reported as such
                emit(fail=f"{name} {np.dtype(dtype)}: generating the {category} variants",
                     why=traceback.format_exc()[-1500:])
                n_fail += 1
                continue
            for v in batch:
                if v.baseline is None:
                    v.baseline = example_call
                for s in (v.settings if v.settings is not None else settings(sig, name)):
                    if v.expect == "clean" and clean(v, s).error is not None:
                        continue  # e.g. a reduction the loss lacks: nothing to reproduce
                    desc = f"{name} {np.dtype(dtype)} {v.desc} {({k: x for k, x in s.items() if not k.startswith('__')})}"
                    emit(start=desc)
                    n_cases += 1
                    for f in check(name, sig, v, s, clean):
                        n_fail += 1
                        emit(fail=desc, why=f)
    emit(done=n_cases, failures=n_fail)
    return n_fail


if __name__ == "__main__":
    sys.exit(1 if run_batch(sys.argv[1], sys.argv[2]) else 0)
