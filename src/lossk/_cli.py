"""The lossk command line (`lossk ...` or `python -m lossk ...`).

    lossk info                 version, OpenMP, threads, SIMD level, build flags, C library
    lossk info --cmake-dir     one path, for scripts: cmake -Dlossk_DIR="$(lossk info --cmake-dir)"
    lossk info --pkgconfig-dir PKG_CONFIG_PATH="$(lossk info --pkgconfig-dir)" pkg-config --libs lossk
    lossk info --include-dir   the directory of lossk.h
"""
import argparse
import sys

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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="lossk", description="lossk: fused loss and gradient kernels.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
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
