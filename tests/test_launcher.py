"""The `pysandbox` command that scripts/install.sh writes (scripts/write-launcher.sh): the
interpreter without its site step, with site-packages and the repository on sys.path by hand.
It must behave as `python -m pysandbox` does, and import neither site nor re before the work."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = sys.prefix


@pytest.fixture(scope="module")
def launcher(tmp_path_factory):
    if sys.prefix == sys.base_prefix:
        pytest.skip("the launcher is written for a virtual environment; these tests run outside one")
    path = tmp_path_factory.mktemp("launcher") / "pysandbox"
    subprocess.run(["bash", os.path.join(REPO, "scripts", "write-launcher.sh"), VENV, REPO, str(path)],
                   check=True, timeout=60)
    return str(path)


def test_it_runs_a_sandbox_with_the_workloads_exit_status(launcher):
    result = subprocess.run([launcher, "do", "--", "/bin/busybox", "sh", "-c", "echo hi; exit 7"],
                            capture_output=True, text=True, timeout=120, cwd="/")
    assert (result.returncode, result.stdout, result.stderr) == (7, "hi\n", "")


def test_bad_input_gets_one_line_and_status_2(launcher):
    result = subprocess.run([launcher, "do", "--network", "bogus", "x"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result
    assert "Traceback" not in result.stderr


def test_it_skips_the_site_step_and_re(launcher):
    env = dict(os.environ, PYTHONPROFILEIMPORTTIME="1")
    result = subprocess.run([launcher, "do", "--", "/bin/true"], capture_output=True, text=True, timeout=120,
                            env=env, cwd="/")
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert result.returncode == 0, result.stderr[-2000:]
    assert "pysandbox.runner" in imported
    assert not imported & {"site", "re", "argparse", "enum", "ctypes"}, sorted(imported & {"site", "re", "argparse",
                                                                                         "enum", "ctypes"})
