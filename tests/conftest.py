"""Test setup: use the in-place build (python setup.py build_ext --inplace) when
the checkout has one, else the installed package."""
import glob
import os
import sys

_SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
if glob.glob(os.path.join(_SRC, "lossk", "_kernels*.so")) or glob.glob(os.path.join(_SRC, "lossk", "_kernels*.pyd")):
    sys.path.insert(0, _SRC)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tests/helpers.py, tests/cases.py
