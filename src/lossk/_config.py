"""lossk.show_config(): what this build is and what it runs with."""
import glob
import os
import sys

from . import _kernels
from ._threads import get_num_threads


_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def c_library():
    """Where the C library that `pip install` puts in the package is, for C and
    C++ programs: the directory of lossk.h, the shared library, and the
    directories of lossk.pc (pkg-config) and losskConfig.cmake (CMake). None
    for what is absent: an in-place build (setup.py) compiles the kernels into
    the extension and has no separate library."""
    def existing(path):
        return path if os.path.exists(path) else None
    libs = sorted(glob.glob(os.path.join(_PACKAGE, "liblossk.*")) + glob.glob(os.path.join(_PACKAGE, "lossk.dll")))
    return {
        "include_dir": existing(os.path.join(_PACKAGE, "include")),
        "library": libs[0] if libs else None,
        "pkgconfig_dir": existing(os.path.join(_PACKAGE, "lib", "pkgconfig")),
        "cmake_dir": existing(os.path.join(_PACKAGE, "lib", "cmake", "lossk")),
    }


def get_include():
    """The directory of lossk.h, for C and Cython extensions built against lossk
    (``from lossk cimport clossk``); None for an in-place build, which has no
    separate C library."""
    return c_library()["include_dir"]


def get_library_dir():
    """The directory of the shared C library (liblossk), to link such extensions
    with ``-llossk``; None for an in-place build."""
    lib = c_library()["library"]
    return os.path.dirname(lib) if lib else None


def config():
    """The build and run-time configuration as a dict."""
    info = dict(_kernels.build_info())
    info["threads"] = get_num_threads()
    info["openmp_note"] = ("kernels run in parallel with OpenMP" if info["openmp"] else
                           "built without OpenMP: every kernel runs serially")
    info["c_library"] = c_library()
    return info


def show_config(file=None):
    """Print version, OpenMP, thread count, SIMD level, compiler flags and where
    the C library is."""
    c = config()
    lines = [
        f"lossk {c['version']}",
        f"  OpenMP:        {'yes' if c['openmp'] else 'no'} ({c['openmp_note']})",
        f"  threads:       {c['threads']} (lossk.get_num_threads(); OpenMP default {c['default_threads']})",
        f"  SIMD level:    {c['simd_active']} (best compiled: {c['simd_compiled']}; env LOSSK_SIMD lowers it)",
        f"  build:         {c['build']}",
    ]
    lib = c["c_library"]
    if lib["library"]:
        lines += [
            f"  C library:     {lib['library']}",
            f"  C header:      {lib['include_dir']}/lossk.h",
            f"  pkg-config:    {lib['pkgconfig_dir']} (PKG_CONFIG_PATH; package lossk)",
            f"  CMake:         {lib['cmake_dir']} (lossk_DIR; find_package(lossk), target lossk::lossk)",
        ]
    else:
        lines.append("  C library:     none (in-place build: the kernels are inside the extension)")
    print("\n".join(lines), file=file or sys.stdout)
