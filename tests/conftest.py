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


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    import pytest
    skip = pytest.mark.skip(reason="slow and memory-hungry: opt in with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
