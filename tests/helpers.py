"""Shared test tools: tolerances (SPEC §1), torch access, finite differences,
thread-count determinism."""
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
