"""The default thread count follows the OpenMP runtime, so threadpoolctl sees and
limits lossk's threads; explicit n_threads, num_threads() and set_num_threads() win."""
import os

import numpy as np
import pytest

import lossk
from lossk._checks import resolve_n_threads
from helpers import run_python

threadpoolctl = pytest.importorskip("threadpoolctl")


@pytest.fixture
def openmp_default():
    """The OpenMP runtime's default in force (no set_num_threads), restored after."""
    saved = lossk._threads._default
    lossk.set_num_threads(None)
    yield
    lossk._threads._default = saved


def _mapped_libraries():
    with open("/proc/self/maps") as f:
        return {os.path.realpath(line.split()[-1]) for line in f if "/" in line}


def test_threadpool_info_shows_the_openmp_runtime_lossk_uses(openmp_default):
    import lossk._kernels as k
    ours = {os.path.realpath(p) for p in _mapped_libraries() if "gomp" in os.path.basename(p)
            or "libomp" in os.path.basename(p)}
    assert k.build_info()["openmp"] and ours
    openmp = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "openmp"]
    listed = {os.path.realpath(i["filepath"]) for i in openmp}
    assert ours & listed, (ours, listed)
    mine = next(i for i in openmp if os.path.realpath(i["filepath"]) in ours)
    assert mine["num_threads"] == lossk.get_num_threads()


def test_threadpool_limits_bound_the_default_not_explicit_counts(openmp_default):
    before = lossk.get_num_threads()
    x = np.random.default_rng(0).standard_normal((300, 40)).astype(np.float32)
    y = np.arange(300) % 40
    want = lossk.cross_entropy(x, y, return_grad=True, n_threads=1)
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert lossk.get_num_threads() == 1
        assert resolve_n_threads(None) == 1
        assert resolve_n_threads(2) == 2           # an explicit count still wins
        with lossk.num_threads(3):
            assert lossk.get_num_threads() == 3    # so does the context manager
        got = lossk.cross_entropy(x, y, return_grad=True)
        assert got[0] == want[0] and np.array_equal(got[1], want[1])
    assert lossk.get_num_threads() == before


def test_set_num_threads_overrides_the_runtime_until_reset(openmp_default):
    lossk.set_num_threads(3)
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert lossk.get_num_threads() == 3
        lossk.set_num_threads(None)
        assert lossk.get_num_threads() == 1


def test_default_follows_omp_num_threads_and_limits_in_a_fresh_process():
    code = ("import lossk, threadpoolctl\n"
            "a = lossk.get_num_threads()\n"
            "with threadpoolctl.threadpool_limits(2, user_api='openmp'):\n"
            "    b = lossk.get_num_threads()\n"
            "print(a, b, lossk.get_num_threads())\n")
    out = run_python(code, OMP_NUM_THREADS="3")
    assert out.stdout.split() == ["3", "2", "3"], out.stderr
