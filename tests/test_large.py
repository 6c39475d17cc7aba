"""64-bit sizes: cross_entropy over more than 2^31 elements, in each of its
code paths, with every index expression exercised beyond 2^31. The logits are
zero except one entry per row (or position), so every loss and gradient is
known in closed form; the gradient is written in place, so each case needs
one 8 GiB array. Marked slow; skipped when the machine has less memory free."""
import numpy as np
import pytest

import lossk

GIB = 1 << 30


def _available_bytes():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


needs_memory = pytest.mark.skipif(_available_bytes() < 10 * GIB,
                                  reason="needs 10 GiB of free memory (one 8 GiB array plus targets)")
pytestmark = [pytest.mark.slow, needs_memory]


def _expected(c, v):
    """Loss and the softmax of a row of c zeros but v at the target."""
    z = (c - 1) + np.exp(v)
    return np.log(z) - v, 1.0 / z, np.exp(v) / z - 1.0


def _check_row(g_row, y, v, c):
    _, p_other, g_y = _expected(c, np.float64(v))
    np.testing.assert_allclose(g_row[y], g_y, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(np.delete(g_row, y), p_other, rtol=1e-5, atol=1e-12)


@pytest.mark.parametrize("n, c", [(2**16 + 2, 2**15),       # row kernel: 2^31 + 2^16 elements
                                  (2**26 + 3, 32)],         # narrow rows (column kernel on transposed tiles)
                         ids=["rows", "narrow"])
def test_rows_beyond_2_31_elements(n, c):
    assert n * c > 2**31
    x = np.zeros((n, c), np.float32)
    i = np.arange(n)
    y = ((i * 7919) % c).astype(np.int32)
    v = ((i % 13) - 6) * np.float32(0.5)
    x[i, y] = v
    loss, g = lossk.cross_entropy(x, y, reduction="none", return_grad=True, grad_out=x, n_threads=2)
    assert g is x
    want, _, _ = _expected(c, v.astype(np.float64))
    np.testing.assert_allclose(loss, want, rtol=1e-5, atol=1e-6)
    boundary = 2**31 // c                     # the first row whose elements start beyond 2^31 - 1
    for r in (0, 1, boundary - 1, boundary, boundary + 1, n - 1):
        _check_row(g[r], y[r], v[r], c)
    # every row's gradient sums to 0 (softmax minus one-hot): the whole array was written
    np.testing.assert_allclose(g[boundary - 8:].sum(axis=1, dtype=np.float64), 0, atol=1e-5)
    del x, g


def test_spatial_beyond_2_31_elements():
    n, c, inner = 2, 64, 2**24 + 8          # 2^31 + 1024 elements
    x = np.zeros((n, c, inner), np.float32)
    j = np.arange(inner)
    y = np.stack([(j * 31 + s) % c for s in range(n)]).astype(np.int32)
    v = np.stack([((j % 11) - 5) * np.float32(0.75)] * n)
    for s in range(n):
        x[s, y[s], j] = v[s]
    loss, g = lossk.cross_entropy(x, y, reduction="none", return_grad=True, grad_out=x, n_threads=2)
    want, p_other, g_y = _expected(c, v.astype(np.float64))
    np.testing.assert_allclose(loss, want, rtol=1e-5, atol=1e-6)
    last = inner - 1                         # the element at the highest flat index
    for s, pos in ((0, 0), (1, 0), (1, inner // 2), (1, last)):
        col = g[s, :, pos]
        np.testing.assert_allclose(col[y[s, pos]], g_y[s, pos], rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(np.delete(col, y[s, pos]), p_other[s, pos], rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(g[1, :, -4096:].sum(axis=0, dtype=np.float64), 0, atol=1e-5)
    del x, g


def test_one_row_longer_than_2_31():
    c = 2**31 + 64                           # one row: threads share its chunks (split-row mode)
    x = np.zeros((1, c), np.float32)
    y = np.array([2**31 + 7], np.int64)      # a class index beyond int32
    v = np.float32(3.0)
    x[0, y[0]] = v
    want, p_other, g_y = _expected(c, np.float64(v))
    loss = lossk.cross_entropy(x, y, reduction="none", n_threads=2)         # no gradient: per-thread buffers
    np.testing.assert_allclose(loss, [want], rtol=1e-5)
    loss, g = lossk.cross_entropy(x, y, reduction="sum", return_grad=True, grad_out=x, n_threads=2)
    np.testing.assert_allclose(loss, want, rtol=1e-5)
    np.testing.assert_allclose(g[0, y[0]], g_y, rtol=1e-5)
    np.testing.assert_allclose(g[0, [0, 2**31 - 1, 2**31, c - 1]], p_other, rtol=1e-5)
    del x, g
