"""Host-backed inet sockets, for `--network=host` (gVisor's hostinet).

The sentry creates a host socket for each AF_INET/AF_INET6 socket of the workload, in the
sandbox's own host network namespace; the workload's descriptor is a sentry file that wraps
it. Host sockets are always non-blocking: a call that would block parks the task (WouldBlock)
and the kernel's loop keeps serving every other task.

Readiness: every host socket of the sandbox sits, edge-triggered, in one host epoll
(HostNetwork). While some task waits on a host socket, the kernel's loop watches that epoll;
when it fires, the sockets whose state changed notify their wait queues. So a host socket's
wait queue fires on changes, like the sentry's own files, and epoll(7) in the sentry treats
it as such.

Addresses and option values are passed to the host as the bytes the workload gave, so the
host kernel makes Linux's checks (EINVAL for a short sockaddr, EAFNOSUPPORT for a wrong
family...) itself. Only options on an allowlist reach the host: option values that hold
pointers (socket filters) or change the host's routing (SO_MARK, IP_TRANSPARENT) do not.
"""
import ctypes
import errno
import select
import socket as pysocket
import struct

from ..errors import SyscallError, host_errors
from .file import (POLLERR, POLLHUP, POLLIN, POLLOUT, POLLPRI, POLLRDBAND, POLLRDHUP, POLLRDNORM,
                   POLLWRBAND, POLLWRNORM, host_fd_ready, on_broken_pipe)
from .socket import (MSG_DONTWAIT, MSG_NOSIGNAL, MSG_PEEK, MSG_TRUNC, MSG_WAITALL, NO_CONTROL,
                     SO_PEERCRED, SO_RCVTIMEO_NEW, SO_RCVTIMEO_OLD, SO_SNDTIMEO_NEW, SO_SNDTIMEO_OLD,
                     SOCK_STREAM, SOL_SOCKET, TIMESTAMP_OPTIONS, Received, SocketFile, check_bind_port)

_libc = ctypes.CDLL(None, use_errno=True)
for _name in ("bind", "connect", "listen", "accept4", "getsockname", "getpeername", "shutdown",
              "setsockopt", "getsockopt", "ioctl"):
    getattr(_libc, _name).restype = ctypes.c_int
for _name in ("sendto", "recvmsg"):
    getattr(_libc, _name).restype = ctypes.c_ssize_t

IPPROTO_IP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_IPV6 = 0, 6, 17, 41
SIOCINQ, SIOCOUTQ, SIOCATMARK, SIOCOUTQNSD = 0x541B, 0x5411, 0x8905, 0x894B
SIOCGIFCONF = 0x8912
IFREQ_GETTERS = {0x8910, 0x8913, 0x8915, 0x8917, 0x8919, 0x891B, 0x891D, 0x8921, 0x8927, 0x8933, 0x8942}
IFREQ_SETTERS = {0x8914, 0x8916, 0x8918, 0x891A, 0x891C, 0x891E, 0x8922, 0x8924, 0x8934, 0x8943}
IFREQ_SIZE = 40
IFCONF = struct.Struct("<i4xQ")
MAX_RECEIVE = 1 << 20            # one receive takes at most this much (a short read)
CONTROL_ROOM = 1024
SOCKADDR_ROOM = 128
_EDGE_EVENTS = select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP | select.EPOLLPRI | select.EPOLLET
_POLL_ALL = POLLIN | POLLPRI | POLLOUT | POLLRDHUP | POLLRDNORM | POLLRDBAND | POLLWRNORM | POLLWRBAND
_INT = struct.Struct("<i")
_CMSGHDR = struct.Struct("<Qii")

# (level, option) pairs passed to the host, as gVisor's hostinet allows them.
_HOST_OPTIONS = {
    SOL_SOCKET: {2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 18, 19, 25, 29, 30, 32, 33, 35,
                 38, 39, 40, 46, 49},
    IPPROTO_TCP: {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 18, 23, 24, 25, 30, 36},
    IPPROTO_UDP: {1, 100, 101, 102, 103, 104},
    IPPROTO_IP: {1, 2, 4, 6, 7, 8, 10, 11, 12, 13, 14, 15, 20, 24, 32, 33, 34, 35, 36, 49},
    IPPROTO_IPV6: {1, 2, 3, 16, 17, 18, 19, 20, 21, 23, 24, 25, 26, 49, 50, 51, 52, 66, 67, 74},
}
_SENTRY_OPTIONS = (SO_RCVTIMEO_OLD, SO_RCVTIMEO_NEW, SO_SNDTIMEO_OLD, SO_SNDTIMEO_NEW, SO_PEERCRED)


def _host_call(result):
    """A libc call's result, or its errno as a SyscallError."""
    if result < 0:
        raise SyscallError(ctypes.get_errno())
    return result


class _Msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.c_void_p),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class HostNetwork:
    """The sandbox's host network namespace: its sockets and the one host epoll that watches them."""

    mode = "host"

    def __init__(self):
        self.epoll = select.epoll()
        self.sockets = {}                 # host fd -> HostSocket
        self._armed = None                # the kernel's queue for our epoll, while watched
        self._quiet = False               # wake-ups being delivered: subscribers are not waiters

    def new_socket(self, t, family, socket_type, protocol, flags):
        return HostSocket(self, family, socket_type, protocol, flags, t.creds)

    def register(self, sock):
        self.sockets[sock.host_fd] = sock
        self.epoll.register(sock.host_fd, _EDGE_EVENTS)

    def unregister(self, sock):
        if self.sockets.pop(sock.host_fd, None) is sock:
            self.epoll.unregister(sock.host_fd)

    def arm(self, kernel, waiter=False):
        """Have the kernel's loop watch the epoll: a task is about to wait on one of our sockets
        (`waiter`), or something subscribes to one outside a wake-up. While nothing is watched,
        the kernel keeps its fast path for a lone running task; edges wait in the epoll meanwhile."""
        if self._quiet and not waiter:
            return
        queue = kernel.host_fd_queue(self.epoll.fileno(), POLLIN)
        if queue is not self._armed:
            self._armed = queue
            queue.add(self._changed)

    def _changed(self):
        self._armed = None
        for fd, _ in self.epoll.poll(0, len(self.sockets) + 1):
            sock = self.sockets.get(fd)
            if sock is not None:
                self.notify_quietly(sock.wait_queue)

    def notify_quietly(self, queue):
        """Wake what waits on `queue`; epoll interests re-subscribing meanwhile do not arm: only
        a task that parks again does (prepare_to_wait, or a blocking call)."""
        self._quiet = True
        try:
            queue.notify()
        finally:
            self._quiet = False

    def close(self):
        self.epoll.close()

    @staticmethod
    def apply_sysctls(settings):
        """The sysctls of an OCI config that the host namespace itself must hold for host sockets
        to behave as configured, written there as runc writes them (before the chroot): only
        net.ipv4.ping_group_range, which the host checks against the sentry's gid when it makes
        a ping socket (the sentry checks the workload's groups itself). A config may set net.*
        only for a container with a network namespace of its own, so the host's is never
        touched. Returns the error message of a write that failed, or None."""
        value = settings.get("net.ipv4.ping_group_range")
        if value is None:
            return None
        try:
            with open("/proc/sys/net/ipv4/ping_group_range", "w") as sysctl:
                sysctl.write(value)
        except OSError as error:
            return f"net.ipv4.ping_group_range of the host network namespace: {error.strerror}"
        return None

    @staticmethod
    def interface_ioctl(t, sock, cmd, arg):
        """SIOCGIF*: the host namespace's interfaces, read through the socket's host fd."""
        if cmd == SIOCGIFCONF:
            return _host_interface_list(t, sock.host_fd, arg)
        if cmd in IFREQ_GETTERS:
            request = bytearray(t.copy_in(arg, IFREQ_SIZE))
            buffer = ctypes.create_string_buffer(bytes(request), IFREQ_SIZE)
            _host_call(_libc.ioctl(sock.host_fd, cmd, buffer))
            t.copy_out(arg, buffer.raw)
            return 0
        if cmd in IFREQ_SETTERS:
            raise SyscallError(errno.EPERM)         # no CAP_NET_ADMIN in the host's namespace
        raise SyscallError(errno.ENOTTY)


class HostSocket(SocketFile):
    """An AF_INET or AF_INET6 socket of the workload, backed by a host socket."""

    def __init__(self, network, family, socket_type, protocol, flags, creds, host=None):
        super().__init__(socket_type, protocol, flags, creds)
        self.family = family
        self.network = network
        if host is None:
            with host_errors():
                host = pysocket.socket(family, socket_type | pysocket.SOCK_NONBLOCK | pysocket.SOCK_CLOEXEC,
                                       protocol)
            self.protocol = host.getsockopt(SOL_SOCKET, pysocket.SO_PROTOCOL)
        self.host = host
        self.host_fd = host.fileno()
        network.register(self)

    def release(self):
        self.network.unregister(self)
        self.host.close()

    # -- names and connections ----------------------------------------------------------------
    def bind(self, t, address):
        if len(address) >= 4 and struct.unpack_from("<H", address)[0] == self.family:
            check_bind_port(t, struct.unpack_from("!H", address, 2)[0])
        _host_call(_libc.bind(self.host_fd, address, len(address)))

    def listen(self, t, backlog):
        _host_call(_libc.listen(self.host_fd, backlog))

    def accept(self, t, flags):
        while True:
            fd = _libc.accept4(self.host_fd, None, None, pysocket.SOCK_NONBLOCK | pysocket.SOCK_CLOEXEC)
            if fd >= 0:
                break
            error = ctypes.get_errno()
            if error == errno.EINTR:
                continue
            if error != errno.EAGAIN:
                raise SyscallError(error)
            self.wait(t, self.timeout(self.default_flags(), self.receive_timeout), self.readiness_queue(t, POLLIN))
        host = pysocket.socket(self.family, self.type, self.protocol, fileno=fd)
        return HostSocket(self.network, self.family, self.type, self.protocol, flags, t.creds, host)

    def connect(self, t, address):
        """connect(2): started on the host, then waited for like Linux's inet_wait_for_connect."""
        state = t.syscall_state
        if not state.get("connecting"):
            result = _libc.connect(self.host_fd, address, len(address))
            if result == 0:
                return
            error = ctypes.get_errno()
            if error != errno.EINPROGRESS:
                raise SyscallError(error)
            if self.nonblocking:
                raise SyscallError(errno.EINPROGRESS)
            state["connecting"] = True
        if not host_fd_ready(self.host_fd, POLLOUT) & (POLLOUT | POLLERR | POLLHUP):
            if not self.may_wait(t, self.send_timeout):
                raise SyscallError(errno.EINPROGRESS)
            self.wait(t, self.send_timeout, self.readiness_queue(t, POLLOUT))
        error = self.host.getsockopt(SOL_SOCKET, pysocket.SO_ERROR)
        if error:
            raise SyscallError(error)

    def shutdown(self, how):
        _host_call(_libc.shutdown(self.host_fd, how))
        self._state_changed()

    def socket_name(self):
        return self._name(_libc.getsockname)

    def peer_name(self):
        return self._name(_libc.getpeername)

    def _name(self, call):
        buffer = ctypes.create_string_buffer(SOCKADDR_ROOM)
        length = ctypes.c_uint32(SOCKADDR_ROOM)
        _host_call(call(self.host_fd, buffer, ctypes.byref(length)))
        return buffer.raw[:length.value]

    @property
    def listening(self):
        return bool(self.host.getsockopt(SOL_SOCKET, pysocket.SO_ACCEPTCONN))

    # -- data --------------------------------------------------------------------------------------
    def send(self, t, data, flags, address=None, control=NO_CONTROL):
        host_flags = (flags & ~MSG_DONTWAIT) | MSG_NOSIGNAL
        timeout = self.timeout(flags, self.send_timeout)
        while True:
            try:
                return self._send_once(data, host_flags, address)
            except SyscallError as error:
                if error.errno == errno.EINTR:
                    continue
                if error.errno == errno.EPIPE and not flags & MSG_NOSIGNAL:
                    on_broken_pipe(t)
                if error.errno != errno.EAGAIN:
                    raise
            self._state_changed()
            self.wait(t, timeout, self.readiness_queue(t, POLLOUT))

    def _send_once(self, data, host_flags, address):
        if address is not None:
            return _host_call(_libc.sendto(self.host_fd, data, len(data), host_flags, address, len(address)))
        try:
            return self.host.send(data, host_flags)
        except OSError as error:
            raise SyscallError(error.errno) from None

    def receive(self, t, size, flags):
        size = min(size, MAX_RECEIVE)
        timeout = self.timeout(flags, self.receive_timeout)
        host_flags = flags & ~(MSG_DONTWAIT | MSG_WAITALL)
        if flags & MSG_WAITALL and self.type == SOCK_STREAM and self.may_wait(t, timeout):
            self._wait_for_all(t, size, timeout)
        while True:
            try:
                if self.type == SOCK_STREAM and not self.timestamps:     # no control messages to take
                    data = self.host.recv(size, host_flags)
                    received = Received(data)
                else:
                    received = self._receive_message(size, host_flags)
                if not flags & MSG_PEEK:
                    self._state_changed()
                return received
            except (BlockingIOError, InterruptedError):
                pass
            except SyscallError as error:
                if error.errno not in (errno.EAGAIN, errno.EINTR):
                    raise
            except OSError as error:
                raise SyscallError(error.errno) from None
            self._state_changed()
            self.wait(t, timeout, self.readiness_queue(t, POLLIN))

    def _wait_for_all(self, t, size, timeout):
        """MSG_WAITALL: wait until `size` bytes (as many as the receive buffer can hold) are queued,
        or the stream ends or fails."""
        if host_fd_ready(self.host_fd, POLLRDHUP) & (POLLRDHUP | POLLERR | POLLHUP):
            return
        wanted = min(size, self.host.getsockopt(SOL_SOCKET, pysocket.SO_RCVBUF) // 2)
        if self.bytes_available() < wanted:
            self.wait(t, timeout, self.readiness_queue(t, POLLIN))

    def _receive_message(self, size, host_flags):
        """recvmsg(2) on the host: the datagram, its sender's sockaddr and MSG_TRUNC."""
        data = ctypes.create_string_buffer(max(size, 1))
        name = ctypes.create_string_buffer(SOCKADDR_ROOM)
        control = ctypes.create_string_buffer(CONTROL_ROOM)
        vector = _Iovec(ctypes.cast(data, ctypes.c_void_p), size)
        header = _Msghdr(ctypes.cast(name, ctypes.c_void_p), SOCKADDR_ROOM,
                         ctypes.cast(ctypes.pointer(vector), ctypes.c_void_p), 1,
                         ctypes.cast(control, ctypes.c_void_p), CONTROL_ROOM, 0)
        length = _host_call(_libc.recvmsg(self.host_fd, ctypes.byref(header), host_flags))
        taken = min(length, size)
        return Received(data.raw[:taken], length, header.flags & MSG_TRUNC, name.raw[:header.namelen] or None,
                        messages=_control_messages(control.raw[:header.controllen]))

    # -- options ----------------------------------------------------------------------------------
    def getsockopt(self, t, level, name, length):
        if level == SOL_SOCKET and name in _SENTRY_OPTIONS:
            return super().getsockopt(t, level, name, length)
        _check_allowed(level, name)
        room = max(0, min(length, 4096))
        buffer = ctypes.create_string_buffer(room)
        size = ctypes.c_uint32(room)
        _host_call(_libc.getsockopt(self.host_fd, level, name, buffer, ctypes.byref(size)))
        return buffer.raw[:size.value]

    def setsockopt(self, t, level, name, option):
        if level == SOL_SOCKET and name in _SENTRY_OPTIONS:
            return super().setsockopt(t, level, name, option)
        _check_allowed(level, name)
        length = min(option.length, 4096)
        try:
            value = option.read(length)
        except SyscallError as error:
            if error.errno != errno.EFAULT:
                raise
            # Which of EINVAL (too short) and EFAULT Linux gives depends on the option: ask the
            # host with a pointer it cannot read either.
            _host_call(_libc.setsockopt(self.host_fd, level, name, ctypes.c_void_p(8), length))
            raise
        _host_call(_libc.setsockopt(self.host_fd, level, name, value, length))
        if level == SOL_SOCKET and name in TIMESTAMP_OPTIONS:
            self.timestamps = name if any(value[:4]) else 0      # the host stamps; receive asks it
        self._state_changed()
        return None

    # -- readiness and queries --------------------------------------------------------------------
    def _state_changed(self):
        """The workload itself made the socket less ready (it read, or filled the send buffer):
        the host reports no edge for that, so edge-triggered epolls are told here."""
        if len(self.wait_queue):
            self.network.notify_quietly(self.wait_queue)

    def poll_events(self):
        return host_fd_ready(self.host_fd, _POLL_ALL)

    def readiness_queue(self, t, events):
        self.network.arm(t.kernel)
        return self.wait_queue

    def prepare_to_wait(self, t):
        self.network.arm(t.kernel, waiter=True)

    def bytes_available(self):
        return self._int_ioctl(SIOCINQ)

    def bytes_unsent(self):
        """SIOCOUTQ: what the host still holds to send (TCP: not yet acknowledged), for /proc/net."""
        return self._int_ioctl(SIOCOUTQ)

    def _int_ioctl(self, request):
        value = ctypes.c_int(0)
        _host_call(_libc.ioctl(self.host_fd, request, ctypes.byref(value)))
        return value.value

    def ioctl(self, t, cmd, arg):
        if cmd in (SIOCOUTQ, SIOCATMARK, SIOCOUTQNSD):
            t.copy_out(arg, _INT.pack(self._int_ioctl(cmd)))
            return 0
        return self.network.interface_ioctl(t, self, cmd, arg)


def _control_messages(raw):
    """(level, type, data) of each control message the host wrote (IP_PKTINFO, timestamps...)."""
    messages = []
    offset = 0
    while len(raw) - offset >= _CMSGHDR.size:
        length, level, kind = _CMSGHDR.unpack_from(raw, offset)
        if length < _CMSGHDR.size or offset + length > len(raw):
            break
        messages.append((level, kind, raw[offset + _CMSGHDR.size:offset + length]))
        offset += (length + 7) & ~7
    return messages


def _host_interface_list(t, host_fd, arg):
    """SIOCGIFCONF: struct ifconf's buffer filled with the host's ifreqs (or, for a NULL buffer,
    the length they need)."""
    length, buffer_address = IFCONF.unpack(t.copy_in(arg, IFCONF.size))
    room = max(0, length) if buffer_address else 0
    buffer = ctypes.create_string_buffer(max(room, 1))
    request = ctypes.create_string_buffer(IFCONF.pack(room, ctypes.addressof(buffer) if buffer_address else 0))
    _host_call(_libc.ioctl(host_fd, SIOCGIFCONF, request))
    used, _ = IFCONF.unpack(request.raw)
    if buffer_address and used:
        t.copy_out(buffer_address, buffer.raw[:used])
    t.copy_out(arg, _INT.pack(used))
    return 0


def _check_allowed(level, name):
    if name not in _HOST_OPTIONS.get(level, ()):
        raise SyscallError(errno.ENOPROTOOPT)
