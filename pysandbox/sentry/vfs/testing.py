"""Fakes for unit tests of the VFS and the file syscalls: a task whose memory is a bytearray."""
import errno
import struct
import time

from ..credentials import Credentials
from ..errors import SyscallError
from ..fdtable import FDTable
from ..signals import SignalQueue, new_sighand
from ..sysctl import Sysctls
from ..waiter import WaitQueue


class FakeCredentials(Credentials):
    """The sentry's Credentials: root with every capability, any other uid with none."""


class FakeKernel:
    def __init__(self, vfs):
        self.vfs = vfs
        self.hostname = "sandbox"
        self.domainname = "(none)"
        self.boot_time = time.monotonic()
        self.tasks = {}
        self.thread_groups = {}
        self.host_fd_queues = {}
        self.controlling_terminals = {}
        self.init = None
        self.sysctls = Sysctls(self)

    def host_fd_queue(self, fd, events):
        return self.host_fd_queues.setdefault(fd, WaitQueue())


class FakeThreadGroup:
    def __init__(self, kernel, tgid):
        self.kernel = kernel
        self.tgid = tgid
        self.parent = None
        self.tasks = []
        self.pgid = self.sid = tgid
        self.exe = "/bin/fake"
        self.argv = [b"fake", b"--flag"]
        self.envp = [b"HOME=/"]
        self.stopped = False
        self.reaped = False
        self.start_time = kernel.boot_time
        self.utime = self.stime = 0.0
        self.cpu_times = lambda: (self.utime, self.stime)
        self.pending = SignalQueue()
        self.sighand = new_sighand()

    @property
    def leader(self):
        return self.tasks[0] if self.tasks else None


class FakeMM:
    def render_maps(self):
        return "00400000-00401000 r-xp 00000000 00:00 0 /bin/fake\n"

    def copy_from_file(self, addr, file, host_fd, offset, n, ahead):
        return None                         # no platform: large reads take the sentry's path

    def view_for_host(self, addr, n):
        return None                         # and large writes too


class FakeTask:
    """Guest memory is `size` bytes at `base`; alloc() places data there and returns its address."""

    def __init__(self, vfs, tid=1, base=0x10000, size=1 << 20, uid=0, gid=0):
        self.kernel = FakeKernel(vfs)
        self.tid = tid
        self.tg = FakeThreadGroup(self.kernel, tid)
        self.tg.tasks.append(self)
        self.kernel.tasks[tid] = self
        self.kernel.thread_groups[tid] = self.tg
        self.creds = FakeCredentials(uid, gid)
        self.fds = FDTable()
        self.fs = vfs.new_fs_context()
        self.mm = FakeMM()
        self.comm = "fake"
        self.sigmask = 0
        self.saved_sigmask = None
        self.pending = SignalQueue()
        self.syscall_state = {}
        self.timed_out_flag = False
        self.alive = True
        self.seccomp = None
        self.personality = 0
        self.base = base
        self.memory = bytearray(size)
        self._next = base

    def timed_out(self):
        return self.timed_out_flag

    def alloc(self, data_or_size):
        data = bytes(data_or_size) if isinstance(data_or_size, int) else data_or_size
        address = self._next
        self.copy_out(address, data)
        self._next += (len(data) + 15) & ~15 or 16
        return address

    def cstr(self, text):
        return self.alloc((text.encode() if isinstance(text, str) else text) + b"\0")

    def _range(self, address, n):
        start = address - self.base
        if address < self.base or start + n > len(self.memory):
            raise SyscallError(errno.EFAULT)
        return start

    def accessible_length(self, address, n, prot):
        if address < self.base:
            return 0
        return max(0, min(address + n, self.base + len(self.memory)) - address)

    def copy_in(self, address, n):
        start = self._range(address, n)
        return bytes(self.memory[start:start + n])

    def copy_out(self, address, data):
        start = self._range(address, len(data))
        self.memory[start:start + len(data)] = data
        return len(data)

    def copy_in_str(self, address, limit=4096, too_long=errno.ENAMETOOLONG):
        start = self._range(address, 1)
        end = self.memory.find(b"\0", start, start + limit)
        if end < 0:
            if start + limit > len(self.memory):
                raise SyscallError(errno.EFAULT)
            raise SyscallError(too_long)
        return bytes(self.memory[start:end])

    def copy_in_u32(self, address):
        return struct.unpack("<I", self.copy_in(address, 4))[0]

    def copy_in_u64(self, address):
        return struct.unpack("<Q", self.copy_in(address, 8))[0]

    def copy_out_u32(self, address, value):
        self.copy_out(address, struct.pack("<I", value & 0xFFFFFFFF))

    def copy_out_u64(self, address, value):
        self.copy_out(address, struct.pack("<Q", value & 0xFFFFFFFFFFFFFFFF))
