"""Sockets: socket(2), socketpair(2), and the calls on socket descriptors.

AF_UNIX sockets live inside the sentry (vfs/unix.py); AF_INET and AF_INET6 sockets belong
to the sandbox's network (vfs/inet.py: host sockets, or the sentry's loopback netstack);
AF_NETLINK gives NETLINK_ROUTE (vfs/netlink.py); AF_PACKET is EPERM; every other family gives
EAFNOSUPPORT, and a descriptor that is not a socket gives ENOTSOCK. The handlers
decode guest memory as net/socket.c and net/core/scm.c do (socket addresses, struct
msghdr, control messages), check arguments in Linux's order, and leave the rest to the
socket object.
"""
import errno
import struct
import time

from ..credentials import CAP_SETGID, CAP_SETUID, CAP_SYS_ADMIN, capable
from ..errors import SyscallError
from ..fdtable import install_pair
from ..vfs.socket import (AF_UNIX, MSG_CMSG_CLOEXEC, MSG_CMSG_COMPAT, MSG_CTRUNC, MSG_DONTWAIT,
                          MSG_WAITFORONE, SCM_CREDENTIALS, SCM_RIGHTS, SOCK_CLOEXEC, SOCK_NONBLOCK,
                          SOCK_TYPE_MASK, SOL_SOCKET, SOMAXCONN, UCRED, Control, SocketFile)
from ..vfs.inet import AF_INET, AF_INET6, AF_NETLINK, AF_PACKET, no_socketpair, packet_socket, socket_constructor
from ..vfs.netlink import new_netlink_socket
from ..vfs.unix import new_socket, new_socketpair
from .sys_read_write import MAX_RW_COUNT, MAX_WRITE_CHUNK, UIO_MAXIOV, gather_vectors, read_iovecs, scatter_vectors, total_length
from .sys_time import NSEC_PER_SEC, _copy_in_timespec_ns, _timespec_bytes

AF_MAX = 46
SOCK_MAX = 11
SOCKADDR_STORAGE_SIZE = 128
INT_MAX = 0x7FFFFFFF
OPTMEM_MAX = 131072                       # net.core.optmem_max: the largest control buffer sent
SCM_MAX_FD = 253

_FAMILIES = {
    AF_UNIX: (new_socket, new_socketpair),
    AF_INET: (socket_constructor(AF_INET), no_socketpair),
    AF_INET6: (socket_constructor(AF_INET6), no_socketpair),
    AF_NETLINK: (new_netlink_socket, no_socketpair),
    AF_PACKET: (packet_socket, packet_socket),
}

# struct msghdr: name, namelen, iov, iovlen, control, controllen, flags (56 bytes on x86_64).
_MSGHDR = struct.Struct("<Qi4xQQQQi4x")
_MSG_NAMELEN_OFFSET, _MSG_CONTROLLEN_OFFSET, _MSG_FLAGS_OFFSET = 8, 40, 48
_MMSGHDR_SIZE, _MMSG_LEN_OFFSET = 64, 56  # struct mmsghdr: a msghdr and the bytes it moved
_CMSGHDR = struct.Struct("<Qii")          # cmsg_len, cmsg_level, cmsg_type
_CMSG_ALIGN = 8
_INT = struct.Struct("<i")


def _cmsg_align(length):
    return (length + _CMSG_ALIGN - 1) & ~(_CMSG_ALIGN - 1)


# -- creating sockets ------------------------------------------------------------------------------

def socket(t, domain, socket_type, protocol):
    """socket(2)."""
    create, _ = _family(domain, socket_type)
    sock = create(t, socket_type & SOCK_TYPE_MASK, protocol, socket_type)
    return t.fds.install(sock, cloexec=bool(socket_type & SOCK_CLOEXEC))


def socketpair(t, domain, socket_type, protocol, sv):
    """socketpair(2)."""
    _, create_pair = _family(domain, socket_type)
    first, second = create_pair(t, socket_type & SOCK_TYPE_MASK, protocol, socket_type)
    install_pair(t, first, second, bool(socket_type & SOCK_CLOEXEC), sv)
    return 0


def _family(domain, socket_type):
    """The family's (socket, socketpair) constructors, after __sys_socket's and
    __sock_create's checks."""
    if socket_type & ~SOCK_TYPE_MASK & ~(SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise SyscallError(errno.EINVAL)
    if not 0 <= domain < AF_MAX:
        raise SyscallError(errno.EAFNOSUPPORT)
    if socket_type & SOCK_TYPE_MASK >= SOCK_MAX:
        raise SyscallError(errno.EINVAL)
    constructors = _FAMILIES.get(domain)
    if constructors is None:
        raise SyscallError(errno.EAFNOSUPPORT)
    return constructors


def _socket(t, fd):
    """The socket at `fd` (sockfd_lookup)."""
    file = t.fds.get(fd)
    if not isinstance(file, SocketFile):
        raise SyscallError(errno.ENOTSOCK)
    return file


# -- addresses -------------------------------------------------------------------------------------

def _copy_in_address(t, addr, addrlen):
    """move_addr_to_kernel(): the sockaddr bytes."""
    if addrlen < 0 or addrlen > SOCKADDR_STORAGE_SIZE:
        raise SyscallError(errno.EINVAL)
    return t.copy_in(addr, addrlen) if addrlen else b""


def _copy_in_destination(t, addr, addrlen):
    """sendto(2)'s optional address: None when there is none (a NULL or empty one)."""
    if not addr:
        return None
    return _copy_in_address(t, addr, addrlen) or None


def _copy_out_address(t, address, addr, addrlen):
    """move_addr_to_user(): as much of `address` as the caller's buffer takes; *addrlen gets its
    full length."""
    room = min(_INT.unpack(t.copy_in(addrlen, _INT.size))[0], len(address))
    if room < 0:
        raise SyscallError(errno.EINVAL)
    if room:
        t.copy_out(addr, address[:room])
    t.copy_out_u32(addrlen, len(address))


# -- names and connections ----------------------------------------------------------------------------

def bind(t, sockfd, addr, addrlen):
    """bind(2)."""
    sock = _socket(t, sockfd)
    sock.bind(t, _copy_in_address(t, addr, addrlen))
    return 0


def listen(t, sockfd, backlog):
    """listen(2): the backlog, taken as unsigned, is capped at somaxconn."""
    sock = _socket(t, sockfd)
    sock.listen(t, min(backlog & 0xFFFFFFFF, SOMAXCONN))
    return 0


def accept(t, sockfd, addr, addrlen):
    """accept(2)."""
    return accept4(t, sockfd, addr, addrlen, 0)


def accept4(t, sockfd, addr, addrlen, flags):
    """accept4(2): the descriptor is reserved first, so a full table is EMFILE before any wait."""
    if flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise SyscallError(errno.EINVAL)
    sock = _socket(t, sockfd)
    if len(t.fds) >= t.fds.max_fds:
        raise SyscallError(errno.EMFILE)
    connection = sock.accept(t, flags)
    fd = t.fds.install(connection, cloexec=bool(flags & SOCK_CLOEXEC))
    if addr:
        try:
            _copy_out_address(t, connection.peer_name(), addr, addrlen)
        except SyscallError:
            t.fds.close(fd)
            raise
    return fd


def connect(t, sockfd, addr, addrlen):
    """connect(2): the address is read before the descriptor is known to be a socket."""
    t.fds.get(sockfd)
    address = _copy_in_address(t, addr, addrlen)
    _socket(t, sockfd).connect(t, address)
    return 0


def getsockname(t, sockfd, addr, addrlen):
    """getsockname(2)."""
    _copy_out_address(t, _socket(t, sockfd).socket_name(), addr, addrlen)
    return 0


def getpeername(t, sockfd, addr, addrlen):
    """getpeername(2)."""
    _copy_out_address(t, _socket(t, sockfd).peer_name(), addr, addrlen)
    return 0


def shutdown(t, sockfd, how):
    """shutdown(2)."""
    _socket(t, sockfd).shutdown(how)
    return 0


# -- sending and receiving ---------------------------------------------------------------------------

def sendto(t, sockfd, buf, length, flags, dest_addr, addrlen):
    """sendto(2), and send(2)."""
    sock = _socket(t, sockfd)
    address = _copy_in_destination(t, dest_addr, addrlen)
    data = t.copy_in(buf, min(length, MAX_WRITE_CHUNK))
    return sock.send(t, data, flags | sock.default_flags(), address)


def recvfrom(t, sockfd, buf, length, flags, src_addr, addrlen):
    """recvfrom(2), and recv(2): files passed along are closed, as there is no control buffer."""
    sock = _socket(t, sockfd)
    received = sock.receive(t, min(length, MAX_RW_COUNT), flags | sock.default_flags())
    _close_all(received.files)
    t.copy_out(buf, received.data)
    if src_addr:
        _copy_out_address(t, received.address or b"", src_addr, addrlen)
    return received.length


def sendmsg(t, sockfd, msg, flags):
    """sendmsg(2)."""
    _check_message_flags(flags)
    return _send_message(t, _socket(t, sockfd), msg, flags)


def recvmsg(t, sockfd, msg, flags):
    """recvmsg(2)."""
    _check_message_flags(flags)
    return _receive_message(t, _socket(t, sockfd), msg, flags)


def sendmmsg(t, sockfd, msgvec, vlen, flags):
    """sendmmsg(2): the count of messages sent, or the error of the first. Only the first
    message may wait: one that would wait later ends the call."""
    _check_message_flags(flags)
    sock = _socket(t, sockfd)
    sent = 0
    for entry in range(msgvec, msgvec + min(vlen, UIO_MAXIOV) * _MMSGHDR_SIZE, _MMSGHDR_SIZE):
        try:
            count = _send_message(t, sock, entry, flags | (MSG_DONTWAIT if sent else 0))
            t.copy_out_u32(entry + _MMSG_LEN_OFFSET, count)
        except SyscallError:
            if not sent:
                raise
            break
        sent += 1
    return sent


def recvmmsg(t, sockfd, msgvec, vlen, flags, timeout):
    """recvmmsg(2): the count of messages received, or the error of the first. Only the first
    message may wait (as with MSG_WAITFORONE); the timeout is looked at after each message,
    as Linux does, and what is left of it is written back."""
    if timeout:
        t.syscall_state.setdefault("end", time.monotonic() + _copy_in_timespec_ns(t, timeout) / NSEC_PER_SEC)
    sock = _socket(t, sockfd)
    sock.raise_error()
    received = 0
    for entry in range(msgvec, msgvec + min(vlen, UIO_MAXIOV) * _MMSGHDR_SIZE, _MMSGHDR_SIZE):
        try:
            once_received = MSG_DONTWAIT if received else 0
            count = _receive_message(t, sock, entry, (flags & ~MSG_WAITFORONE) | once_received)
            t.copy_out_u32(entry + _MMSG_LEN_OFFSET, count)
        except SyscallError as error:
            if not received:
                raise
            if error.errno != errno.EAGAIN:
                sock.error = error.errno           # reported by the next call
            break
        received += 1
        if timeout and time.monotonic() >= t.syscall_state["end"]:
            break
    if timeout:
        left = max(0.0, t.syscall_state["end"] - time.monotonic())
        t.copy_out(timeout, _timespec_bytes(round(left * NSEC_PER_SEC)))
    return received


def _check_message_flags(flags):
    if flags & MSG_CMSG_COMPAT:                 # for 32-bit callers only
        raise SyscallError(errno.EINVAL)


def _copy_in_msghdr(t, msg):
    """struct msghdr: (name, namelen, iov, iovlen, control, controllen), with __copy_msghdr's
    checks. A NULL name has length 0; longer than sockaddr_storage is cut to it."""
    name, namelen, iov, iovlen, control, controllen, _ = _MSGHDR.unpack(t.copy_in(msg, _MSGHDR.size))
    if not name:
        namelen = 0
    if namelen < 0:
        raise SyscallError(errno.EINVAL)
    if iovlen > UIO_MAXIOV:
        raise SyscallError(errno.EMSGSIZE)
    return name, min(namelen, SOCKADDR_STORAGE_SIZE), read_iovecs(t, iov, iovlen), control, controllen


def _send_message(t, sock, msg, flags):
    name, namelen, vectors, control_address, control_length = _copy_in_msghdr(t, msg)
    address = _copy_in_address(t, name, namelen) if namelen else None
    control = _copy_in_control(t, sock, control_address, control_length)
    try:
        return sock.send(t, gather_vectors(t, vectors), flags | sock.default_flags(), address, control)
    finally:
        control.release()


def _receive_message(t, sock, msg, flags):
    name, _, vectors, control_address, control_length = _copy_in_msghdr(t, msg)
    received = sock.receive(t, total_length(vectors), flags | sock.default_flags())
    try:
        scatter_vectors(t, vectors, received.data)
    except SyscallError:
        _close_all(received.files)
        raise
    used, truncated = _copy_out_control(t, received, control_address, control_length,
                                        cloexec=bool(flags & MSG_CMSG_CLOEXEC))
    if name:
        _copy_out_address(t, received.address or b"", name, msg + _MSG_NAMELEN_OFFSET)
    out_flags = received.flags | (flags & MSG_CMSG_CLOEXEC) | (MSG_CTRUNC if truncated else 0)
    t.copy_out_u32(msg + _MSG_FLAGS_OFFSET, out_flags)
    t.copy_out_u64(msg + _MSG_CONTROLLEN_OFFSET, used)
    return received.length


# -- control messages (SCM_RIGHTS, SCM_CREDENTIALS) ----------------------------------------------------

def _copy_in_control(t, sock, address, length):
    """The control messages of a send, parsed as __scm_send does. The Control holds references
    to the files passed; the caller releases them."""
    if length > INT_MAX or length >= OPTMEM_MAX:
        raise SyscallError(errno.ENOBUFS)
    control = Control()
    if not length:
        return control
    raw = t.copy_in(address, length)
    try:
        offset = 0
        while len(raw) - offset >= _CMSGHDR.size:
            cmsg_len, level, kind = _CMSGHDR.unpack_from(raw, offset)
            if not _CMSGHDR.size <= cmsg_len <= len(raw) - offset:
                raise SyscallError(errno.EINVAL)
            if level == SOL_SOCKET:
                _add_control_message(t, sock, control, kind, raw[offset + _CMSGHDR.size:offset + cmsg_len])
            offset += _cmsg_align(cmsg_len)
    except SyscallError:
        control.release()
        raise
    return control


def _add_control_message(t, sock, control, kind, data):
    if kind == SCM_RIGHTS:
        if sock.family != AF_UNIX:
            raise SyscallError(errno.EINVAL)
        _add_passed_files(t, control, data)
    elif kind == SCM_CREDENTIALS:
        if len(data) != UCRED.size:
            raise SyscallError(errno.EINVAL)
        control.credentials = _checked_credentials(t, *struct.unpack("<iII", data))
    else:
        raise SyscallError(errno.EINVAL)


def _add_passed_files(t, control, data):
    """scm_fp_copy(): at most SCM_MAX_FD descriptors in all, each of them open."""
    count = len(data) // _INT.size
    if count <= 0:
        return
    if len(control.files) + count > SCM_MAX_FD:
        raise SyscallError(errno.EINVAL)
    for fd in struct.unpack(f"<{count}i", data[:count * _INT.size]):
        if fd < 0:
            raise SyscallError(errno.EBADF)
        control.files.append(t.fds.get(fd).incref())


def _checked_credentials(t, pid, uid, gid):
    """scm_check_creds(): a sender may claim only its own pid and ids, unless it has
    CAP_SYS_ADMIN (pid), CAP_SETUID (uid) or CAP_SETGID (gid); the pid must exist."""
    creds = t.creds
    if uid == 0xFFFFFFFF or gid == 0xFFFFFFFF:
        raise SyscallError(errno.EINVAL)
    if not ((pid == t.tg.tgid or capable(t, CAP_SYS_ADMIN))
            and (uid in (creds.uid, creds.euid, creds.suid) or capable(t, CAP_SETUID))
            and (gid in (creds.gid, creds.egid, creds.sgid) or capable(t, CAP_SETGID))):
        raise SyscallError(errno.EPERM)
    if pid not in t.kernel.tasks and pid not in t.kernel.thread_groups:
        raise SyscallError(errno.ESRCH)
    return pid, uid, gid


def _copy_out_control(t, received, address, capacity, cloexec):
    """scm_recv(): SCM_CREDENTIALS (with SO_PASSCRED), then SCM_RIGHTS with the files installed
    as new descriptors. Returns (bytes used, whether something did not fit: MSG_CTRUNC)."""
    files, received.files = received.files, []
    if not address:
        _close_all(files)
        return 0, received.credentials is not None or bool(files) or bool(received.messages)
    writer = _ControlWriter(t, address, capacity)
    for level, kind, data in received.messages:
        writer.put(kind, data, level)
    if received.credentials is not None:
        try:
            writer.put(SCM_CREDENTIALS, UCRED.pack(*received.credentials))
        except SyscallError:
            _close_all(files)
            raise
    if files:
        writer.put_files(files, cloexec)
    return writer.used, writer.truncated


class _ControlWriter:
    """Control messages written into the caller's msg_control, as put_cmsg and scm_detach_fds do."""

    def __init__(self, t, address, capacity):
        self.t = t
        self.address = address
        self.capacity = capacity
        self.used = 0
        self.truncated = False

    @property
    def room(self):
        return self.capacity - self.used

    def put(self, kind, data, level=SOL_SOCKET):
        """put_cmsg(): a message cut to the room left is still written, with MSG_CTRUNC."""
        if self.room < _CMSGHDR.size:
            self.truncated = True
            return
        length = _CMSGHDR.size + len(data)
        if self.room < length:
            self.truncated = True
            length = self.room
        self.t.copy_out(self.address + self.used,
                        (_CMSGHDR.pack(length, level, kind) + data)[:length])
        self.used += min(_cmsg_align(_CMSGHDR.size + len(data)), self.room)

    def put_files(self, files, cloexec):
        """scm_detach_fds(): as many descriptors as fit; the files left over are closed."""
        fits = max(0, (self.room - _CMSGHDR.size) // _INT.size)
        fds = []
        for index, file in enumerate(files):
            if index >= fits:
                file.decref()
                continue
            try:
                fds.append(self.t.fds.install(file, cloexec))
            except SyscallError:               # EMFILE: install dropped this file's reference
                fits = index
        if len(fds) < len(files):
            self.truncated = True
        if not fds:
            return
        data = struct.pack(f"<{len(fds)}i", *fds)
        try:
            self.t.copy_out(self.address + self.used, _CMSGHDR.pack(_CMSGHDR.size + len(data), SOL_SOCKET,
                                                                    SCM_RIGHTS) + data)
        except SyscallError:
            for fd in fds:
                self.t.fds.close(fd)
            raise
        self.used += min(_cmsg_align(_CMSGHDR.size + len(data)), self.room)


def _close_all(files):
    for file in files:
        file.decref()


# -- options ------------------------------------------------------------------------------------------

class _OptionValue:
    """setsockopt(2)'s optval, read as the option needs it: EINVAL when optlen is too short for
    what it needs, EFAULT when it cannot be read."""

    def __init__(self, t, address, length):
        self.t = t
        self.address = address
        self.length = length

    def read(self, size):
        if self.length < size:
            raise SyscallError(errno.EINVAL)
        return self.t.copy_in(self.address, size)

    def integer(self):
        return _INT.unpack(self.read(_INT.size))[0]


def setsockopt(t, sockfd, level, optname, optval, optlen):
    """setsockopt(2)."""
    sock = _socket(t, sockfd)
    if optlen < 0:
        raise SyscallError(errno.EINVAL)
    sock.setsockopt(t, level, optname, _OptionValue(t, optval, optlen))
    return 0


def getsockopt(t, sockfd, level, optname, optval, optlen):
    """getsockopt(2): at most *optlen bytes of the value; *optlen gets how many."""
    sock = _socket(t, sockfd)
    length = _INT.unpack(t.copy_in(optlen, _INT.size))[0]
    if length < 0:
        raise SyscallError(errno.EINVAL)
    value = sock.getsockopt(t, level, optname, length)[:length]
    if value:
        t.copy_out(optval, value)
    t.copy_out_u32(optlen, len(value))
    return 0
