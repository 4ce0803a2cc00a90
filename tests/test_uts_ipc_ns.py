"""UTS and IPC namespaces (sentry/utsns.py, sentry/sysv_ipc.py, syscalls/sys_process.py):
unshare(2), clone(2) and setns(2) with CLONE_NEWUTS and CLONE_NEWIPC, compared with Linux run
natively inside `unshare -u -i` (so the host's hostname and IPC objects are never touched)."""
import shutil

import pytest

from helpers import assert_same, native_unshare, run_native, run_sandbox

pytestmark = pytest.mark.usefixtures("each_platform")

BUSYBOX_SCRIPT = ("busybox hostname outer; busybox unshare -u /bin/sh -c 'busybox hostname x; busybox hostname'; "
                  "busybox hostname; busybox unshare -i -u /bin/sh -c 'busybox hostname inner; busybox hostname'; "
                  "busybox hostname")


def test_uts_and_ipc_namespaces_match_linux(cprog):
    """tests/cprogs/uts_ipc_ns.c: names copied into a new UTS namespace and changed there only,
    /proc/self/ns links and setns back and forth (EINVAL for the wrong nstype), clone with both
    flags, EINVAL with CLONE_SYSVSEM, EPERM without CAP_SYS_ADMIN; a new IPC namespace without
    the old one's SysV objects and POSIX queues, with its own sysctls and its own mqueue mount,
    attachments kept, SEM_UNDO applied on leaving; setns with a pidfd."""
    program = cprog("uts_ipc_ns")
    native = run_native([native_unshare("namespaces of its own"), "-u", "-i", program])
    assert native.status == 0, native
    sandboxed = run_sandbox([program])
    assert_same(native, sandboxed)
    for line in ("new namespace, changed: uname second/written.domain", "back in the first: uname first/first.domain",
                 "clone(CLONE_NEWUTS) child after: uname cloned/", "clone(CLONE_NEWIPC|CLONE_SYSVSEM): EINVAL",
                 "unprivileged unshare(CLONE_NEWUTS): EPERM", "attachment still reads: kept across unshare",
                 "new namespace: shm by key ENOENT, shm by id EINVAL", "queue file in the new namespace's mqueue: 0",
                 "semaphore after the undo: 0", "pidfd: joined: uname by-pidfd/first.domain"):
        assert line in sandboxed.out, line


def test_busybox_unshare_keeps_the_hostname_change_inside(busybox_rootfs):
    """`unshare -u sh -c 'hostname x; hostname'; hostname` with busybox, as on Linux."""
    unshare = native_unshare("a UTS namespace of its own")
    native = run_native([unshare, "-u", "/usr/sbin/chroot", busybox_rootfs, "/bin/sh", "-c", BUSYBOX_SCRIPT])
    sandboxed = run_sandbox(["/bin/sh", "-c", BUSYBOX_SCRIPT], rootfs=busybox_rootfs)
    assert_same(native, sandboxed)
    assert sandboxed.out.split() == ["x", "outer", "inner", "outer"], sandboxed


def test_util_linux_unshare_and_the_ns_links():
    """util-linux unshare -u -i in the sandbox: its own names, and /proc/self/ns links that change."""
    script = ("a=$(readlink /proc/self/ns/uts /proc/self/ns/ipc); hostname first; "
              "unshare -u -i sh -c 'hostname second; hostname; b=$(readlink /proc/self/ns/uts /proc/self/ns/ipc); "
              "[ \"$b\" != \"$1\" ] && echo links differ' sh \"$a\"; hostname; ls /proc/self/ns")
    native = run_native([native_unshare("namespaces of its own"), "-u", "-i", "-m", "sh", "-c", script])
    sandboxed = run_sandbox(["sh", "-c", script])
    assert sandboxed.status == 0, sandboxed
    assert sandboxed.out.splitlines()[:3] == ["second", "links differ", "first"], sandboxed
    assert sandboxed.out.splitlines()[3:] == ["cgroup", "ipc", "mnt", "time", "time_for_children", "uts"], sandboxed
    assert native.out.splitlines()[:3] == sandboxed.out.splitlines()[:3]


NSENTER_SCRIPT = """
hostname outer
fifo=/tmp/nsenter-ready.$$
mkfifo $fifo
unshare -u -i sh -c 'hostname inner; ipcmk -M 4096 >/dev/null; echo > "$1"; exec sleep 30' sh $fifo &
read ready < $fifo
rm $fifo
nsenter -t $! -u hostname
nsenter -t $! -i ipcs -m | grep -c 4096
ipcs -m | grep -c 4096
hostname
kill $!
wait
"""


def test_nsenter_joins_another_process_namespaces():
    """util-linux nsenter -u / -i (setns on /proc/PID/ns/uts and ipc) sees the other process's
    hostname and segments, and the caller keeps its own."""
    if shutil.which("nsenter") is None or shutil.which("ipcmk") is None:
        pytest.skip("util-linux nsenter and ipcmk are not installed")
    native = run_native([native_unshare("namespaces of its own"), "-u", "-i", "sh", "-c", NSENTER_SCRIPT])
    sandboxed = run_sandbox(["sh", "-c", NSENTER_SCRIPT])
    assert_same(native, sandboxed)
    assert sandboxed.out.split() == ["inner", "1", "0", "outer"], sandboxed


def test_namespace_kinds_not_made_still_give_eperm():
    """User, pid and net namespaces are not made in the sandbox: EPERM, one line (cgroup and time
    ones are: tests/test_time_cgroup_ns.py)."""
    result = run_sandbox(["sh", "-c", "for kind in -U -p -n; do unshare $kind true; echo $?; done"])
    assert result.out.split() == ["1"] * 3, result
    assert result.err.count("Operation not permitted") == 3, result
