"""`pysandbox footprint`, and the goals it pins: the sentry may make at most 60 host syscalls,
a ptrace stub at most 8 (gVisor: 74 for its sentry, plus 4 on ptrace)."""
import json

from helpers import run_pysandbox
from pysandbox.platform.ptrace.stub import STUB_SYSCALLS, seccomp_filter
from pysandbox.security import seccomp

SENTRY_GOAL, STUB_GOAL = 60, 8


def _footprint(*flags):
    r = run_pysandbox(["footprint", "--format", "json", *flags])
    assert r.status == 0, r
    return {p["process"]: p for p in json.loads(r.out)["processes"]}


def test_the_sentry_and_the_stub_stay_within_their_goals():
    processes = _footprint()
    assert processes["sentry"]["count"] <= SENTRY_GOAL, (
        f"the sentry's allowlist (pysandbox/security/seccomp.py) has {processes['sentry']['count']} entries, "
        f"past the goal of {SENTRY_GOAL}: serve the new need with a call already on the list, or drop one")
    assert processes["stub"]["count"] == len(STUB_SYSCALLS) <= STUB_GOAL
    assert "madvise" not in STUB_SYSCALLS
    # the stub's BPF program holds exactly one comparison per allowed call
    assert len(seccomp_filter()) // 8 == 4 + len(STUB_SYSCALLS) + 2


def test_the_footprint_is_read_from_the_filter_itself():
    processes = _footprint()
    listed = [s["name"] for s in processes["sentry"]["syscalls"] if not s["checks"][:1] == ["always fails with ENOSYS"]]
    assert listed == [rule.name for rule in seccomp.sentry_rules()]
    checks = {s["name"]: s["checks"] for s in processes["sentry"]["syscalls"]}
    assert checks["ptrace"] == ["arg0 (request) one of 15 values"]
    assert checks["mmap"] == ["arg2 (prot) without bits 0x4"]
    assert checks["clone"] == ["arg0 (flags) without bits 0x7e020080"]
    assert checks["clone3"] == ["always fails with ENOSYS"]
    assert [s["name"] for s in processes["stub"]["syscalls"]] == sorted(STUB_SYSCALLS, key=STUB_SYSCALLS.get)


def test_host_networking_and_kvm_change_the_sentry_list():
    none, host = _footprint()["sentry"], _footprint("--network", "host")["sentry"]
    assert host["count"] == none["count"] + len(seccomp.NETWORK_RULES)
    kvm = _footprint("--platform", "kvm")
    assert "stub" not in kvm
    assert {"name": "ioctl", "checks": []} in kvm["sentry"]["syscalls"]


def test_the_table_names_every_call_and_gvisor_for_comparison():
    r = run_pysandbox(["footprint"])
    assert r.status == 0
    lines = r.out.splitlines()
    assert lines[0].startswith(f"sentry: {len(seccomp.SENTRY_RULES)} host syscalls")
    assert any(line.startswith("stub: 8 host syscalls") for line in lines)
    assert lines[-1] == "gVisor for comparison: 74 in its sentry, plus 4 on ptrace"


def test_the_gofer_has_a_smaller_list_that_reaches_no_other_process():
    processes = _footprint()
    gofer = {s["name"] for s in processes["gofer"]["syscalls"]}
    assert processes["gofer"]["count"] < processes["sentry"]["count"]
    assert not gofer & {"ptrace", "kill", "tgkill", "clone", "execve", "socket", "connect", "wait4"}


OUTER_COUNT = 14


def test_the_outer_process_is_listed_with_its_pinned_count_and_checks():
    outer = _footprint()["outer"]
    assert outer["count"] == OUTER_COUNT, (
        f"the outer process's allowlist (seccomp.outer_rules) has {outer['count']} entries, not {OUTER_COUNT}")
    checks = {s["name"]: s["checks"] for s in outer["syscalls"]}
    assert checks["kill"] == checks["wait4"] == ["arg0 (pid: the sandbox process) one of 1 values"]
    assert checks["write"] == ["arg0 (fd: log, stderr, cgroup.procs, exit status) one of 4 values"]
    assert checks["unlinkat"][1] == "arg2 (flags: AT_REMOVEDIR) one of 1 values"
    assert checks["mmap"] == ["arg2 (prot) without bits 0x4"]
    # no path-based call: what it opens, it opened before its filter
    assert not set(checks) & {"openat", "open", "rmdir", "unlink", "execve", "clone", "ptrace", "socket"}
