"""FDTable: a task's file descriptors, each naming a shared open file description (File)."""
import errno
import struct

from .errors import SyscallError
from .vfs.lock import LOCKS

DEFAULT_NOFILE = 1024
FD_CLOEXEC = 1


class _Descriptors:
    """The fd -> (file, cloexec) map itself, shared by the tasks of a CLONE_FILES group."""

    __slots__ = ("entries", "users", "lowest_free")

    def __init__(self, entries=None):
        self.entries = entries if entries is not None else {}
        self.users = 1
        self.lowest_free = 0          # every fd below it is open: allocation starts here


class FDTable:
    """One task's view of a descriptor table.

    Files are reference counted: installing takes over the caller's
    reference, closing (or replacing) an fd drops one, and fork() copies
    the table taking a reference per fd. `limit` is RLIMIT_NOFILE's soft
    value, an int or a callable returning it.
    """

    def __init__(self, limit=DEFAULT_NOFILE):
        self._descriptors = _Descriptors()
        self.limit = limit

    @property
    def max_fds(self):
        return self.limit() if callable(self.limit) else self.limit

    # --- lookup ---

    def get(self, fd):
        entry = self._descriptors.entries.get(fd)
        if entry is None:
            raise SyscallError(errno.EBADF)
        return entry[0]

    def get_of_kind(self, fd, kind, wrong_kind=errno.EINVAL):
        """The file at `fd` if it is a `kind` (timerfd_settime wants a timerfd...); else
        `wrong_kind`, which is EINVAL for most such calls."""
        file = self.get(fd)
        if not isinstance(file, kind):
            raise SyscallError(wrong_kind)
        return file

    def __contains__(self, fd):
        return fd in self._descriptors.entries

    def __iter__(self):
        """(fd, file) in fd order, for /proc/<pid>/fd."""
        entries = self._descriptors.entries
        return iter([(fd, entries[fd][0]) for fd in sorted(entries)])

    def __len__(self):
        return len(self._descriptors.entries)

    def get_cloexec(self, fd):
        self.get(fd)
        return self._descriptors.entries[fd][1]

    def set_cloexec(self, fd, cloexec):
        self._descriptors.entries[fd] = (self.get(fd), bool(cloexec))

    # --- allocation ---

    def install(self, file, cloexec=False, min_fd=0):
        """Put `file` at the lowest free fd >= min_fd; takes over the caller's reference.

        EMFILE (the file's reference dropped) when no fd below RLIMIT_NOFILE is free;
        EINVAL when min_fd itself is beyond the limit.
        """
        limit = self.max_fds
        if min_fd >= limit:
            file.decref()
            raise SyscallError(errno.EINVAL)
        descriptors = self._descriptors
        entries = descriptors.entries
        fd = max(min_fd, descriptors.lowest_free)
        while fd in entries:
            fd += 1
        if fd >= limit:
            file.decref()
            raise SyscallError(errno.EMFILE)
        entries[fd] = (file, bool(cloexec))
        if min_fd <= descriptors.lowest_free:
            descriptors.lowest_free = fd + 1
        return fd

    def install_at(self, fd, file, cloexec=False):
        """dup2(2) semantics: put `file` at `fd`, closing what was there (EBADF beyond the limit)."""
        if fd < 0 or fd >= self.max_fds:
            file.decref()
            raise SyscallError(errno.EBADF)
        entries = self._descriptors.entries
        replaced = entries.get(fd)
        entries[fd] = (file, bool(cloexec))
        if replaced is not None:
            self._drop(replaced[0])
        return fd

    # --- closing ---

    def close(self, fd):
        descriptors = self._descriptors
        entry = descriptors.entries.pop(fd, None)
        if entry is None:
            raise SyscallError(errno.EBADF)
        if fd < descriptors.lowest_free:
            descriptors.lowest_free = fd
        self._drop(entry[0])

    def _drop(self, file):
        """An fd of `file` was closed: this table's POSIX record locks on the file go too."""
        if LOCKS.posix_owners:
            LOCKS.fd_closed(self._descriptors, file)
        if file.flushes:
            file.flush(self._descriptors)
        file.decref()

    @property
    def lock_owner(self):
        """Who owns POSIX record locks taken through this table (Linux's files_struct)."""
        return self._descriptors

    def close_range(self, first, last, cloexec_only=False):
        """close_range(2): close (or mark close-on-exec) every open fd in [first, last]."""
        entries = self._descriptors.entries
        for fd in [fd for fd in entries if first <= fd <= last]:
            if cloexec_only:
                entries[fd] = (entries[fd][0], True)
            else:
                self.close(fd)

    def close_on_exec(self):
        entries = self._descriptors.entries
        for fd in [fd for fd, (_, cloexec) in entries.items() if cloexec]:
            self.close(fd)

    def close_all(self):
        entries = self._descriptors.entries
        for fd in list(entries):
            self.close(fd)

    # --- sharing between tasks ---

    def fork(self):
        """A copy for a child process: the same open file descriptions, new references."""
        child = FDTable(self.limit)
        child._descriptors = self._copy_descriptors()
        return child

    def share(self):
        """Another task's handle on this same table (clone with CLONE_FILES)."""
        sharer = FDTable(self.limit)
        sharer._descriptors = self._descriptors
        self._descriptors.users += 1
        return sharer

    def unshare(self):
        """Give this task a private copy if the table is shared (unshare(2), execve)."""
        if self._descriptors.users > 1:
            shared = self._descriptors
            self._descriptors = self._copy_descriptors()
            shared.users -= 1

    def release(self):
        """This task is gone: close everything if it was the table's last user."""
        self._descriptors.users -= 1
        if self._descriptors.users == 0:
            self.close_all()

    def _copy_descriptors(self):
        entries = self._descriptors.entries
        for file, _ in entries.values():
            file.incref()
        return _Descriptors(dict(entries))


def install_pair(t, first, second, cloexec, addr):
    """Install two new files (pipe ends, a socket pair) and write their fds to `addr` as int[2],
    as pipe2(2) and socketpair(2) do; on any failure neither stays installed."""
    try:
        first_fd = t.fds.install(first, cloexec)
    except SyscallError:
        second.decref()
        raise
    try:
        second_fd = t.fds.install(second, cloexec)
    except SyscallError:
        t.fds.close(first_fd)
        raise
    try:
        t.copy_out(addr, struct.pack("<ii", first_fd, second_fd))
    except SyscallError:
        t.fds.close(first_fd)
        t.fds.close(second_fd)
        raise
