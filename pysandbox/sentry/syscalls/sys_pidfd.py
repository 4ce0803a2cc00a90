"""pidfds: pidfd_open(2), pidfd_send_signal(2), pidfd_getfd(2).

The file object is vfs/pidfd.py; clone(2)'s CLONE_PIDFD and waitid(2)'s P_PIDFD live with
their calls in sys_process.py. Behaviour follows Linux 6.9+ (PIDFD_THREAD, the signal scope
flags), the kernel the tests compare against.
"""
import errno

from pysandbox.sentry import signals
from pysandbox.sentry.credentials import CAP_SYS_PTRACE, capable
from pysandbox.sentry.errors import SyscallError
from pysandbox.sentry.signals import SigInfo
from pysandbox.sentry.syscalls.sys_process_vm import ids_permit_access
from pysandbox.sentry.syscalls.sys_signal import (check_not_impersonating, signal_process,
                                                  signal_process_group, signal_thread)
from pysandbox.sentry.vfs.pidfd import PIDFD_NONBLOCK, PIDFD_THREAD, PidFile
from pysandbox.sentry.vfs.procfs import ProcessDir

PIDFD_SIGNAL_THREAD, PIDFD_SIGNAL_THREAD_GROUP, PIDFD_SIGNAL_PROCESS_GROUP = 1, 2, 4
PIDFD_SIGNAL_SCOPES = PIDFD_SIGNAL_THREAD | PIDFD_SIGNAL_THREAD_GROUP | PIDFD_SIGNAL_PROCESS_GROUP
PIDFD_SELF_THREAD, PIDFD_SELF_THREAD_GROUP = -10000, -10001
SUID_DUMP_USER = 1


def pidfd_of(t, fd):
    """The PidFile at `fd`: EBADF for a closed fd and for any other kind of file."""
    return t.fds.get_of_kind(fd, PidFile, wrong_kind=errno.EBADF)


def ptrace_may_access(t, target):
    """Linux's ptrace_may_access() with real credentials: its own process always; else the
    ids rule (or CAP_SYS_PTRACE), and a process that is not dumpable needs CAP_SYS_PTRACE."""
    if target.tg is t.tg:
        return True
    if not ids_permit_access(t, target):
        return False
    return getattr(target.tg, "dumpable", SUID_DUMP_USER) == SUID_DUMP_USER or capable(t, CAP_SYS_PTRACE)


def pidfd_open(t, pid, flags):
    """Pidfd_open implements Linux syscall pidfd_open(2)."""
    if flags & ~(PIDFD_NONBLOCK | PIDFD_THREAD):
        raise SyscallError(errno.EINVAL)
    if pid <= 0:
        raise SyscallError(errno.EINVAL)
    kernel = t.kernel
    tg = kernel.thread_groups.get(pid)
    thread = None
    if tg is None or tg.reaped:
        task = kernel.tasks.get(pid)
        if task is None:
            raise SyscallError(errno.ESRCH)
        if not flags & PIDFD_THREAD:
            raise SyscallError(errno.ENOENT)         # a thread other than the leader
        tg, thread = task.tg, task
    elif flags & PIDFD_THREAD:
        thread = tg.leader
    return t.fds.install(PidFile(tg, flags, thread), cloexec=True)


def _own_pidfd(t, sentinel):
    """What PIDFD_SELF_THREAD and PIDFD_SELF_THREAD_GROUP (Linux 6.15+) stand for."""
    if sentinel == PIDFD_SELF_THREAD:
        return PidFile(t.tg, PIDFD_THREAD, t)
    return PidFile(t.tg, 0)


def _signal_target(t, pidfd):
    """The process (or thread) pidfd_send_signal's `pidfd` names: a pidfd, a /proc/<pid>
    directory's fd, or one of the PIDFD_SELF values."""
    if pidfd in (PIDFD_SELF_THREAD, PIDFD_SELF_THREAD_GROUP):
        return _own_pidfd(t, pidfd)
    file = t.fds.get(pidfd)
    if isinstance(file, PidFile):
        return file
    inode = file.dentry.inode if file.dentry is not None else None
    if isinstance(inode, ProcessDir):
        return PidFile(inode.owner, 0)
    raise SyscallError(errno.EBADF)


def pidfd_send_signal(t, pidfd, sig, info, flags):
    """Pidfd_send_signal implements Linux syscall pidfd_send_signal(2)."""
    if flags & ~PIDFD_SIGNAL_SCOPES or bin(flags).count("1") > 1:
        raise SyscallError(errno.EINVAL)
    file = _signal_target(t, pidfd)
    scope = flags or (PIDFD_SIGNAL_THREAD if file.flags & PIDFD_THREAD else PIDFD_SIGNAL_THREAD_GROUP)
    tg = file.tg
    target = file.thread if file.thread is not None else tg.leader
    target_id = target.tid if target is not None else tg.tgid
    if info:
        queued = SigInfo.unpack(t.copy_in(info, signals.SIGINFO_SIZE))
        if queued.signo != sig:
            raise SyscallError(errno.EINVAL)
        if scope == PIDFD_SIGNAL_PROCESS_GROUP:
            target_id = 0                            # never oneself: only the queued kinds of si_code
        check_not_impersonating(t, target_id, queued)
    else:
        queued = SigInfo.user(sig, t)                # SI_USER whatever the scope, as Linux 6.18
    if file.gone:
        raise SyscallError(errno.ESRCH)
    if scope == PIDFD_SIGNAL_PROCESS_GROUP:
        return signal_process_group(t, tg.tgid, queued)
    if scope == PIDFD_SIGNAL_THREAD:
        return signal_thread(t, 0, target_id, queued)
    return signal_process(t, tg, queued)


def pidfd_getfd(t, pidfd, targetfd, flags):
    """Pidfd_getfd implements Linux syscall pidfd_getfd(2): a duplicate of another process's
    fd, close-on-exec, for a caller that may ptrace it."""
    if flags:
        raise SyscallError(errno.EINVAL)
    file = pidfd_of(t, pidfd)
    if file.gone:
        raise SyscallError(errno.ESRCH)
    if not ptrace_may_access(t, file.thread or file.tg.leader):
        raise SyscallError(errno.EPERM)
    target = file.task
    if target is None or file.tg.exiting:
        raise SyscallError(errno.ESRCH)              # exiting: its descriptors are gone
    taken = target.fds.get(targetfd)
    return t.fds.install(taken.incref(), cloexec=True)
