"""platform/hostcall.c, compiled into both platforms' C modules: the raw host syscall, and the one
line reporting a host syscall a seccomp filter refused, which must read exactly as
security/seccomp.py's denial_line says, whichever module's SIGSYS handler writes it:

* the sentry's (ptrace/loop.c, installed by seccomp.install) for named, unnamed, out-of-table,
  negative and x32 numbers, from the main thread and from another one;
* a KVM vCPU thread's (kvm/vcpu.c) for the same kinds of number;
* host_syscall: the kernel's result, or its errno as OSError.
(tests/test_security_seccomp.py, test_kvm_seccomp.py and test_security_outer.py pin the line in
whole sandboxes.)
"""
import errno
import json
import os
import subprocess

import pytest

from helpers import PYTHON, platform_support
from pysandbox.security import seccomp

GETPID, UNNAMED, BEYOND_TABLE, X32_GETPID = 39, 400, 1000, 0x40000000 | 39
KVM_USABLE, KVM_REASON = platform_support("kvm")


def _run(script, *args):
    r = subprocess.run([PYTHON, "-c", script, *map(str, args)], capture_output=True, text=True, cwd="/",
                       timeout=60)
    assert r.returncode == 0, r
    return json.loads(r.stdout)


def _expected(numbers, who="the sentry", rules=""):
    return [seccomp.denial_line(seccomp.syscall_name(number), number, True, who, rules) for number in numbers]


SENTRY_SCRIPT = """
import json, os, sys, threading
from pysandbox.security import seccomp
numbers = [int(arg) for arg in sys.argv[1:]]
log_read, log_write = os.pipe()
program = seccomp._insn(0x20, 0)                                     # the syscall number
for number in numbers:
    program += seccomp._insn(0x15, number & 0xFFFFFFFF, 0, 1) + seccomp._insn(0x06, seccomp.SECCOMP_RET_TRAP)
program += seccomp._insn(0x06, seccomp.SECCOMP_RET_ALLOW)
seccomp._install_sigsys_handler(log_write, keep_going=True)
seccomp.load_filter(program)
reports = []

def refused(number):
    try:
        seccomp.host_syscall(number)
    except OSError as error:
        reports.append([error.errno, os.read(log_read, 4096).decode()])

for number in numbers[:-1]:
    refused(number)
thread = threading.Thread(target=refused, args=(numbers[-1],))
thread.start()
thread.join()
print(json.dumps(reports))
"""


def test_the_sentrys_report_reads_as_denial_line_for_every_kind_of_number():
    numbers = [GETPID, UNNAMED, seccomp.REPORT_NAMES - 1, seccomp.REPORT_NAMES, BEYOND_TABLE, -1, X32_GETPID,
               GETPID]                                            # the last one from another thread
    reports = _run(SENTRY_SCRIPT, *numbers)
    assert [line for _, line in reports] == _expected(numbers)
    assert [error for error, _ in reports] == [errno.ENOSYS] * len(numbers)          # --seccomp debug


def test_the_sentrys_report_in_kill_mode_ends_the_process_with_the_line():
    script = """
import os
from pysandbox.security import seccomp
seccomp._install_sigsys_handler(1, keep_going=False, who="a test", rules=" (its rules)")
seccomp.load_filter(seccomp._insn(0x20, 0) + seccomp._insn(0x15, 400, 0, 1)
                    + seccomp._insn(0x06, seccomp.SECCOMP_RET_TRAP) + seccomp._insn(0x06, seccomp.SECCOMP_RET_ALLOW))
seccomp.host_syscall(400)
print("not reached")
"""
    r = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, cwd="/", timeout=60)
    assert (r.returncode, r.stdout) == (seccomp.KILLED_STATUS, seccomp.denial_line(
        "syscall_400", 400, False, "a test", " (its rules)")), r


VCPU_SCRIPT = """
import json, os, sys
from pysandbox.platform import get_platform
platform = get_platform("kvm")
log_read, log_write = os.pipe()
platform.confine_threads("debug", log_write)
reports = []
for number in sys.argv[1:]:
    os.environ["PYSANDBOX_TEST_VCPU_SYSCALL"] = number   # made by the new vCPU's thread once confined
    platform.new_process()
    reports.append(os.read(log_read, 4096).decode())
print(json.dumps(reports))
"""


@pytest.mark.skipif(not KVM_USABLE, reason=f"kvm unavailable here: {KVM_REASON}")
def test_a_vcpu_threads_report_reads_as_denial_line_for_every_kind_of_number():
    numbers = [GETPID, UNNAMED, seccomp.REPORT_NAMES, BEYOND_TABLE, X32_GETPID]
    assert _run(VCPU_SCRIPT, *numbers) == _expected(numbers, "a KVM vCPU thread", " (vcpu_rules)")


def test_host_syscall_returns_the_result_or_raises_the_errno():
    assert seccomp.host_syscall(GETPID) == os.getpid()
    read_end, write_end = os.pipe()
    try:
        assert seccomp.host_syscall(1, write_end, b"through the raw syscall", 23) == 23      # write(2)
        assert os.read(read_end, 64) == b"through the raw syscall"
    finally:
        os.close(read_end)
        os.close(write_end)
    with pytest.raises(OSError) as raised:
        seccomp.host_syscall(3, -1)                                                        # close(-1)
    assert raised.value.errno == errno.EBADF
    with pytest.raises(OSError) as raised:
        seccomp.host_syscall(BEYOND_TABLE)
    assert raised.value.errno == errno.ENOSYS
