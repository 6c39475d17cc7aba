"""The C library that `pip install` puts in the package, from C programs that
find it the two usual ways: pkg-config (lossk.pc) and CMake (find_package(lossk),
target lossk::lossk). Each builds examples/cross_entropy.c (which checks its own
numbers) against the installed header and library and runs it. An in-place build
(setup.py) compiles the kernels into the extension and has no separate library:
there these tests skip; CI tests the installed package, so they run there."""
import os
import shutil

import pytest

import lossk
from lossk._config import c_library

from helpers import CC, run_command

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "cross_entropy.c")
LIB = c_library()
installed = pytest.mark.skipif(LIB["library"] is None,
                               reason="in-place build: no separate C library (pip install . provides it)")


def _needs(tool):
    if tool is None:
        pytest.skip("tool not found")
    if not os.path.exists(EXAMPLE):
        pytest.skip("examples/cross_entropy.c is not in this checkout")


@installed
def test_installed_files_are_complete():
    assert os.path.isfile(os.path.join(LIB["include_dir"], "lossk.h"))
    assert os.path.isfile(os.path.join(LIB["pkgconfig_dir"], "lossk.pc"))
    for name in ("losskConfig.cmake", "losskConfigVersion.cmake"):
        assert os.path.isfile(os.path.join(LIB["cmake_dir"], name))


@installed
def test_pkg_config_builds_and_runs_the_example(tmp_path):
    pkg_config = shutil.which("pkg-config") or shutil.which("pkgconf")
    _needs(pkg_config)
    _needs(CC)
    env = dict(os.environ, PKG_CONFIG_PATH=LIB["pkgconfig_dir"])
    assert run_command([pkg_config, "--modversion", "lossk"], env=env).stdout.strip() == lossk.__version__
    flags = run_command([pkg_config, "--cflags", "--libs", "lossk"], env=env).stdout.split()
    exe = tmp_path / "example"
    run_command([CC, "-std=c99", "-Wall", "-Werror", EXAMPLE, "-o", str(exe)] + flags + ["-lm"])
    out = run_command([str(exe)]).stdout   # found at run time through the rpath lossk.pc adds
    assert "all checks passed" in out, out


CMAKE_PROJECT = """cmake_minimum_required(VERSION 3.18)
project(uses_lossk C)
find_package(lossk {version} CONFIG REQUIRED)
add_executable(example "{example}")
target_link_libraries(example PRIVATE lossk::lossk m)
"""


@installed
def test_cmake_find_package_builds_and_runs_the_example(tmp_path):
    cmake = shutil.which("cmake")
    _needs(cmake)
    _needs(CC)
    src, build = tmp_path / "src", tmp_path / "build"
    src.mkdir()
    example = EXAMPLE.replace("\\", "/")
    (src / "CMakeLists.txt").write_text(CMAKE_PROJECT.format(version=lossk.__version__, example=example))
    run_command([cmake, "-S", str(src), "-B", str(build), f"-Dlossk_DIR={LIB['cmake_dir']}"])
    run_command([cmake, "--build", str(build)])
    out = run_command([str(build / "example")]).stdout
    assert "all checks passed" in out, out
    # the version file: a newer version than installed is not found
    (src / "CMakeLists.txt").write_text(CMAKE_PROJECT.format(version="99.0", example=example))
    p = run_command([cmake, "-S", str(src), "-B", str(tmp_path / "build99"), f"-Dlossk_DIR={LIB['cmake_dir']}"], ok=False)
    assert p.returncode != 0 and "99.0" in p.stdout + p.stderr


# ---- Cython: `from lossk cimport clossk` (src/lossk/clossk.pxd) ------------------------------

DOWNSTREAM_PYX = """# cython: language_level=3
from libc.stdint cimport int64_t
from lossk cimport clossk


def cross_entropy(double[:, ::1] logits, int64_t[::1] target):
    cdef double loss = 0.0
    cdef clossk.lossk_status status
    with nogil:
        status = clossk.lossk_cross_entropy_f64(
            &logits[0, 0], logits.shape[0], logits.shape[1], 1, &target[0], clossk.LOSSK_INDEX_INT64,
            NULL, -100, 0.0, clossk.LOSSK_REDUCTION_MEAN, &loss, NULL, NULL, 1, NULL)
    if status != clossk.LOSSK_OK:
        raise ValueError(clossk.lossk_status_string(status).decode())
    return loss


def version():
    return clossk.lossk_version_string().decode(), clossk.LOSSK_VERSION_STRING.decode()
"""


def _cythonize(tmp_path):
    """downstream.pyx -> downstream.c, finding lossk/clossk.pxd beside the imported lossk."""
    pytest.importorskip("Cython")
    import sys
    pyx = tmp_path / "downstream.pyx"
    pyx.write_text(DOWNSTREAM_PYX)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(lossk.__file__)))
    run_command([sys.executable, "-m", "cython", "-I", pkg_parent, str(pyx), "-o", str(tmp_path / "downstream.c")])
    return tmp_path / "downstream.c"


def test_the_pxd_declares_what_the_header_has(tmp_path):
    """The generated declarations compile as C against lossk.h (any checkout, no library needed)."""
    import sysconfig
    _needs(CC)
    c_file = _cythonize(tmp_path)
    include = LIB["include_dir"] or os.path.join(ROOT, "csrc", "include")
    run_command([CC, "-c", "-fPIC", "-Werror=implicit-function-declaration", "-Werror=incompatible-pointer-types",
                 f"-I{sysconfig.get_paths()['include']}", f"-I{include}", str(c_file), "-o", str(tmp_path / "d.o")])


@installed
def test_a_cython_extension_cimports_and_calls_the_kernels(tmp_path):
    import sys
    import sysconfig
    _needs(CC)
    c_file = _cythonize(tmp_path)
    libdir = lossk.get_library_dir()
    ext = tmp_path / ("downstream" + sysconfig.get_config_var("EXT_SUFFIX"))
    run_command([CC, "-shared", "-fPIC", "-O1", f"-I{sysconfig.get_paths()['include']}",
                 f"-I{lossk.get_include()}", str(c_file), f"-L{libdir}", "-llossk", f"-Wl,-rpath,{libdir}",
                 "-o", str(ext)])
    code = ("import numpy as np, lossk, downstream\n"
            "x = np.random.default_rng(0).standard_normal((5, 7))\n"
            "t = np.array([0, 6, 3, 3, 1], np.int64)\n"
            "assert downstream.cross_entropy(x, t) == lossk.cross_entropy(x, t)\n"
            "v = downstream.version(); assert v == (lossk.__version__, lossk.__version__), v\n"
            "print('ok')\n")
    out = run_command([sys.executable, "-c", code], cwd=str(tmp_path))
    assert out.stdout.strip() == "ok"
