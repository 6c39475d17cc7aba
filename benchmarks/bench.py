"""Runs the benchmark harness lossk._bench.bench (src/lossk/_bench/; see README.md
here) with this script's arguments, results in benchmarks/results/ unless --out:

    python benchmarks/bench.py [--quick] [--only SUBSTR] [--threads 1,2] [--out DIR] [--list]

The harness is the lossk it measures: the checkout's in-place build (python setup.py
build_ext --inplace) when there is one, else the installed package.
"""
import glob
import importlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"


def run(module: str, **kwargs) -> int:
    """main() of lossk._bench.<module>, or 2 when lossk cannot be imported."""
    # the in-place build, as tests/conftest.py finds it
    if glob.glob(str(SRC / "lossk" / "_kernels*.so")) or glob.glob(str(SRC / "lossk" / "_kernels*.pyd")):
        sys.path.insert(0, str(SRC))
    try:
        harness = importlib.import_module(f"lossk._bench.{module}")
    except ImportError as e:
        print(f"cannot import lossk ({e}): build it first (python setup.py build_ext "
              "--inplace) or install it", file=sys.stderr)
        return 2
    return harness.main(**kwargs)


if __name__ == "__main__":
    sys.exit(run("bench", default_out=HERE / "results"))
