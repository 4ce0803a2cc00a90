"""kcmp(2): whether two processes share a kernel resource.

Linux compares obfuscated pointers, so only "equal" (0) has a meaning; unequal resources
order as 1 or 2, consistently for the life of the sandbox. The sentry's objects stand for
Linux's: the MemoryManager for the mm, the shared descriptor map for files_struct, the
FSContext for fs_struct, the action list for sighand_struct.
"""
import errno
import os
import struct

from pysandbox.sentry.errors import SyscallError
from pysandbox.sentry.syscalls.sys_pidfd import ptrace_may_access
from pysandbox.sentry.vfs.epoll import EpollFile

KCMP_FILE, KCMP_VM, KCMP_FILES, KCMP_FS, KCMP_SIGHAND, KCMP_IO, KCMP_SYSVSEM, KCMP_EPOLL_TFD = range(8)
KCMP_TYPES = 8
_KCMP_EPOLL_SLOT = struct.Struct("<III")          # efd, tfd, toff
MASK64 = (1 << 64) - 1
HIGH_BIT = 1 << 63

# Like Linux's kptr_obfuscate(): per type, a random xor cookie and an odd multiplier.
_COOKIES = [(int.from_bytes(os.urandom(8), "little"), int.from_bytes(os.urandom(8), "little") | HIGH_BIT | 1)
            for _ in range(KCMP_TYPES)]


def _obfuscated(kind, resource):
    pointer = 0 if resource is None else id(resource)
    xor, multiplier = _COOKIES[kind]
    return ((pointer ^ xor) * multiplier) & MASK64


def _order(kind, first, second):
    """0 when the same object, else 1 or 2 as the obfuscated pointers compare."""
    a, b = _obfuscated(kind, first), _obfuscated(kind, second)
    return int(a < b) | int(a > b) << 1


def _find_task(kernel, pid):
    """Any thread by id, a zombie process's leader included (ESRCH once reaped)."""
    task = kernel.tasks.get(pid)
    if task is not None:
        return task
    tg = kernel.thread_groups.get(pid)
    if tg is None or tg.reaped or tg.leader is None or tg.leader.tid != pid:
        raise SyscallError(errno.ESRCH)
    return tg.leader


def _file(task, fd):
    """The file at `fd` of `task`, or None (an exited task has no descriptors left)."""
    if not task.alive or fd not in task.fds:
        return None
    return task.fds.get(fd)


def _live(task, resource):
    return resource if task.alive else None


def _undo_list(task):
    """The SysV semaphore undo list: made by CLONE_SYSVSEM or by the first SEM_UNDO operation."""
    shared = task.sysvsem_undo
    return shared if shared is not None else (task.tg.sem_undo or None)


_RESOURCES = {
    KCMP_VM: lambda task: _live(task, task.mm),
    KCMP_FILES: lambda task: _live(task, task.fds.lock_owner),
    KCMP_FS: lambda task: _live(task, task.fs),
    KCMP_SIGHAND: lambda task: task.tg.sighand,
    KCMP_IO: lambda task: None,                # no I/O contexts: Linux makes one only for ioprio_set or BFQ
    KCMP_SYSVSEM: _undo_list,
}


def kcmp(t, pid1, pid2, kind, idx1, idx2):
    """Kcmp implements Linux syscall kcmp(2)."""
    first, second = _find_task(t.kernel, pid1), _find_task(t.kernel, pid2)
    if not ptrace_may_access(t, first) or not ptrace_may_access(t, second):
        raise SyscallError(errno.EPERM)
    if kind == KCMP_FILE:
        file1, file2 = _file(first, idx1), _file(second, idx2)
        if file1 is None or file2 is None:
            raise SyscallError(errno.EBADF)
        return _order(KCMP_FILE, file1, file2)
    if kind == KCMP_EPOLL_TFD:
        return _compare_epoll_target(t, first, second, idx1, idx2)
    resource = _RESOURCES.get(kind)
    if resource is None:
        raise SyscallError(errno.EINVAL)
    return _order(kind, resource(first), resource(second))


def _compare_epoll_target(t, first, second, fd, slot_addr):
    """KCMP_EPOLL_TFD: `fd` of the first task against the file an epoll of the second task
    watches (struct kcmp_epoll_slot: the epoll's fd, the watched fd and which of the files
    registered under that fd number)."""
    epoll_fd, target_fd, nth = _KCMP_EPOLL_SLOT.unpack(t.copy_in(slot_addr, _KCMP_EPOLL_SLOT.size))
    file = _file(first, fd)
    if file is None:
        raise SyscallError(errno.EBADF)
    epoll = _file(second, epoll_fd)
    if epoll is None:
        raise SyscallError(errno.EBADF)
    if not isinstance(epoll, EpollFile):
        raise SyscallError(errno.EINVAL)
    watched = [watched_file for watched_file, watched_fd in epoll.interests if watched_fd == target_fd]
    if nth >= len(watched):
        raise SyscallError(errno.ENOENT)
    return _order(KCMP_FILE, file, watched[nth])
