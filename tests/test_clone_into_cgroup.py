"""clone3(2)'s CLONE_INTO_CGROUP (sentry/cgroupns.py clone_target, syscalls/sys_process.py clone3)
and PIDFD_GET_INFO's cgroupid (vfs/pidfd.py), compared with Linux run natively in a cgroup2
mount of its own."""
import subprocess

import pytest

from helpers import assert_same, native_unshare, run_native, run_sandbox

MOUNT_AND_RUN = 'mkdir -p "$1" && mount -t cgroup2 none "$1" && exec "$0" "$1"'

CHILD_IN = """\
  child cgroup: {0}
  grandchild cgroup: {0}
clone3 into {1} ({2}): ok
  /proc/PID/cgroup: {0}
  listed in {1}/cgroup.procs: 1, in the parent's: 0
  pidfd cgroupid is {1}'s inode: 1
  rmdir while the child is there: EBUSY
  child exit status 0; reaped pidfd cgroupid is {1}'s inode: 1
"""

# CTRL: a domain controller the hierarchy's root offers (the sandbox's memory; natively on
# this cgroup v1 host the one left for v2, hugetlb), enabled at the root for the checks.
NO_INTERNAL_PROCESSES = """\
enable CTRL below the test's directory: ok
busy's cgroup.controllers: "CTRL"
enable CTRL in empty busy: ok
enable it again: ok
busy's cgroup.subtree_control: "CTRL"
busy/leaf's cgroup.controllers: "CTRL"
enable pids, not offered to busy: ENOENT
a word without + or -: EINVAL
a controller Linux does not have: EINVAL
clone3 into busy, its controllers enabled for its children: EBUSY
clone3 into busy/leaf: ok
move into busy through cgroup.procs: EBUSY
disable CTRL above busy, which enables it: EBUSY
enable CTRL in a, which has a process: EBUSY
enable CTRL in a once it is empty: ok
disable it in a: ok
disable it in busy: ok
disable it above busy: ok
"""

EXPECTED = ("parent cgroup: (the program's own)\n"
            "own pidfd cgroupid is its cgroup's inode: 1\n"
            + CHILD_IN.format("/a", "a", "O_DIRECTORY")
            + CHILD_IN.format("/b", "b", "O_PATH")
            + CHILD_IN.format("/a/inner", "a/inner", "nested")
            + """\
parent after cgroup: (the program's own)
cgroup fd above INT_MAX: EINVAL
size without the cgroup field (64): EINVAL
size 80: EINVAL
size 88: ok
closed fd: EBADF
fd of a directory that is no cgroup: EBADF
fd of cgroup.procs: EBADF
fd of a removed cgroup: ENOENT
bad flags win over a bad fd (CLONE_SIGHAND without CLONE_VM): EINVAL
thread into another cgroup: EOPNOTSUPP
unprivileged, into a cgroup root may write to: EACCES
""" + NO_INTERNAL_PROCESSES + "cleaned up: 1\n")


def _native_cgroup2_mount_allowed(unshare, mountpoint):
    probe = subprocess.run([unshare, "-m", "mount", "-t", "cgroup2", "none", mountpoint], capture_output=True)
    return probe.returncode == 0


@pytest.mark.usefixtures("each_platform")
def test_clone_into_cgroup_matches_linux(cprog, tmp_path):
    """tests/cprogs/clone_into_cgroup.c: children (and their children) start in the cgroup of
    the fd given, O_PATH or not, and /proc/PID/cgroup, cgroup.procs and the pidfd's cgroupid
    (also once reaped) say so; EINVAL for a cgroup fd above INT_MAX or a clone_args without the
    field, EBADF for a closed fd, a plain directory or a cgroup's file, ENOENT for a removed
    cgroup, EOPNOTSUPP for a thread into another cgroup, EACCES without write access to
    cgroup.procs; EBUSY into a cgroup with a domain controller enabled for its children (and
    cgroup.subtree_control's own errors). Natively: a cgroup2 mount in a mount namespace of its
    own (the same hierarchy as the host's: the program restores the root's subtree_control)."""
    program = cprog("clone_into_cgroup")
    sandboxed = run_sandbox(["sh", "-c", MOUNT_AND_RUN, program, "/tmp/cgroot-into"])
    assert sandboxed.status == 0, sandboxed
    assert sandboxed.out == EXPECTED, sandboxed
    unshare = native_unshare("a mount namespace for its cgroup2 mount")
    mountpoint = str(tmp_path)
    if not _native_cgroup2_mount_allowed(unshare, mountpoint):
        pytest.skip("the host does not allow a cgroup2 mount, so no native run to compare with")
    native = run_native([unshare, "-m", "sh", "-c", MOUNT_AND_RUN, program, mountpoint])
    assert_same(native, sandboxed)



SUBTREE_SCRIPT = r"""
mount -t cgroup2 none /tmp/cg && cd /tmp/cg && mkdir x x/y
cat cgroup.controllers x/cgroup.controllers
printf '+pids\t+cpu' > cgroup.subtree_control || echo "a tab does not separate words"
echo '+pids -pids +cpu  +memory' > cgroup.subtree_control && cat cgroup.subtree_control x/cgroup.controllers
echo '-memory +memory -memory' > cgroup.subtree_control && cat cgroup.subtree_control
echo +cpu > x/cgroup.subtree_control && echo $$ > x/cgroup.procs && echo "cpu is threaded: a process may join"
echo +memory > x/cgroup.subtree_control || echo "no domain controller beside a process"
"""


def test_subtree_control_of_the_sandboxs_tree():
    """The sandbox's root offers cpu, memory and pids; cgroup.subtree_control takes
    space-separated words, the last for a controller winning, and lists them in Linux's order
    (the errnos are tests/cprogs/clone_into_cgroup.c's, compared with Linux above)."""
    sandboxed = run_sandbox(["sh", "-c", "mkdir -p /tmp/cg && " + SUBTREE_SCRIPT])
    assert sandboxed.out == ("cpu memory pids\n\n"
                             "a tab does not separate words\n"
                             "cpu memory\ncpu memory\n"
                             "cpu\n"
                             "cpu is threaded: a process may join\n"
                             "no domain controller beside a process\n"), sandboxed
