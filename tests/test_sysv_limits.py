"""The SysV IPC limits of an IPC namespace (sentry/sysv_ipc.py, syscalls/sys_msg.py, sys_sem.py,
sentry/sysctl.py): kernel.msgmax, kernel.msgmnb, kernel.msgmni and kernel.sem, written through
/proc/sys, bound msgget/msgsnd/semget/semop and show in IPC_INFO/MSG_INFO/SEM_INFO, compared with
Linux run natively in an IPC namespace of its own (unshare --ipc: the host's limits are never
touched)."""
import errno
import json
import shutil

import pytest

from helpers import assert_same, native_unshare, run_native, run_sandbox
from pysandbox.sentry.errors import SyscallError
from pysandbox.sentry.sysctl import value_problem
from pysandbox.sentry.vfs.testing import FakeTask
from pysandbox.sentry.vfs.vfs import VFS

pytest_plugins = ("oci_fixtures",)        # runtime, bundle

EXPECTED_LINES = (
    "msg_qbytes at creation: 250", "msgsnd 101 bytes > msgmax: EINVAL", "msgget 3 of 2: ENOSPC",
    "msgget of an existing key at the limit: 1", "msg_qbytes after msgmnb=1000: 250",
    "msg_qbytes of a queue made at msgmnb=1000: 1000", "msgget with msgmni 0: ENOSPC",
    "lowered IPC_INFO=0: pool 512000 map 16384 max 100 mnb 250 mni 2 ssz 16 tql 16384 seg 65535",
    "full MSG_INFO=1: pool 2 map 3 max 100 mnb 250 mni 2 ssz 16 tql 250 seg 65535",
    "after removing them: id 32768",
    "lowered IPC_INFO=0: map 1024000000 mni 2 mns 6 mnu 1024000000 msl 4 opm 3 ume 500 usz 20 vmx 32767 aem 32767",
    "semget 5 semaphores > SEMMSL: EINVAL", "semget 3 more > SEMMNS: ENOSPC", "semget a third set > SEMMNI: ENOSPC",
    "full SEM_INFO=1: map 1024000000 mni 2 mns 6 mnu 1024000000 msl 4 opm 3 ume 500 usz 2 vmx 32767 aem 6",
    "semop 4 operations > SEMOPM: E2BIG", "semop 4 operations on a bad id: E2BIG",
    "semop 5 operations, SEMOPM 5: 0", "semget the existing 4-semaphore key with 4, SEMMSL 3: EINVAL",
    'write sem="10 20": 5, reads "10 20 5 2"', 'write sem="10 20 30 40000": ERANGE, reads "10 20 30 2"',
    'write sem="10 20 30 4 50": 11, reads "10 20 30 4"', "semop 1 operation, SEMOPM 0: E2BIG",
)


@pytest.mark.usefixtures("each_platform")
@pytest.mark.parametrize("where", ["first namespace", "unshare -i"])
def test_ipc_limits_match_linux(cprog, where):
    """tests/cprogs/sysv_limits.c: the limits lowered and raised through /proc/sys/kernel, in the
    sandbox's first IPC namespace and in one made by unshare(1) inside it."""
    program = cprog("sysv_limits")
    native = run_native([native_unshare("an IPC namespace of its own"), "--ipc", program])
    assert native.status == 0, native
    sandboxed = run_sandbox([program] if where == "first namespace" else ["unshare", "-i", program])
    assert_same(native, sandboxed)
    for line in EXPECTED_LINES:
        assert line in sandboxed.out.splitlines(), line


@pytest.mark.usefixtures("each_platform")
def test_a_new_namespace_starts_with_the_default_limits(cprog):
    """Limits lowered in one namespace bind neither its parent nor a namespace made after."""
    program = cprog("sysv_limits")
    script = (f"echo 1 > /proc/sys/kernel/msgmni; echo '5 6 7 8' > /proc/sys/kernel/sem; "
              f"unshare -i {program} info; {program} info")
    sandboxed = run_sandbox(["unshare", "-i", "sh", "-c", script])
    native = run_native([native_unshare("an IPC namespace of its own"), "--ipc", "sh", "-c", script])
    assert_same(native, sandboxed)
    lines = sandboxed.out.splitlines()
    assert "mni 32000" in lines[0] and "msl 32000 opm 500" in lines[2], sandboxed
    assert "mni 1 " in lines[4] and "mni 8 mns 6 mnu 1024000000 msl 5 opm 7" in lines[6], sandboxed
    assert "msl 32000 opm 500" in run_sandbox([program, "info"]).out


def test_kernel_sem_writes_as_linux_takes_them(tmp_path):
    """proc_ipc_sem_dointvec: the numbers given replace the first fields, what follows the fourth
    is not taken, a malformed number is EINVAL and SEMMNI outside 0..32768 is ERANGE."""
    root = FakeTask(VFS.for_rootfs(str(tmp_path), overlay=False))
    sysctls = root.kernel.sysctls
    assert sysctls.write(root, "kernel.sem", "7 8\n") == 4
    assert sysctls.get("kernel.sem") == "7\t8\t500\t32000"
    assert sysctls.write(root, "kernel.sem", "1 2 3 4 5 6") == 8
    assert sysctls.get("kernel.sem") == "1\t2\t3\t4"
    for text, expected_errno, after in [("9 x", errno.EINVAL, "9\t2\t3\t4"), ("2147483648", errno.EINVAL, None),
                                        ("-2147483648 5 5 32769", errno.ERANGE, "-2147483648\t5\t5\t4"),
                                        ("   ", errno.EINVAL, None)]:
        before = sysctls.get("kernel.sem")
        with pytest.raises(SyscallError) as raised:
            sysctls.write(root, "kernel.sem", text)
        assert raised.value.errno == expected_errno, text
        assert sysctls.get("kernel.sem") == (after or before), text


def test_oci_kernel_sem_is_checked_and_partial_values_keep_the_rest():
    assert value_problem("kernel.sem", "250 32000 100 128") is None
    assert value_problem("kernel.sem", "250 32000") is None
    assert "not a valid value" in value_problem("kernel.sem", "250 32000 100 40000")
    assert "not a valid value" in value_problem("kernel.sem", "lots")


def test_oci_config_sets_the_containers_ipc_limits(runtime, bundle, cprog):
    """linux.sysctl's kernel.sem and kernel.msgmni (as `docker run --sysctl` passes them) are the
    limits semctl/msgctl IPC_INFO report in the container."""
    b = bundle(["/out/sysv_limits", "info"])
    config = json.loads(open(b.config_path).read())
    config["linux"]["sysctl"] = {"kernel.sem": "250 32000 100 128", "kernel.msgmni": "16"}
    b.write_config(config)
    shutil.copy(cprog("sysv_limits", static=True), f"{b.out}/sysv_limits")
    result = runtime.run("run", "--bundle", b, "limits")
    assert result.status == 0, result
    lines = result.out.splitlines()
    assert " mni 16 " in lines[0], result
    assert "mni 128 mns 32000 mnu 1024000000 msl 250 opm 100 ume 500" in lines[2], result
