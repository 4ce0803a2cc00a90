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


def _traced_start(launcher, **extra_env):
    env = dict(os.environ, PYSANDBOX_START_TRACE="1", **extra_env)
    result = subprocess.run([launcher, "do", "--", "/bin/busybox", "echo", "out"], capture_output=True,
                            text=True, timeout=120, env=env, cwd="/")
    assert (result.returncode, result.stdout) == (0, "out\n"), result.stderr[-2000:]
    return result.stderr.splitlines()


def test_the_start_trace_marks_each_step_once_in_order(launcher):
    # bench/start_timeline.py reads these lines: NS PID FAULTS LABEL.
    marks = [line.split(" ", 4)[1:] for line in _traced_start(launcher) if line.startswith("pysandbox-start-trace ")]
    labels = [label for _ns, _pid, _faults, label in marks]
    assert labels[0] == "cli: main" and labels[-1] == "outer: exit", labels
    assert len(labels) == len(set(labels)) >= 14, labels
    times = [int(ns) for ns, _pid, _faults, _label in marks]
    for before, after in [("sandbox: forked", "sandbox: isolated"), ("sandbox: chroot", "sandbox: workload loaded"),
                          ("sandbox: filter on", "sandbox: workload done"), ("sandbox: exit", "outer: exit")]:
        assert times[labels.index(before)] <= times[labels.index(after)], (before, after)
    faults = {label: int(count) for _ns, _pid, count, label in marks}
    assert faults["sandbox: isolated"] > 0 and faults["sandbox: workload done"] == -1, faults   # no getrusage then
    pids = {label: pid for _ns, pid, _faults, label in marks}
    assert pids["sandbox: forked"] == "1" and pids["outer: exit"] != "1"     # pid 1 of its own namespace


def test_without_the_trace_nothing_is_marked(launcher):
    result = subprocess.run([launcher, "do", "--", "/bin/true"], capture_output=True, text=True, timeout=120, cwd="/")
    assert (result.returncode, result.stderr) == (0, "")


def test_the_start_profile_reports_the_sandbox_process(launcher):
    lines = _traced_start(launcher, PYSANDBOX_START_PROFILE="cumulative")
    assert any("function calls" in line for line in lines), lines[:5]
    assert any("_run_sandbox" in line for line in lines)
