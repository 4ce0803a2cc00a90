"""The KVM platform's vCPU threads under a seccomp filter of their own (security/seccomp.py:
vcpu_rules), stacked on the sentry's:

* /proc shows two filters on each vCPU thread and one on the sentry's thread;
* the test-only hook PYSANDBOX_TEST_VCPU_SYSCALL makes a vCPU thread issue a host syscall once
  confined: one the sentry may make but the thread may not kills the sandbox with one clear
  line (with --seccomp debug: the line and ENOSYS), one on the thread's list changes nothing;
* `strace -f` of a threaded python3 workload: every call a vCPU thread makes after its filter
  is on its list;
* `pysandbox footprint --platform kvm` lists the thread's calls from the same rules;
* the platform's SIGSYS handler passes the sentry's own refusals on to the sentry's handler.
"""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from helpers import PYTHON, TEST_ENV, descendants, platform_support, run_native, run_pysandbox, run_sandbox
from pysandbox.security import seccomp

KVM_USABLE, KVM_REASON = platform_support("kvm")
pytestmark = pytest.mark.skipif(not KVM_USABLE, reason=f"kvm unavailable here: {KVM_REASON}")

GETPID = 39                  # the sentry may make it (its own filter allows it); a vCPU thread may not
RT_SIGPROCMASK = 14          # on the vCPU thread's list, and harmless with zero arguments
VCPU_NAMES = {rule.name for rule in seccomp.vcpu_rules(0, 0, 0)}
THREADED = ["python3", "-c", "import threading, os\n"
            "def work():\n    for _ in range(200): os.getppid()\n"
            "threads = [threading.Thread(target=work) for _ in range(3)]\n"
            "[t.start() for t in threads]; [t.join() for t in threads]\n"
            "pid = os.fork()\n"
            "if pid == 0: os._exit(7)\n"
            "print(os.waitpid(pid, 0)[1] >> 8)"]


def _filters_by_thread(pid):
    counts = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as status:
                text = status.read()
        except FileNotFoundError:
            continue
        found = re.search(r"^Seccomp_filters:\s+(\d+)$", text, re.M)
        counts[int(tid)] = int(found.group(1)) if found else 0
    return counts


def _sentry_threads(root):
    """{tid: filters} of the sandbox process below `root` (or `root` itself) whose threads
    include one under two filters; {} while there is none."""
    for pid in [root, *descendants(root)]:
        counts = _filters_by_thread(pid)
        if 2 in counts.values():
            return pid, counts
    return None, {}


def test_each_vcpu_thread_runs_under_a_second_filter_of_its_own():
    process = subprocess.Popen([PYTHON, "-m", "pysandbox", "do", "--platform", "kvm", "--seccomp", "kill", "--",
                                "/bin/busybox", "sleep", "3"], env=TEST_ENV, cwd="/")
    try:
        sentry, counts = None, {}
        deadline = time.monotonic() + 30
        while sentry is None and process.poll() is None and time.monotonic() < deadline:
            try:
                sentry, counts = _sentry_threads(process.pid)
            except FileNotFoundError:
                pass                                           # a process that ended meanwhile
            time.sleep(0.05)
        assert sentry is not None, "no thread under two filters: the vCPU threads have none of their own"
        assert counts[sentry] == 1, counts                     # the sentry's thread: its filter alone
        assert max(counts.values()) == 2, counts               # a vCPU thread: the sentry's and its own
    finally:
        process.wait(timeout=60)
    assert process.returncode == 0


def test_a_call_off_the_vcpu_list_kills_the_sandbox_with_one_clear_line():
    r = run_sandbox(["/bin/busybox", "echo", "never printed"], platform="kvm", flags=["--seccomp", "kill"],
                    env=dict(TEST_ENV, PYSANDBOX_TEST_VCPU_SYSCALL=str(GETPID)))
    assert (r.status, r.out) == (seccomp.KILLED_STATUS, ""), r
    assert r.log == ("pysandbox: seccomp: a KVM vCPU thread made host syscall getpid (39), which "
                     "pysandbox/security/seccomp.py (vcpu_rules) does not allow; the sandbox is killed\n"), r.log


def test_the_debug_mode_reports_a_vcpu_threads_call_and_fails_it_with_enosys():
    r = run_sandbox(["/bin/busybox", "echo", "still running"], platform="kvm", flags=["--seccomp", "debug"],
                    env=dict(TEST_ENV, PYSANDBOX_TEST_VCPU_SYSCALL=str(GETPID)))
    assert (r.status, r.out) == (0, "still running\n"), r
    assert r.log == ("pysandbox: seccomp: a KVM vCPU thread made host syscall getpid (39), which "
                     "pysandbox/security/seccomp.py (vcpu_rules) does not allow; it fails with ENOSYS "
                     "(--seccomp debug)\n"), r.log


def test_a_call_on_the_vcpu_list_is_let_through():
    r = run_sandbox(["/bin/busybox", "echo", "fine"], platform="kvm", flags=["--seccomp", "kill"],
                    env=dict(TEST_ENV, PYSANDBOX_TEST_VCPU_SYSCALL=str(RT_SIGPROCMASK)))
    assert (r.status, r.out, r.log) == (0, "fine\n", ""), r


def test_seccomp_off_leaves_the_vcpu_threads_alone_too():
    r = run_sandbox(["/bin/busybox", "echo", "unconfined"], platform="kvm", flags=["--seccomp", "off"],
                    env=dict(TEST_ENV, PYSANDBOX_TEST_VCPU_SYSCALL=str(GETPID)))
    assert (r.status, r.out, r.log) == (0, "unconfined\n", ""), r


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_vcpu_threads_make_only_the_calls_on_their_list():
    with tempfile.TemporaryDirectory() as work:
        trace = os.path.join(work, "trace")
        cmd = ["strace", "-f", "-qq", "-o", trace, PYTHON, "-m", "pysandbox", "do", "--platform", "kvm",
               "--seccomp", "kill", "--", *THREADED]
        sandboxed = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=TEST_ENV,
                                   cwd="/", timeout=120)
        with open(trace) as lines:
            calls = lines.read().splitlines()
    native = run_native(THREADED)
    assert (sandboxed.returncode, sandboxed.stdout) == (native.status, native.out), sandboxed
    confined = set()
    made = {}
    for line in calls:
        tid, _, rest = line.partition(" ")
        rest = rest.strip()
        if rest.startswith("seccomp(SECCOMP_SET_MODE_FILTER, 0,"):
            confined.add(tid)
            continue
        if tid not in confined or rest.startswith(("<... ", "---", "+++")):
            continue
        made.setdefault(tid, set()).add(rest.split("(", 1)[0])
    assert len(confined) >= 2, "the threads of several vCPUs should have been confined"
    for tid, names in made.items():
        assert names <= VCPU_NAMES, (tid, sorted(names - VCPU_NAMES))
    assert any("ioctl" in names for names in made.values()), made      # KVM_RUN on the vCPUs' own threads


def test_footprint_lists_the_vcpu_threads_calls_from_the_rules():
    r = run_pysandbox(["footprint", "--platform", "kvm", "--format", "json"])
    assert r.status == 0, r
    processes = {p["process"]: p for p in json.loads(r.out)["processes"]}
    vcpu = processes["vcpu"]
    assert [s["name"] for s in vcpu["syscalls"]] == [rule.name for rule in seccomp.vcpu_rules(0, 0, 0)]
    assert vcpu["count"] == len(VCPU_NAMES) < 10
    checks = {s["name"]: s["checks"] for s in vcpu["syscalls"]}
    assert checks["ioctl"] == ["arg0 (fd: its vCPU) one of 1 values", "arg1 (request: KVM_RUN) one of 1 values"]
    assert "vcpu" not in {p["process"] for p in json.loads(run_pysandbox(
        ["footprint", "--format", "json"]).out)["processes"]}
    assert {"name": "seccomp", "checks": ["arg0 (operation) one of 1 values", "arg1 (flags) one of 1 values"]} \
        in processes["sentry"]["syscalls"]


def test_the_sentrys_own_refusals_still_reach_its_handler_on_kvm():
    """vcpu.c's SIGSYS handler stands in front of the sentry's: a refusal of the sentry's filter
    (si_errno 0) goes on to the sentry's handler, which reports it as before."""
    script = """
import os
from pysandbox.platform import get_platform
from pysandbox.security import seccomp
platform = get_platform("kvm")
platform.new_process()                      # one vCPU thread, confined below
log_read, log_write = os.pipe()
load_number, is_getuid = seccomp._insn(0x20, 0), seccomp._insn(0x15, 102, 0, 1)
trap, allow = seccomp._insn(0x06, seccomp.SECCOMP_RET_TRAP), seccomp._insn(0x06, seccomp.SECCOMP_RET_ALLOW)
refuse_getuid = load_number + is_getuid + trap + allow
seccomp._install_sigsys_handler(log_write, keep_going=True)
seccomp.load_filter(refuse_getuid)
platform.confine_threads("debug", log_write)
print(os.getuid() == (-38) & 0xFFFFFFFF, os.read(log_read, 4096).decode(), end="")
"""
    r = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, cwd="/", timeout=60)
    assert (r.returncode, r.stdout) == (0, "True pysandbox: seccomp: the sentry made host syscall getuid (102), "
                                           "which pysandbox/security/seccomp.py does not allow; it fails with "
                                           "ENOSYS (--seccomp debug)\n"), r
