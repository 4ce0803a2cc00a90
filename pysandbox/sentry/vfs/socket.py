"""Sockets as open files: what every address family shares (socket(7)).

A SocketFile is the open file description of a socket. The socket calls reach it through
syscalls/sys_socket.py, which decodes guest memory (addresses, msghdr, control messages)
into Python values; read(2) and write(2) reach it as a receive and a send without flags,
as Linux's sock_read_iter and sock_write_iter do. The socket-level options (SOL_SOCKET)
live here; a family (unix.py) adds its own state and implements the calls.

Timeouts (SO_RCVTIMEO, SO_SNDTIMEO) are kept in jiffies as Linux keeps them, so that
getsockopt gives back what Linux would (set values are rounded up to HZ ticks).
"""
import errno
import itertools
import os
import stat as st
import struct
import time

from ..credentials import CAP_NET_ADMIN, CAP_NET_BIND_SERVICE, capable, has_capability
from ..errors import RESTART_NEVER, RESTART_SYS, SyscallError, WouldBlock
from .file import File
from .inode import Dentry, Inode, new_synthetic_dev, now_ns
from .stat import StatResult

AF_UNSPEC, AF_UNIX = 0, 1
SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET = 1, 2, 3, 5
SOCK_TYPE_MASK = 0xF
SOCK_NONBLOCK = os.O_NONBLOCK
SOCK_CLOEXEC = os.O_CLOEXEC

SHUT_RD, SHUT_WR, SHUT_RDWR = 0, 1, 2
RCV_SHUTDOWN, SEND_SHUTDOWN = 1, 2
SHUTDOWN_MASK = RCV_SHUTDOWN | SEND_SHUTDOWN

MSG_OOB, MSG_PEEK, MSG_CTRUNC, MSG_TRUNC, MSG_DONTWAIT, MSG_WAITALL = 0x1, 0x2, 0x8, 0x20, 0x40, 0x100
MSG_NOSIGNAL, MSG_WAITFORONE = 0x4000, 0x10000
MSG_CMSG_CLOEXEC, MSG_CMSG_COMPAT = 0x40000000, 0x80000000

SOL_SOCKET = 1
SO_DEBUG, SO_REUSEADDR, SO_TYPE, SO_ERROR, SO_DONTROUTE, SO_BROADCAST = 1, 2, 3, 4, 5, 6
SO_SNDBUF, SO_RCVBUF, SO_KEEPALIVE, SO_OOBINLINE, SO_NO_CHECK, SO_PRIORITY = 7, 8, 9, 10, 11, 12
SO_LINGER, SO_BSDCOMPAT, SO_REUSEPORT, SO_PASSCRED, SO_PEERCRED = 13, 14, 15, 16, 17
SO_RCVLOWAT, SO_SNDLOWAT, SO_RCVTIMEO_OLD, SO_SNDTIMEO_OLD = 18, 19, 20, 21
SO_PEERNAME, SO_ACCEPTCONN, SO_SNDBUFFORCE, SO_RCVBUFFORCE, SO_PASSSEC = 28, 30, 32, 33, 34
SO_TIMESTAMP_OLD, SO_TIMESTAMPNS_OLD, SO_TIMESTAMP_NEW, SO_TIMESTAMPNS_NEW = 29, 35, 63, 64
SO_TIMESTAMP, SO_TIMESTAMPNS = SO_TIMESTAMP_OLD, SO_TIMESTAMPNS_OLD      # what x86-64's libc calls them
SO_PROTOCOL, SO_DOMAIN = 38, 39
SO_RCVTIMEO_NEW, SO_SNDTIMEO_NEW = 66, 67
SCM_RIGHTS, SCM_CREDENTIALS = 1, 2

# Linux's defaults (net.core.wmem_default, wmem_max, rmem_max) and the floors of sock.h.
DEFAULT_BUFFER = 212992
MAX_BUFFER = 212992
MIN_SEND_BUFFER = 4608
MIN_RECEIVE_BUFFER = 2304
SOMAXCONN = 4096                          # net.core.somaxconn: listen(2)'s cap on the backlog
INT_MAX = 0x7FFFFFFF
HZ = 250
MAX_SCHEDULE_TIMEOUT = (1 << 63) - 1

# Options that are stored and reported but change nothing here; SO_DEBUG needs privilege.
_SWITCHES = (SO_DEBUG, SO_REUSEADDR, SO_DONTROUTE, SO_BROADCAST, SO_KEEPALIVE, SO_OOBINLINE,
             SO_NO_CHECK, SO_PASSSEC)
_RECEIVE_TIMEOUTS = (SO_RCVTIMEO_OLD, SO_RCVTIMEO_NEW)
_SEND_TIMEOUTS = (SO_SNDTIMEO_OLD, SO_SNDTIMEO_NEW)
TIMESTAMP_OPTIONS = (SO_TIMESTAMP_OLD, SO_TIMESTAMPNS_OLD, SO_TIMESTAMP_NEW, SO_TIMESTAMPNS_NEW)

_INT = struct.Struct("<i")
_LINGER = struct.Struct("<ii")
_TIMEVAL = struct.Struct("<qq")
UCRED = struct.Struct("<iii")
OVERFLOW_ID = 65534                       # what an id the reader cannot see shows as (overflowuid)

SOCKFS_DEV = new_synthetic_dev()
_socket_numbers = itertools.count(10000)


def credentials_of(t):
    """What SO_PEERCRED reports about the calling process: its pid, euid and egid."""
    return (t.tg.tgid, t.creds.euid, t.creds.egid)


def check_bind_port(t, port):
    """inet_port_requires_bind_service(): a port below net.ipv4.ip_unprivileged_port_start (1024
    unless configured) needs CAP_NET_BIND_SERVICE; EACCES otherwise."""
    if port and port < t.kernel.sysctls.int_value("net.ipv4.ip_unprivileged_port_start") \
            and not capable(t, CAP_NET_BIND_SERVICE):
        raise SyscallError(errno.EACCES)


def privileged(creds):
    """CAP_NET_ADMIN: what the socket options beyond a user's limits need."""
    return has_capability(creds, CAP_NET_ADMIN)


class Control:
    """What a send passes besides bytes: files (SCM_RIGHTS, the caller's references) and
    credentials (SCM_CREDENTIALS: pid, uid, gid, already checked)."""

    def __init__(self, files=(), credentials=None):
        self.files = list(files)
        self.credentials = credentials

    def release(self):
        for file in self.files:
            file.decref()
        self.files = []


NO_CONTROL = Control()


class Received:
    """What one receive took: data, and for recvmsg(2) the rest.

    length: what the call returns (the whole datagram's size with MSG_TRUNC);
    flags: MSG_TRUNC when a datagram was cut short;
    address: the sender's sockaddr bytes, None when it has no name (msg_namelen 0);
    files: files passed with SCM_RIGHTS, references that now belong to the caller;
    credentials: (pid, uid, gid) for SCM_CREDENTIALS, when the receiver has SO_PASSCRED;
    messages: other control messages, (level, type, data), as a host socket received them.
    """

    __slots__ = ("data", "length", "flags", "address", "files", "credentials", "messages")

    def __init__(self, data, length=None, flags=0, address=None, files=(), credentials=None, messages=()):
        self.data = data
        self.length = len(data) if length is None else length
        self.flags = flags
        self.address = address
        self.files = list(files)
        self.credentials = credentials
        self.messages = list(messages)

    @classmethod
    def datagram(cls, whole, size, flags, address=None, files=(), credentials=None):
        """One datagram cut to `size`: with MSG_TRUNC the call returns its whole length, and
        MSG_TRUNC is reported when it was cut."""
        data = whole[:size]
        return cls(data, len(whole) if flags & MSG_TRUNC else len(data),
                   MSG_TRUNC if len(data) < len(whole) else 0, address, files, credentials)


class SocketInode(Inode):
    """The socket as an inode of sockfs: what fstat(2) and /proc/<pid>/fd show."""

    def __init__(self, creds):
        self.ino = next(_socket_numbers)
        self.mode = st.S_IFSOCK | 0o777
        self.uid, self.gid = creds.fsuid, creds.fsgid
        self.ctime_ns = now_ns()
        self.dentry = Dentry(self, None, b"socket:[%d]" % self.ino)

    def stat(self):
        return StatResult(dev=SOCKFS_DEV, ino=self.ino, mode=self.mode, uid=self.uid, gid=self.gid,
                          atime_ns=self.ctime_ns, mtime_ns=self.ctime_ns, ctime_ns=self.ctime_ns)


class SocketFile(File):
    """An open socket. Subclasses implement the calls; the defaults answer as Linux does for a
    protocol that lacks the operation (sock_no_*)."""

    family = AF_UNSPEC

    def __init__(self, socket_type, protocol, flags, creds):
        inode = SocketInode(creds)
        super().__init__(os.O_RDWR | (flags & os.O_NONBLOCK), inode.dentry)
        self.type = socket_type
        self.protocol = protocol
        self.send_buffer = self.receive_buffer = DEFAULT_BUFFER
        self.send_timeout = self.receive_timeout = MAX_SCHEDULE_TIMEOUT     # jiffies
        self.receive_lowat = 1
        self.error = 0                                  # sk_err: reported once
        self.shutdown_mask = 0
        self.pass_credentials = False
        self.lingering = False
        self.linger_time = 0                            # jiffies, kept while lingering is off
        self.priority = 0
        self.switches = dict.fromkeys(_SWITCHES, 0)
        self.timestamps = 0                             # the SO_TIMESTAMP* option set, if one is

    # -- calls a family implements --------------------------------------------------------
    def bind(self, t, address):
        raise SyscallError(errno.EOPNOTSUPP)

    def listen(self, t, backlog):
        raise SyscallError(errno.EOPNOTSUPP)

    def accept(self, t, flags):
        raise SyscallError(errno.EOPNOTSUPP)

    def connect(self, t, address):
        raise SyscallError(errno.EOPNOTSUPP)

    def shutdown(self, how):
        raise SyscallError(errno.EOPNOTSUPP)

    def send(self, t, data, flags, address=None, control=NO_CONTROL):
        """sendmsg: the bytes sent. `control` holds the files and credentials to pass."""
        raise SyscallError(errno.EOPNOTSUPP)

    def receive(self, t, size, flags):
        """recvmsg: a Received."""
        raise SyscallError(errno.EOPNOTSUPP)

    def socket_name(self):
        """getsockname(2): the address as the bytes of a sockaddr."""
        raise SyscallError(errno.EOPNOTSUPP)

    def peer_name(self):
        """getpeername(2)."""
        raise SyscallError(errno.ENOTCONN)

    def peer_credentials(self):
        """SO_PEERCRED: (pid, uid, gid) of the peer, or None."""
        return None

    @property
    def listening(self):
        return False

    # -- read(2) and write(2) ----------------------------------------------------------------
    def read(self, t, n):
        if n == 0:
            return b""
        received = self.receive(t, n, self.default_flags())
        for file in received.files:             # nowhere to put them: they are closed
            file.decref()
        return received.data

    def write(self, t, data):
        return self.send(t, data, self.default_flags())

    def default_flags(self):
        return MSG_DONTWAIT if self.nonblocking else 0

    # -- errors and waiting ----------------------------------------------------------------------
    def take_error(self):
        """sock_error(): the pending error, cleared."""
        error, self.error = self.error, 0
        return error

    def raise_error(self):
        error = self.take_error()
        if error:
            raise SyscallError(error)

    @staticmethod
    def timeout(flags, jiffies):
        """How long a call may wait: not at all with MSG_DONTWAIT (sock_rcvtimeo/sock_sndtimeo)."""
        return 0 if flags & MSG_DONTWAIT else jiffies

    @staticmethod
    def may_wait(t, jiffies):
        """Whether a call with this timeout may (still) wait."""
        return jiffies != 0 and not t.timed_out()

    @staticmethod
    def wait(t, jiffies, *queues):
        """Park the caller on `queues` for at most `jiffies`. Like Linux (sock_intr_errno), a
        signal restarts the call under SA_RESTART unless a timeout was set."""
        if not SocketFile.may_wait(t, jiffies):
            raise SyscallError(errno.EAGAIN)
        if jiffies == MAX_SCHEDULE_TIMEOUT:
            raise WouldBlock(*queues, restart=RESTART_SYS)
        deadline = t.syscall_state.setdefault("deadline", time.monotonic() + jiffies / HZ)
        raise WouldBlock(*queues, deadline=deadline, restart=RESTART_NEVER)

    # -- socket options (SOL_SOCKET) ---------------------------------------------------------
    def getsockopt(self, t, level, name, length):
        """The option's value as bytes (the caller copies out at most `length` of them)."""
        if level != SOL_SOCKET:
            raise SyscallError(errno.EOPNOTSUPP)
        if name in self.switches:
            return _INT.pack(self.switches[name])
        if name in _RECEIVE_TIMEOUTS or name in _SEND_TIMEOUTS:
            return _pack_timeout(self.receive_timeout if name in _RECEIVE_TIMEOUTS else self.send_timeout)
        if name == SO_LINGER:
            return _LINGER.pack(int(self.lingering), _to_int(self.linger_time // HZ))
        if name == SO_PEERCRED:
            return UCRED.pack(*(self.peer_credentials() or (0, -1, -1)))
        if name == SO_PEERNAME:
            return self._peer_name_option(length)
        if name in TIMESTAMP_OPTIONS:
            return _INT.pack(int(self.timestamps == name))
        option = _INTEGER_OPTIONS.get(name)
        if option is None:
            raise SyscallError(errno.ENOPROTOOPT)
        return _INT.pack(option(self))

    def _peer_name_option(self, length):
        try:
            address = self.peer_name()
        except SyscallError:
            raise SyscallError(errno.ENOTCONN) from None
        if len(address) < length:
            raise SyscallError(errno.EINVAL)
        return address

    def setsockopt(self, t, level, name, option):
        """`option` reads optval: option.integer(), option.read(size) (EINVAL when short)."""
        if level != SOL_SOCKET:
            raise SyscallError(errno.EOPNOTSUPP)
        value = option.integer()
        if name in self.switches:
            if name == SO_DEBUG and value and not privileged(t.creds):
                raise SyscallError(errno.EACCES)
            self.switches[name] = int(bool(value))
        elif name in (SO_SNDBUF, SO_SNDBUFFORCE):
            self.set_send_buffer(self._buffer_request(t, name == SO_SNDBUFFORCE, value), MIN_SEND_BUFFER)
        elif name in (SO_RCVBUF, SO_RCVBUFFORCE):
            self.receive_buffer = _doubled(self._buffer_request(t, name == SO_RCVBUFFORCE, value),
                                           MIN_RECEIVE_BUFFER)
        elif name in _RECEIVE_TIMEOUTS:
            self.receive_timeout = _timeout_jiffies(option.read(_TIMEVAL.size))
        elif name in _SEND_TIMEOUTS:
            self.send_timeout = _timeout_jiffies(option.read(_TIMEVAL.size))
        elif name == SO_LINGER:
            self._set_linger(option.read(_LINGER.size))
        elif name == SO_PASSCRED:
            self.pass_credentials = bool(value)
        elif name == SO_RCVLOWAT:
            self.receive_lowat = (INT_MAX if value < 0 else value) or 1
            self.wait_queue.notify()
        elif name == SO_PRIORITY:
            if not 0 <= value <= 6 and not privileged(t.creds):
                raise SyscallError(errno.EPERM)
            self.priority = value
        elif name == SO_REUSEPORT:
            if value:
                raise SyscallError(errno.EOPNOTSUPP)  # only inet sockets share ports
        elif name == SO_BSDCOMPAT:
            pass
        elif name in TIMESTAMP_OPTIONS:
            self.timestamps = name if value else 0   # sock_set_timestamp(): off turns every kind off
        else:
            raise SyscallError(errno.ENOPROTOOPT)   # unknown, or read-only (SO_TYPE, SO_ERROR...)

    @staticmethod
    def _buffer_request(t, forced, value):
        """The size asked for, capped as Linux caps it (by wmem_max/rmem_max unless forced)."""
        if forced:
            if not privileged(t.creds):
                raise SyscallError(errno.EPERM)
            return max(value, 0)
        return min(value & 0xFFFFFFFF, MAX_BUFFER)

    def set_send_buffer(self, request, floor):
        self.send_buffer = _doubled(request, floor)
        self.wait_queue.notify()                     # writers may have room now

    def add_timestamp(self, received, arrival_ns):
        """Add to `received` the SCM_TIMESTAMP* control message (socket(7)) for data that arrived
        at `arrival_ns` (time.time_ns()), when a timestamp option is on. 64-bit: the _OLD and _NEW
        kinds share the layout (seconds, then microseconds or nanoseconds)."""
        if not self.timestamps:
            return
        seconds, nanoseconds = divmod(arrival_ns, 10 ** 9)
        if self.timestamps in (SO_TIMESTAMP_OLD, SO_TIMESTAMP_NEW):
            nanoseconds //= 1000
        received.messages.append((SOL_SOCKET, self.timestamps, _TIMEVAL.pack(seconds, nanoseconds)))

    def _set_linger(self, raw):
        onoff, seconds = _LINGER.unpack(raw)
        self.lingering = bool(onoff)
        if onoff:
            seconds &= 0xFFFFFFFFFFFFFFFF            # unsigned long, as Linux reads it
            self.linger_time = MAX_SCHEDULE_TIMEOUT if seconds >= MAX_SCHEDULE_TIMEOUT // HZ else seconds * HZ


# The SOL_SOCKET options getsockopt(2) reports as an int.
_INTEGER_OPTIONS = {
    SO_TYPE: lambda sock: sock.type,
    SO_PROTOCOL: lambda sock: sock.protocol,
    SO_DOMAIN: lambda sock: sock.family,
    SO_ERROR: lambda sock: sock.take_error(),
    SO_ACCEPTCONN: lambda sock: int(sock.listening),
    SO_SNDBUF: lambda sock: sock.send_buffer,
    SO_RCVBUF: lambda sock: sock.receive_buffer,
    SO_PASSCRED: lambda sock: int(sock.pass_credentials),
    SO_RCVLOWAT: lambda sock: sock.receive_lowat,
    SO_SNDLOWAT: lambda sock: 1,
    SO_PRIORITY: lambda sock: sock.priority,
    SO_REUSEPORT: lambda sock: 0,
    SO_BSDCOMPAT: lambda sock: 0,
}


def _doubled(request, floor):
    """Linux doubles a buffer size to leave room for its bookkeeping (socket(7))."""
    return max(min(request, INT_MAX // 2) * 2, floor)


def _to_int(value):
    """A C long stored into an int field."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def _timeout_jiffies(raw):
    """sock_set_timeout(): a struct timeval as jiffies; MAX_SCHEDULE_TIMEOUT for none."""
    seconds, microseconds = _TIMEVAL.unpack(raw)
    if not 0 <= microseconds < 1_000_000:
        raise SyscallError(errno.EDOM)
    if seconds < 0:
        return 0                                      # Linux then never waits
    if (seconds or microseconds) and seconds < MAX_SCHEDULE_TIMEOUT // HZ - 1:
        return seconds * HZ + -(-microseconds // (1_000_000 // HZ))
    return MAX_SCHEDULE_TIMEOUT


def _pack_timeout(jiffies):
    if jiffies == MAX_SCHEDULE_TIMEOUT:
        return _TIMEVAL.pack(0, 0)
    return _TIMEVAL.pack(jiffies // HZ, jiffies % HZ * 1_000_000 // HZ)
