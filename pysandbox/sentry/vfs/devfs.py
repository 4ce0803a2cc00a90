"""/dev: a small devtmpfs of character devices, stdio symlinks and a writable /dev/shm."""
import errno
import os
import stat as st

from ..errors import SyscallError, host_errors
from .devpts import PtyReplicaFile, controlling_terminal, show_console
from .file import File
from .hostfile import MAX_READ, HostStreamFile
from .memfs import MemDir, MemInode, MemSymlink
from .stat import StatResult

TTY_DEVICE = os.makedev(5, 0)


class DeviceFile(File):
    """An open character device: positioned I/O and seeking do nothing special."""

    def pread(self, offset, n):
        return self.read(None, n)

    def pwrite(self, offset, data):
        return self.write(None, data)

    def seek(self, offset, whence):
        return 0

    def size(self):
        return 0


class NullFile(DeviceFile):
    def read(self, t, n):
        return b""

    def write(self, t, data):
        return len(data)


class ZeroFile(DeviceFile):
    def read(self, t, n):
        return bytes(min(n, MAX_READ))

    def is_mappable(self):
        return True  # the mapping reads as zeros, like an anonymous one

    def write(self, t, data):
        return len(data)


class FullFile(ZeroFile):
    def write(self, t, data):
        raise SyscallError(errno.ENOSPC)


class RandomFile(DeviceFile):
    def read(self, t, n):
        return os.urandom(min(n, MAX_READ))

    def write(self, t, data):
        return len(data)  # mixing entropy in is accepted and ignored


class CharDevice(MemInode):
    def __init__(self, major, minor, file_class, mode=0o666):
        super().__init__(st.S_IFCHR | mode, rdev=os.makedev(major, minor))
        self.file_class = file_class

    def open(self, t, dentry, flags):
        return self.file_class(flags, dentry)


class TerminalDevice(MemInode):
    """/dev/tty and /dev/console: the host tty the sandbox's stdio is attached to, if any."""

    def __init__(self, vfs, minor):
        super().__init__(st.S_IFCHR | 0o620, rdev=os.makedev(5, minor))
        self.vfs = vfs

    def stat(self):
        terminal = self.vfs.terminal
        if terminal is None:
            return super().stat()
        with host_errors():
            return StatResult.from_host(os.fstat(terminal.host_fd))

    def open(self, t, dentry, flags):
        if self.rdev == TTY_DEVICE:
            pty = controlling_terminal(t.tg)
            if pty is not None:
                return PtyReplicaFile(pty, flags, dentry)
        terminal = self.vfs.terminal
        if terminal is None or self.rdev == TTY_DEVICE and not self._on_stdio_session(t):
            raise SyscallError(errno.ENXIO)
        return HostStreamFile.from_host_fd(terminal.host_fd, dentry, terminal, flags)

    @staticmethod
    def _on_stdio_session(t):
        """/dev/tty is the host terminal only for the session the sandbox started in (its init's)."""
        init = t.kernel.init
        return init is None or t.tg.sid == init.sid


def console_dentry(vfs):
    """Where the sandbox's stdio terminal shows: /dev/pts/N (0 unless a pty came first) when
    /dev/pts is a devpts mount, as with runc's console; otherwise /dev/console."""
    dev = vfs.root.lookup(b"dev")
    console = dev.lookup(b"console")
    try:
        pts = dev.lookup(b"pts")
    except SyscallError:
        return console
    index = show_console(pts.inode, console.inode)
    return console if index is None else pts.lookup(b"%d" % index)


def build_devfs(vfs):
    """The root directory of a fresh /dev."""
    root = MemDir(0o755)
    devices = {
        b"null": CharDevice(1, 3, NullFile),
        b"zero": CharDevice(1, 5, ZeroFile),
        b"full": CharDevice(1, 7, FullFile),
        b"random": CharDevice(1, 8, RandomFile),
        b"urandom": CharDevice(1, 9, RandomFile),
        b"tty": TerminalDevice(vfs, 0),
        b"console": TerminalDevice(vfs, 1),
    }
    for name, device in devices.items():
        root.add(name, device)
    for name, target in ((b"fd", b"/proc/self/fd"), (b"stdin", b"/proc/self/fd/0"),
                         (b"stdout", b"/proc/self/fd/1"), (b"stderr", b"/proc/self/fd/2"),
                         (b"ptmx", b"pts/ptmx")):
        root.add(name, MemSymlink(target))
    root.mkdir(b"shm", 0o1777, 0, 0)
    root.mkdir(b"pts", 0o755, 0, 0)
    return root
