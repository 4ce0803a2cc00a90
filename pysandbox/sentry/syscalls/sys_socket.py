"""Sockets: socket(2), socketpair(2), and the calls on socket descriptors.

No address family is implemented yet, so these fail the way a kernel built without
any would: creating a socket gives EAFNOSUPPORT, and no descriptor is a socket, so the
calls on one give EBADF for a closed descriptor and ENOTSOCK for any other. Each checks
its arguments in the order Linux does (net/socket.c) up to that point.
"""
import errno
import os

from ..errors import SyscallError

AF_MAX = 46
SOCK_MAX = 11
SOCK_TYPE_MASK = 0xF
SOCK_NONBLOCK = os.O_NONBLOCK
SOCK_CLOEXEC = os.O_CLOEXEC
MSG_CMSG_COMPAT = 0x80000000              # for 32-bit callers only: EINVAL from 64-bit ones
SOCKADDR_STORAGE_SIZE = 128


def socket(t, domain, socket_type, protocol):
    """socket(2)."""
    return _create(domain, socket_type)


def socketpair(t, domain, socket_type, protocol, sv):
    """socketpair(2)."""
    return _create(domain, socket_type)


def _create(domain, socket_type):
    """__sys_socket() and __sock_create() with no family registered."""
    if socket_type & ~SOCK_TYPE_MASK & ~(SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise SyscallError(errno.EINVAL)
    if not 0 <= domain < AF_MAX:
        raise SyscallError(errno.EAFNOSUPPORT)
    if socket_type & SOCK_TYPE_MASK >= SOCK_MAX:
        raise SyscallError(errno.EINVAL)
    raise SyscallError(errno.EAFNOSUPPORT)


def _socket(t, fd):
    """The socket at `fd`: there are none yet (sockfd_lookup)."""
    t.fds.get(fd)
    raise SyscallError(errno.ENOTSOCK)


def connect(t, sockfd, addr, addrlen):
    """connect(2): the address is read before the descriptor is known to be a socket."""
    t.fds.get(sockfd)
    _copy_in_address(t, addr, addrlen)
    return _socket(t, sockfd)


def _copy_in_address(t, addr, addrlen):
    """move_addr_to_kernel()."""
    if addrlen < 0 or addrlen > SOCKADDR_STORAGE_SIZE:
        raise SyscallError(errno.EINVAL)
    return t.copy_in(addr, addrlen) if addrlen else b""


def bind(t, sockfd, addr, addrlen):
    """bind(2)."""
    return _socket(t, sockfd)


def listen(t, sockfd, backlog):
    """listen(2)."""
    return _socket(t, sockfd)


def accept(t, sockfd, addr, addrlen):
    """accept(2)."""
    return accept4(t, sockfd, addr, addrlen, 0)


def accept4(t, sockfd, addr, addrlen, flags):
    """accept4(2)."""
    if flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise SyscallError(errno.EINVAL)
    return _socket(t, sockfd)


def getsockname(t, sockfd, addr, addrlen):
    """getsockname(2)."""
    return _socket(t, sockfd)


def getpeername(t, sockfd, addr, addrlen):
    """getpeername(2)."""
    return _socket(t, sockfd)


def sendto(t, sockfd, buf, length, flags, dest_addr, addrlen):
    """sendto(2)."""
    return _socket(t, sockfd)


def recvfrom(t, sockfd, buf, length, flags, src_addr, addrlen):
    """recvfrom(2)."""
    return _socket(t, sockfd)


def sendmsg(t, sockfd, msg, flags):
    """sendmsg(2)."""
    _check_message_flags(flags)
    return _socket(t, sockfd)


def recvmsg(t, sockfd, msg, flags):
    """recvmsg(2)."""
    _check_message_flags(flags)
    return _socket(t, sockfd)


def _check_message_flags(flags):
    if flags & MSG_CMSG_COMPAT:
        raise SyscallError(errno.EINVAL)


def shutdown(t, sockfd, how):
    """shutdown(2)."""
    return _socket(t, sockfd)


def setsockopt(t, sockfd, level, optname, optval, optlen):
    """setsockopt(2)."""
    return _socket(t, sockfd)


def getsockopt(t, sockfd, level, optname, optval, optlen):
    """getsockopt(2)."""
    return _socket(t, sockfd)
