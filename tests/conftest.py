"""Test setup: use the in-place build (python setup.py build_ext --inplace) when
the checkout has one, else the installed package."""
import glob
import os
import sys

_SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
if glob.glob(os.path.join(_SRC, "lossk", "_kernels*.so")) or glob.glob(os.path.join(_SRC, "lossk", "_kernels*.pyd")):
    sys.path.insert(0, _SRC)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tests/helpers.py, tests/cases.py


# Tests marked slow need minutes or more than 10 GiB (tests/test_large.py): a user
# running the suite on a workstation opts in with --run-slow (CI does, where the
# machine has the memory; .ci/run says how).
def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run the tests marked slow (minutes, over 10 GiB of memory)")


# Modules that test an adapter or harness over kernels the family and registry
# tests already cover (torch ops, Dask, the benchmark harness, a compiled downstream
# extension): marked `integration`, which the sanitizer job leaves out (its suite
# under ASan is CI's longest stage; these add minutes there and no kernel coverage).
INTEGRATION_MODULES = {"test_torch_ops", "test_dask", "test_bench_workloads", "test_bench_peers",
                       "test_c_package"}


def pytest_collection_modifyitems(config, items):
    import pytest
    for item in items:
        if item.module is not None and item.module.__name__ in INTEGRATION_MODULES:
            item.add_marker(pytest.mark.integration)
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow and memory-hungry: opt in with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
