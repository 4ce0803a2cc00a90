"""pidfds (pidfd_open(2)): a file that names one process, or with PIDFD_THREAD one thread.

It holds the ThreadGroup (and Task) objects themselves, never the numbers, so a pid that is
reused after the process was reaped is never mistaken for it. Polling it says when the process
has exited (POLLIN) and when it is gone altogether (POLLHUP), as Linux 6.9+'s pidfs does.
"""
import errno
import itertools
import os
import struct

from ..errors import SyscallError
from .file import POLLHUP, POLLIN, POLLRDNORM, File
from .inode import new_synthetic_dev
from .stat import StatResult

PIDFD_NONBLOCK = os.O_NONBLOCK
PIDFD_THREAD = os.O_EXCL
PIDFS_DEV = new_synthetic_dev()
# ioctl(PIDFD_GET_INFO) (Linux 6.13+): _IOWR(0xFF, 11, struct pidfd_info), extensible by size.
PIDFS_IOCTL_MAGIC, PIDFD_GET_INFO_NR = 0xFF, 11
PIDFD_INFO_PID, PIDFD_INFO_CREDS, PIDFD_INFO_CGROUPID, PIDFD_INFO_EXIT, PIDFD_INFO_COREDUMP = 1, 2, 4, 8, 16
PIDFD_INFO_SIZE_VER0 = 64
_PIDFD_INFO = struct.Struct("<QQ11IiII")     # mask, cgroupid, pid tgid ppid and 8 ids, exit_code, coredump
_pidfs_inode_numbers = itertools.count(1000)


class PidFile(File):
    """An open pidfd. `tg` is the process; `thread` the Task of a PIDFD_THREAD pidfd, else None."""

    def __init__(self, tg, flags, thread=None):
        super().__init__(os.O_RDWR, path=b"anon_inode:[pidfd]")
        self.flags |= flags & (PIDFD_NONBLOCK | PIDFD_THREAD)   # O_EXCL shows in F_GETFL, unlike for files
        self.tg = tg
        self.thread = thread

    @property
    def task(self):
        """The thread that signals go to by default and whose fds pidfd_getfd(2) takes; None
        once it has exited."""
        task = self.thread if self.thread is not None else self.tg.leader
        return task if task is not None and task.alive else None

    @property
    def gone(self):
        """Nothing is left of it: the process was reaped, or the thread has exited (a thread
        other than the leader leaves no zombie)."""
        if self.tg.reaped:
            return True
        thread = self.thread
        return thread is not None and not thread.alive and thread is not self.tg.leader

    @property
    def exited(self):
        if self.thread is not None:
            return not self.thread.alive
        return self.tg.zombie or self.tg.reaped

    @property
    def pid(self):
        """The id fdinfo shows: -1 once it is gone."""
        if self.gone:
            return -1
        return self.thread.tid if self.thread is not None else self.tg.tgid

    def poll_events(self):
        if self.gone:
            return POLLIN | POLLRDNORM | POLLHUP
        return POLLIN | POLLRDNORM if self.exited else 0

    def readiness_queue(self, t, events):
        return self.tg.pidfd_waiters

    def stat(self):
        tg = self.tg
        if tg.pidfs_ino is None:
            tg.pidfs_ino = next(_pidfs_inode_numbers)
        return StatResult(dev=PIDFS_DEV, ino=tg.pidfs_ino, mode=0o700)

    def fdinfo(self):
        return f"Pid:\t{self.pid}\nNSpid:\t{self.pid}\n"

    def ioctl(self, t, cmd, arg):
        size = (cmd >> 16) & 0x3FFF
        if (cmd & 0xFF, (cmd >> 8) & 0xFF) != (PIDFD_GET_INFO_NR, PIDFS_IOCTL_MAGIC) or size < PIDFD_INFO_SIZE_VER0:
            raise SyscallError(errno.ENOTTY)
        if not arg:
            raise SyscallError(errno.EINVAL)
        wanted = t.copy_in_u64(arg)
        t.copy_out(arg, self.info(wanted)[:size].ljust(size, b"\0"))
        return 0

    def info(self, wanted):
        """struct pidfd_info for PIDFD_GET_INFO: ids and credentials while the process is
        there (a zombie too), only its exit status (PIDFD_INFO_EXIT) once it was reaped."""
        from ..cgroupns import cgroup_id     # the cgroup tree: off the start-up path
        mask = PIDFD_INFO_CGROUPID
        if wanted & PIDFD_INFO_COREDUMP:
            mask |= PIDFD_INFO_COREDUMP                # no core dumps in the sandbox
        tg = self.tg
        if self.gone:
            if not wanted & PIDFD_INFO_EXIT or self.thread is not None or not tg.reaped:
                raise SyscallError(errno.ESRCH)
            return _PIDFD_INFO.pack(mask | PIDFD_INFO_EXIT, cgroup_id(tg), *[0] * 11, tg.wait_status, 0, 0)
        task = self.thread or tg.leader
        creds = task.creds
        ppid = tg.parent.tgid if tg.parent is not None else 0
        return _PIDFD_INFO.pack(mask | PIDFD_INFO_PID | PIDFD_INFO_CREDS, cgroup_id(tg),
                                task.tid, tg.tgid, ppid, creds.uid, creds.gid, creds.euid, creds.egid,
                                creds.suid, creds.sgid, creds.fsuid, creds.fsgid, 0, 0, 0)
