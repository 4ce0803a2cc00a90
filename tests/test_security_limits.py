"""--pids-limit and --memory-limit: a fork bomb and a memory bomb stop at the limit, the sandbox
reports it, and nothing is left behind on the host (run_sandbox checks for stray processes)."""
import os

import pytest

from helpers import TEST_ENV, run_pysandbox, run_sandbox
from pysandbox.security import limits


@pytest.fixture(scope="module")
def resources(tmp_path_factory):
    """The attack suite's resource program (pysandbox/security/attacks/resources.c), static."""
    from pysandbox.security.bench import build_attacks
    out = tmp_path_factory.mktemp("attacks")
    build_attacks(str(out))
    return str(out / "resources")


def _cgroups_left():
    found = []
    for root, dirs, _files in os.walk(limits.CGROUP_ROOT):
        found += [os.path.join(root, d) for d in dirs if d == f"pysandbox-{os.getpid()}"]
        if root.count("/") > 6:
            dirs[:] = []
    return found


def test_a_fork_bomb_stops_at_the_pids_limit(resources):
    r = run_sandbox([resources, "fork_bomb"], flags=["--pids-limit", "40"], env=dict(TEST_ENV, LIMIT="100"))
    assert r.status == 0, r
    # the bomb itself (the sandbox's init) is one of the 40 tasks
    assert r.out.splitlines()[-1] == "blocked: fork failed after 39 processes: Resource temporarily unavailable", r


def test_without_a_limit_the_same_bomb_gets_further(resources):
    r = run_sandbox([resources, "fork_bomb"], env=dict(TEST_ENV, LIMIT="100"))
    assert r.out.splitlines()[-1] == "evidence: made 101 processes, past the limit of 100", r


@pytest.mark.skipif(os.geteuid() != 0, reason="host cgroups need root")
def test_a_memory_bomb_is_killed_at_the_memory_limit(resources):
    r = run_sandbox([resources, "memory_bomb"], flags=["--memory-limit", "96m"], env=dict(TEST_ENV, LIMIT="200"))
    if r.status == 0 and "evidence" in r.out:
        pytest.skip("this host has no memory cgroup to enforce the limit")
    assert r.status == 128 + 9, r                      # the workload's process is OOM-killed
    assert r.out == "info: memory_bomb: up to 201\n", r
    assert f"the sandbox reached its memory limit ({96 << 20} bytes): the host killed 1 of its processes" in r.log
    assert not _cgroups_left()


@pytest.mark.parametrize("flag, value, message", [
    ("--pids-limit", "0", "pysandbox: --pids-limit 0: a positive number of processes"),
    ("--pids-limit", "many", "pysandbox: --pids-limit many: a positive number of processes"),
    ("--memory-limit", "12q", "pysandbox: --memory-limit 12q: not a size (examples: 268435456, 256m, 1g)"),
    ("--memory-limit", "1k", "pysandbox: --memory-limit 1k: at least 4 MiB"),
])
def test_bad_limits_get_one_line_and_status_2(flag, value, message):
    r = run_pysandbox(["do", flag, value, "--", "/bin/true"])
    assert (r.status, r.out, r.err) == (2, "", message + "\n"), r


def test_sizes_parse_like_docker():
    assert limits.parse_size("268435456") == 256 << 20
    assert limits.parse_size("256m") == limits.parse_size("256MiB") == limits.parse_size("256Mb") == 256 << 20
    assert limits.parse_size("1g") == 1 << 30
