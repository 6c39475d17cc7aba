"""Shared test tools: tolerances (SPEC §1), torch access, finite differences,
thread-count determinism, the C compiler and subprocesses."""
import os
import shutil
import subprocess

import numpy as np
import pytest

try:
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(1)
except ImportError:  # torch is optional: its tests skip
    torch = None
    F = None

requires_torch = pytest.mark.skipif(torch is None, reason="torch is not installed (pip install torch==2.13.0)")

# SPEC §1: float64 rtol 1e-10; float32 rtol 1e-5 / atol 1e-6, on losses and gradients.
TOL = {np.dtype(np.float32): dict(rtol=1e-5, atol=1e-6), np.dtype(np.float64): dict(rtol=1e-10, atol=1e-12)}
THREAD_COUNTS = (1, 2, 3, 8)


def assert_close(actual, expected, dtype=None, **override):
    """Compare with the SPEC tolerance of `dtype` (default: actual's dtype); NaN equals NaN."""
    actual = np.asarray(actual)
    dt = np.dtype(dtype) if dtype is not None else actual.dtype
    tol = dict(TOL.get(dt, TOL[np.dtype(np.float32)]))
    tol.update(override)
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64),
                               equal_nan=True, **tol)


def to_torch(a, requires_grad=False):
    t = torch.from_numpy(np.ascontiguousarray(a))
    return t.requires_grad_() if requires_grad else t


def finite_difference_grad(f, x, h=1e-6):
    """Central differences of the scalar function f at x (float64), element by element."""
    x = np.array(x, dtype=np.float64)
    g = np.empty_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = float(f(x))
        flat[i] = old - h
        down = float(f(x))
        flat[i] = old
        gflat[i] = (up - down) / (2 * h)
    return g


def assert_bitwise_across_threads(fn, *args, **kwargs):
    """fn(*args, return_grad=True, n_threads=t, **kwargs) gives identical bits for every t."""
    results = [fn(*args, return_grad=True, n_threads=t, **kwargs) for t in THREAD_COUNTS]
    first = results[0]
    for t, res in zip(THREAD_COUNTS[1:], results[1:]):
        for a, b in zip(_leaves(first), _leaves(res)):
            assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), f"n_threads={t} differs from n_threads=1"


def _leaves(result):
    out = []
    for r in result:
        if isinstance(r, tuple):
            out.extend(r)
        else:
            out.append(r)
    return out


def run_python(code, **env):
    """Run `code` in a fresh interpreter that imports the same lossk as the tests
    (in-place build or installed), with extra environment variables."""
    import os
    import subprocess
    import sys

    import lossk
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(lossk.__file__)))
    full_env = dict(os.environ, **env)
    full_env["PYTHONPATH"] = os.pathsep.join([pkg_parent, full_env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True, text=True,
                          timeout=300)


def torch_loss_and_grad(torch_fn, x, t, reduction, **kw):
    """torch_fn(x, t, reduction=..., **kw)'s loss and the autograd gradient of the
    sum of its returned losses w.r.t. x, as NumPy arrays; integer targets go in as
    int64 and a `weight` array as a tensor."""
    xt = to_torch(x, requires_grad=True)
    t = np.asarray(t)
    tt = torch.from_numpy(t.astype(np.int64)) if t.dtype.kind in "iu" else to_torch(t)
    if kw.get("weight") is not None:
        kw = dict(kw, weight=to_torch(kw["weight"]))
    loss = torch_fn(xt, tt, reduction=reduction, **kw)
    loss.sum().backward()
    return loss.detach().numpy(), xt.grad.numpy()


def assert_grad_out_and_in_place(fn, x, *args, **kwargs):
    """fn(x, *args, return_grad=True, grad_out=...) writes every element of the given
    array and returns it, and grad_out=x (in place) gives the same loss and gradient bits."""
    loss, expected = fn(x, *args, return_grad=True, **kwargs)
    buf = np.full_like(x, np.nan)
    loss1, grad = fn(x, *args, return_grad=True, grad_out=buf, **kwargs)
    assert grad is buf and np.shares_memory(grad, buf)
    assert np.asarray(loss1).tobytes() == np.asarray(loss).tobytes()
    assert buf.tobytes() == expected.tobytes()
    xi = x.copy()
    loss2, grad2 = fn(xi, *args, return_grad=True, grad_out=xi, **kwargs)
    assert grad2 is xi
    assert np.asarray(loss2).tobytes() == np.asarray(loss).tobytes()
    assert xi.tobytes() == expected.tobytes()


def awkward_copies(a):
    """The values of `a` as a read-only array, a strided view, Fortran order, byte-swapped
    and a nested list: every one must give the same numbers as `a`."""
    ro = np.array(a)
    ro.setflags(write=False)
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype) if a.ndim else None
    if wide is not None:
        wide[..., ::2] = a
    out = [ro, np.asfortranarray(a), a.astype(a.dtype.newbyteorder("S")),
           a.tolist()]
    return out + ([wide[..., ::2]] if wide is not None else [])


def class_index_case(rng, shape, dtype, options=(), weight_name="weight", int32=False, scale=3.0):
    """A random prediction of `shape` ((C,), (N, C) or (N, C, d1, ...)), class indices of
    the sample shape, and `options` with `weight_name: True` replaced by random positive
    per-class weights; with `ignore_index`, every third target is ignored (a single
    sample never is)."""
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    c = shape[0] if len(shape) == 1 else shape[1]
    kw = dict(options)
    if kw.get(weight_name) is True:
        kw[weight_name] = (rng.random(c) + 0.1).astype(dtype)
    t = rng.integers(0, c, () if len(shape) == 1 else (shape[0],) + shape[2:])
    t = t.astype(np.int32 if int32 else np.int64)
    if "ignore_index" in kw and t.ndim:
        t.reshape(-1)[::3] = kw["ignore_index"]
    elif "ignore_index" in kw and t == kw["ignore_index"]:
        t = (t + 1) % c
    return x, t, kw


def _loss_pair(name):
    import lossk
    return getattr(lossk, name), getattr(lossk.reference, name)


def assert_matches_reference(name, args, reduction, **kwargs):
    """lossk.<name> vs lossk.reference.<name>: result dtypes and shapes (per-sample
    losses of the target's shape), loss and gradient within the SPEC tolerance; the
    loss alone and backend="numpy" give the same bits."""
    fn, ref = _loss_pair(name)
    x = args[0]
    loss, grad = fn(*args, reduction=reduction, return_grad=True, **kwargs)
    ref_loss, ref_grad = ref(*args, reduction=reduction, return_grad=True, **kwargs)
    dtype = x.dtype
    assert np.asarray(loss).dtype == dtype and grad.dtype == dtype and grad.shape == x.shape
    assert np.shape(loss) == (np.shape(args[1]) if reduction == "none" else ())
    assert_close(loss, ref_loss, dtype)
    assert_close(grad, ref_grad, dtype)
    assert_close(fn(*args, reduction=reduction, **kwargs), loss, dtype, rtol=0, atol=0)
    assert_close(fn(*args, reduction=reduction, backend="numpy", **kwargs), ref_loss, dtype, rtol=0, atol=0)
    return loss, grad


def assert_matches_peer(fn, peer, args, dtype, peer_args=None, peer_kwargs=None, **kwargs):
    """fn(*args, reduction=r, **kwargs) vs peer(*peer_args, r, **peer_kwargs) -> (loss,
    gradient of the summed losses), for every reduction, within `dtype`'s tolerance."""
    for reduction in ("mean", "sum", "none"):
        loss, grad = fn(*args, reduction=reduction, return_grad=True, **kwargs)
        peer_loss, peer_grad = peer(*(args if peer_args is None else peer_args), reduction,
                                    **(kwargs if peer_kwargs is None else peer_kwargs))
        assert_close(loss, peer_loss, dtype)
        assert_close(grad, peer_grad, dtype)


def assert_gradient_matches_finite_differences(name, args, reduction, *, atol=1e-8, **kwargs):
    """The kernel's float64 gradient vs central differences of the reference loss
    (of the sum of the per-element losses for "none")."""
    fn, ref = _loss_pair(name)
    x, rest = args[0], args[1:]
    _, grad = fn(x, *rest, reduction=reduction, return_grad=True, **kwargs)
    fd = finite_difference_grad(lambda z: np.sum(ref(z, *rest, reduction=reduction, **kwargs)), x)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=atol)


def assert_none_gradient_is_sum_gradient(fn, *args, **kwargs):
    _, g_none = fn(*args, reduction="none", return_grad=True, **kwargs)
    _, g_sum = fn(*args, reduction="sum", return_grad=True, **kwargs)
    assert g_none.tobytes() == g_sum.tobytes()


def assert_all_raise(cases):
    """cases: (call, exception type, regex its message must match)."""
    for call, exc, pattern in cases:
        with pytest.raises(exc, match=pattern):
            call()


# The C compiler for the tests that build C programs ($CC, else cc, gcc or clang); None: they skip.
CC = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")


def run_command(cmd, ok=True, **kw):
    """subprocess.run with captured text output; ok: assert exit status 0, showing the output."""
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300, **kw)
    if ok:
        assert p.returncode == 0, f"{' '.join(map(str, cmd))}\n{p.stdout}\n{p.stderr}"
    return p
