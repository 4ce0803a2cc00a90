"""DirFile: an open directory of any filesystem, read with getdents."""
import errno

from ..errors import SyscallError
from .file import SEEK_CUR, SEEK_SET, File
from .inode import DirEntry
from .stat import DT_DIR


class DirFile(File):
    """Lists a directory from a snapshot taken at the first getdents after a rewind.

    The offset is an index into that snapshot, so a d_off handed to the guest
    can be given back to lseek and reading resumes at the next entry.
    """

    def __init__(self, flags, dentry):
        super().__init__(flags, dentry)
        self.offset = 0
        self._snapshot = None

    def read(self, t, n):
        raise SyscallError(errno.EISDIR)

    def write(self, t, data):
        raise SyscallError(errno.EISDIR)

    def pread(self, offset, n):
        raise SyscallError(errno.EISDIR)

    def pwrite(self, offset, data):
        raise SyscallError(errno.EISDIR)

    def sync(self):
        pass

    def seek(self, offset, whence):
        if whence == SEEK_SET:
            new_offset = offset
        elif whence == SEEK_CUR:
            new_offset = self.offset + offset
        else:
            raise SyscallError(errno.EINVAL)
        if new_offset < 0:
            raise SyscallError(errno.EINVAL)
        if new_offset == 0:
            self._snapshot = None  # rewinddir(3) sees new entries
        self.offset = new_offset
        return new_offset

    def getdents(self, t, capacity, pack):
        """Records packed by `pack(entry, next_offset)` that fit in `capacity` bytes."""
        entries = self._entries()
        records = []
        used = 0
        while self.offset < len(entries):
            record = pack(entries[self.offset], self.offset + 1)
            if used + len(record) > capacity:
                break
            records.append(record)
            used += len(record)
            self.offset += 1
        if not records and self.offset < len(entries):
            raise SyscallError(errno.EINVAL)
        return b"".join(records)

    def _entries(self):
        if self._snapshot is None:
            here = self.dentry
            parent = here.parent or here
            self._snapshot = [DirEntry(b".", here.inode.stat().ino, DT_DIR),
                              DirEntry(b"..", parent.inode.stat().ino, DT_DIR)]
            self._snapshot.extend(here.list())
        return self._snapshot
