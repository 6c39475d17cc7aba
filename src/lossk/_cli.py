"""The lossk command line (`lossk ...` or `python -m lossk ...`).

    lossk bench [--quick] [--only SUBSTR] [--threads 1,2] [--out DIR] [--list]
                               the comparison tables of benchmarks/bench.py (results in
                               ./lossk-bench unless --out)
    lossk eval LOSS PRED.npy TARGET.npy [--reduction mean|sum|batchmean] [-o NAME=VALUE ...]
               [--chunk-rows N] [--threads N] [--scheduler threads|processes|ADDRESS]
               [--progress | --no-progress] [--json]
                               one loss over .npy files larger than memory, memory-mapped and
                               streamed in chunks of rows (VALUE: a Python literal, a word, or
                               a .npy file for an array option)
    lossk info                 version, OpenMP, threads, SIMD level, build flags, C library
    lossk info --cmake-dir     one path, for scripts: cmake -Dlossk_DIR="$(lossk info --cmake-dir)"
    lossk info --pkgconfig-dir PKG_CONFIG_PATH="$(lossk info --pkgconfig-dir)" pkg-config --libs lossk
    lossk info --include-dir   the directory of lossk.h
"""
import argparse
import ast
import json
import sys
import time
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


def _load(path, what):
    """A .npy file, memory-mapped (read-only: nothing is read until used)."""
    if not path.endswith(".npy"):
        raise ValueError(f"{what} must be a .npy file, got {path!r}")
    import numpy as np
    return np.load(path, mmap_mode="r")


def _option(text):
    """NAME=VALUE: VALUE a .npy file (an array), a Python literal, else a word."""
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise ValueError(f"an option is NAME=VALUE, got {text!r}")
    if value.endswith(".npy"):
        return name, _load(value, f"option {name}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value       # a word, e.g. box_format=cxcywh


def _eval(args):
    from ._eval import ProgressBar, evaluate, evaluate_dask
    show = sys.stderr.isatty() if args.progress is None else args.progress
    bar = ProgressBar(sys.stderr, args.loss) if show and not args.scheduler else None
    try:
        options = dict(_option(text) for text in args.option)
        pred, target = _load(args.pred, "PRED"), _load(args.target, "TARGET")
        start = time.perf_counter()
        if args.scheduler:
            value, chunks = evaluate_dask(args.loss, pred, target, scheduler=args.scheduler,
                                          reduction=args.reduction, options=options, chunk_rows=args.chunk_rows,
                                          n_threads=args.threads, progress=sys.stderr if show else None)
        else:
            value, chunks = evaluate(args.loss, pred, target, reduction=args.reduction, options=options,
                                     chunk_rows=args.chunk_rows, n_threads=args.threads, progress=bar)
    except ImportError as e:
        print(f"lossk eval: --scheduler needs Dask ({e}): pip install 'dask[array]' distributed", file=sys.stderr)
        return 1
    except (OSError, ValueError, TypeError) as e:
        if bar is not None:
            bar.close()      # the message on a line of its own
        print(f"lossk eval: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(dict(loss=args.loss, reduction=args.reduction, value=value, rows=int(pred.shape[0]) if
                              pred.ndim else 1, chunks=chunks, seconds=time.perf_counter() - start)))
    else:
        print(repr(value))
    return 0


def _bench(argv):
    sys.argv[0] = "lossk bench"  # the harness's usage line and the command its results record
    from ._bench import bench
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
    ev = commands.add_parser("eval", help="one loss over .npy files larger than memory, in chunks of rows",
                             description="Print the loss of PRED against TARGET (.npy files, memory-mapped), "
                                         "computed over chunks of PRED's rows (axis 0).")
    ev.add_argument("loss", metavar="LOSS", help="a loss of lossk.LOSSES, e.g. sigmoid_focal_loss")
    ev.add_argument("pred", metavar="PRED", help="the prediction, a .npy file")
    ev.add_argument("target", metavar="TARGET", help="the target, a .npy file")
    ev.add_argument("--reduction", default="mean", help="mean (default), sum, or batchmean (kl_div)")
    ev.add_argument("-o", "--option", action="append", default=[], metavar="NAME=VALUE",
                    help="a keyword argument of the loss, e.g. -o gamma=2 -o weight=w.npy (repeatable)")
    ev.add_argument("--chunk-rows", type=int, default=None, metavar="N",
                    help="rows per chunk (default: about 64 MiB of the prediction)")
    ev.add_argument("--threads", type=int, default=None, metavar="N",
                    help="threads (default: lossk's; with --scheduler, per task: 1)")
    ev.add_argument("--scheduler", default=None, metavar="threads|processes|ADDRESS",
                    help="run the chunks as a Dask graph: Dask's threads, a local cluster of processes, or a "
                         "distributed scheduler's address (e.g. tcp://127.0.0.1:8786); the same value")
    ev.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                    help="a progress bar on stderr (default: when stderr is a terminal)")
    ev.add_argument("--json", action="store_true", help="print a JSON object instead of the bare value")
    ev.set_defaults(run=_eval)
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
