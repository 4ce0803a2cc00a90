"""/proc/PID/mem: a process's memory at file offsets equal to its addresses, as debuggers read
and write it (Linux's mem_rw: only with ptrace access, and writes reach read-only private pages)."""
import errno
import stat as st

from ..errors import SyscallError
from .file import SeekableFile
from .procfs import ProcInode


class ProcessMemory(ProcInode):
    def __init__(self, task_of, owner):
        super().__init__(st.S_IFREG | 0o600, owner)
        self.task_of = task_of

    def open(self, t, dentry, flags):
        from ..syscalls.sys_pidfd import ptrace_may_access
        task = self.task_of()
        if not ptrace_may_access(t, task):
            raise SyscallError(errno.EACCES)
        return MemoryFile(flags, dentry, task.mm)


class MemoryFile(SeekableFile):
    """The memory of the address space the process had when the file was opened."""

    def __init__(self, flags, dentry, mm):
        super().__init__(flags, dentry)
        self.mm = mm

    def pread(self, offset, n):
        from ..ptrace import read_forced
        data = read_forced(self.mm, offset, n)
        if not data and n:
            raise SyscallError(errno.EIO)
        return data

    def pwrite(self, offset, data):
        from ..ptrace import write_forced
        written = write_forced(self.mm, offset, data)
        if not written and data:
            raise SyscallError(errno.EIO)
        return written

    def size(self):
        return 0
