"""The lossk command line (`lossk ...` or `python -m lossk ...`).

    lossk bench [--quick] [--only SUBSTR] [--threads 1,2] [--out DIR] [--list]
                               the comparison tables of benchmarks/bench.py (results in
                               ./lossk-bench unless --out)
    lossk info                 version, OpenMP, threads, SIMD level, build flags, C library
    lossk info --cmake-dir     one path, for scripts: cmake -Dlossk_DIR="$(lossk info --cmake-dir)"
    lossk info --pkgconfig-dir PKG_CONFIG_PATH="$(lossk info --pkgconfig-dir)" pkg-config --libs lossk
    lossk info --include-dir   the directory of lossk.h
"""
import argparse
import os
import sys
from pathlib import Path

_PATHS = {"cmake_dir": "CMake package", "pkgconfig_dir": "pkg-config file", "include_dir": "C header"}


def _info(args):
    from ._config import c_library, show_config
    wanted = [key for key in _PATHS if getattr(args, key)]
    if not wanted:
        show_config()
        return 0
    lib = c_library()
    for key in wanted:
        if lib[key] is None:
            print(f"lossk: no {_PATHS[key]} in this installation (an in-place build has no separate C library; "
                  f"`pip install .` installs one)", file=sys.stderr)
            return 1
        print(lib[key])
    return 0


def _bench_dir():
    """The harness: installed with the package, else the checkout's benchmarks/."""
    package = os.path.dirname(os.path.abspath(__file__))
    for path in (os.path.join(package, "_bench"), os.path.join(package, os.pardir, os.pardir, "benchmarks")):
        if os.path.isfile(os.path.join(path, "bench.py")):
            return os.path.abspath(path)
    return None


def _bench(argv):
    path = _bench_dir()
    if path is None:
        print("lossk: the benchmark harness is not installed (pip install . installs it)", file=sys.stderr)
        return 1
    sys.path.insert(0, path)   # its modules import each other by their own names
    sys.argv[0] = "lossk bench"  # the harness's usage line and the command its results record
    import bench
    return bench.main(argv, default_out=Path("lossk-bench"))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:
        return _bench(argv[1:])
    parser = argparse.ArgumentParser(prog="lossk", description="lossk: fused loss and gradient kernels.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # listed here; main() hands its arguments to the harness's own parser (argparse's
    # REMAINDER does not take options that come first)
    commands.add_parser("bench", help="lossk against NumPy, PyTorch and the memory limit (lossk bench --help)")
    info = commands.add_parser("info", help="version, OpenMP, threads, SIMD level and where the C library is",
                               description="Print the build and run-time configuration (lossk.show_config()), "
                                           "or one path of the C library.")
    for key, what in _PATHS.items():
        info.add_argument("--" + key.replace("_", "-"), action="store_true", help=f"print the {what}'s directory")
    info.set_defaults(run=_info)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
