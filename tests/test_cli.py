"""The command line: `python -m lossk` (the `lossk` script runs the same main)."""
import os
import subprocess
import sys

import pytest

import lossk
from helpers import run_python
from lossk._cli import main
from lossk._config import c_library

# the subprocess imports the same lossk as this process (in-place build or installed)
ENV = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(lossk.__file__))))


def run(*args):
    return subprocess.run([sys.executable, "-m", "lossk", *args], capture_output=True, text=True, env=ENV,
                          timeout=120)


def test_info_prints_the_configuration():
    p = run("info")
    assert p.returncode == 0, p.stderr
    c = lossk.config()
    assert p.stdout.startswith(f"lossk {lossk.__version__}\n")
    assert f"SIMD level:    {c['simd_active']}" in p.stdout
    # the thread default of a fresh process (this one's may have been lowered by a
    # test that set the shared OpenMP runtime's count, as torch.set_num_threads does)
    fresh = run_python("import lossk; print(lossk.get_num_threads())").stdout.strip()
    assert f"threads:       {fresh} " in p.stdout
    assert ("OpenMP:        yes" if c["openmp"] else "OpenMP:        no") in p.stdout
    lib = c_library()
    assert (f"C library:     {lib['library']}" if lib["library"] else "C library:     none") in p.stdout


def test_info_paths():
    lib = c_library()
    for option, key in (("--cmake-dir", "cmake_dir"), ("--pkgconfig-dir", "pkgconfig_dir"),
                        ("--include-dir", "include_dir")):
        p = run("info", option)
        if lib["library"]:
            assert p.returncode == 0 and p.stdout == lib[key] + "\n", p.stderr
        else:
            assert p.returncode == 1 and p.stdout == "" and "pip install ." in p.stderr


@pytest.mark.parametrize("argv", ([], ["no-such-command"], ["info", "--no-such-option"]))
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert "usage: lossk" in capsys.readouterr().err


def test_bench_lists_the_workloads():
    p = run("bench", "--list", "--only", "sigmoid focal")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    for name in ("sigmoid focal 65536×80 ", "sigmoid focal 1,000,000×1 "):
        assert any(line.startswith(name) for line in lines), p.stdout
    assert run("bench", "--only", "no such workload").returncode == 2


def test_bench_runs_and_writes_its_tables(tmp_path):
    """One small workload end to end, the results in ./lossk-bench by default."""
    p = subprocess.run([sys.executable, "-m", "lossk", "bench", "--quick", "--threads", "1",
                        "--only", "sigmoid focal 1,000,000"], capture_output=True, text=True, env=ENV,
                       cwd=tmp_path, timeout=600)
    assert p.returncode == 0, p.stderr
    table = (tmp_path / "lossk-bench" / "results.md").read_text()
    rows = [r for r in table.splitlines() if r.startswith("| sigmoid focal 1,000,000×1 | float32 | 1 | lossk grad_out")]
    assert len(rows) == 1
    assert float(rows[0].split("|")[5]) > 0   # its time in ms
    assert (tmp_path / "lossk-bench" / "results.json").is_file()
