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
