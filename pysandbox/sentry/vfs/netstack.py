"""The loopback network of `--network=none`: TCP and UDP between the sandbox's own tasks.

Only `lo` exists, with 127.0.0.1/8 and ::1/128. Sockets bind to ports in the sentry's port
table (LoopbackNetwork.ports), never on the host, so nothing of theirs shows in the host's
`ss`.

* TCP is a byte stream between two sentry sockets. It reuses AF_UNIX's stream machinery
  (unix.py: segments charged to the sender's SO_SNDBUF, shutdown and half-close, a peer that
  closes with unread data resetting the connection), with inet names: ports, listeners found
  by (address, port), ephemeral ports from 32768-60999 (ip_local_port_range), SO_REUSEADDR
  and SO_REUSEPORT as Linux checks them at bind(2). Connecting to a port without a listener
  is ECONNREFUSED; a non-blocking connect is EINPROGRESS, then SO_ERROR, as on Linux.
* UDP keeps datagrams with their sender's address in the receiver's queue, up to its
  SO_RCVBUF; past that they are dropped, as UDP drops them. A datagram for a port nobody has
  bound is lost, and a connected sender learns ECONNREFUSED on its next call (Linux's ICMP
  port unreachable).
* An AF_INET6 socket is dual-stack unless IPV6_V6ONLY is set: it reaches and accepts IPv4
  peers, which it sees as ::ffff:a.b.c.d.
"""
import collections
import errno
import ipaddress
import os
import struct
import time

from ..errors import SyscallError
from .file import POLLERR, POLLIN, POLLOUT, POLLRDNORM, POLLWRBAND, POLLWRNORM
from .inet import AF_INET, AF_INET6, IPPROTO_IP, IPPROTO_TCP, IPPROTO_UDP
from .socket import (AF_UNSPEC, MSG_OOB, MSG_PEEK, NO_CONTROL, RCV_SHUTDOWN, SEND_SHUTDOWN,
                     SO_REUSEADDR, SO_REUSEPORT, SOL_SOCKET, SOCK_DGRAM, SOCK_STREAM, Received, SocketFile,
                     check_bind_port)
from .unix import CLOSE, ESTABLISHED, LISTEN, SIOCOUTQ, UnixSocket

IPPROTO_IPV6 = 41
IPV6_V6ONLY = 26
EPHEMERAL_PORTS = range(32768, 61000)
LOOPBACK_V4 = ipaddress.IPv4Address("127.0.0.1")
LOOPBACK_V6 = ipaddress.IPv6Address("::1")
ANY_V4 = ipaddress.IPv4Address("0.0.0.0")
ANY_V6 = ipaddress.IPv6Address("::")
LOOPBACK_NET_V4 = ipaddress.IPv4Network("127.0.0.0/8")
SOCKADDR_IN = struct.Struct("!HH4s8x")            # family is little-endian: packed apart
SOCKADDR_IN6 = struct.Struct("!HHI16sI")
SOCKADDR_IN_SIZE, SOCKADDR_IN6_SIZE = 16, 28
SIN6_LEN_RFC2133 = 24
UDP_MAX_PAYLOAD = {AF_INET: 65507, AF_INET6: 65527}
_INT = struct.Struct("<i")

# Options kept per socket and reported back: level -> {option: default}.
_TCP_OPTIONS = {1: 0, 2: 536, 3: 0, 4: 7200, 5: 75, 6: 9, 7: 6, 8: 60, 9: 0, 10: 0, 12: 1, 18: 0, 23: 0,
                25: 0}
_IP_OPTIONS = {1: 0, 2: 64, 6: 0, 7: 0, 8: 0, 10: 1, 11: 0, 12: 0, 13: 0, 15: 0, 20: 0, 24: 0, 32: 0,
               33: 1, 34: 1, 49: 1}
_IPV6_OPTIONS = {16: 64, 18: 1, 19: 1, 23: 0, 25: 0, 26: 0, 49: 0, 51: 0, 66: 0, 67: 0, 74: 0}
TCP_CONGESTION, TCP_INFO = 13, 11
TCP_INFO_SIZE = 232
TCP_ESTABLISHED, TCP_CLOSE, TCP_LISTEN = 1, 7, 10


class LoopbackNetwork:
    """The sandbox's private network: `lo` and a port table per protocol."""

    mode = "none"

    def __init__(self):
        self.ports = {IPPROTO_TCP: collections.defaultdict(list), IPPROTO_UDP: collections.defaultdict(list)}
        self.icmp = None                  # icmp.IcmpStack, made with the first ICMP socket

    def new_socket(self, t, family, socket_type, protocol, flags):
        if socket_type == SOCK_STREAM:
            return LoopbackStream(self, family, flags, t.creds)
        if protocol not in (IPPROTO_TCP, IPPROTO_UDP):
            from .icmp import new_icmp_socket
            return new_icmp_socket(t, self, family, socket_type, protocol, flags)
        return LoopbackDatagram(self, family, flags, t.creds)

    def close(self):
        pass

    @staticmethod
    def interface_ioctl(t, sock, cmd, arg):
        from .interfaces import loopback_ioctl
        return loopback_ioctl(t, cmd, arg)

    # -- the port table -----------------------------------------------------------------------
    def bind(self, sock, address, port):
        """Give `sock` (address, port); port 0 picks a free ephemeral port."""
        table = self.ports[sock.protocol]
        if port:
            for other in table[port]:
                if other is not sock and _conflict(sock, address, other):
                    raise SyscallError(errno.EADDRINUSE)
        else:
            port = self._free_port(sock, address, table)
        sock.local = (address, port)
        table[port].append(sock)

    def _free_port(self, sock, address, table):
        span = len(EPHEMERAL_PORTS)
        start = int.from_bytes(os.urandom(4), "little") % span
        for step in range(span):
            port = EPHEMERAL_PORTS[(start + step) % span]
            if not any(_conflict(sock, address, other) for other in table[port]):
                return port
        raise SyscallError(errno.EADDRINUSE if sock.protocol == IPPROTO_UDP else errno.EADDRNOTAVAIL)

    def unbind(self, sock):
        if sock.local is None:
            return
        bound = self.ports[sock.protocol].get(sock.local[1], [])
        if sock in bound:
            bound.remove(sock)
        if not bound:
            self.ports[sock.protocol].pop(sock.local[1], None)

    def receivers(self, protocol, address, port):
        """The sockets bound to `port` that take packets for `address`, exact binds first."""
        bound = self.ports[protocol].get(port, ())
        exact = [sock for sock in bound if sock.local[0] == address]
        wild = [sock for sock in bound if sock.local[0] != address and _accepts(sock, address)]
        return exact + wild


# -- addresses ---------------------------------------------------------------------------------
def _plain(address):
    """An IPv4-mapped IPv6 address as the IPv4 address it stands for."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_wildcard(address):
    return address in (ANY_V4, ANY_V6)


def _accepts(sock, address):
    """Whether a socket bound to a wildcard takes packets for `address` (of either version)."""
    bound = sock.local[0]
    if bound == ANY_V4:
        return address.version == 4
    if bound == ANY_V6:
        return address.version == 6 or not sock.v6only
    return False


def _covers(sock, address):
    """Whether `sock`'s bound address overlaps `address` (one of them a wildcard, or equal)."""
    bound = sock.local[0]
    if bound == address:
        return True
    if _is_wildcard(bound) and _accepts(sock, address):
        return True
    return False


def _conflict(sock, address, other):
    """inet_csk_bind_conflict(): whether `sock` may not share `other`'s port at `address`."""
    if other.local is None:
        return False
    overlap = _covers(other, address) or (_is_wildcard(address) and _accepts(_Probe(address, sock.v6only),
                                                                             other.local[0]))
    if not overlap:
        return False
    if sock.reuse_port and other.reuse_port:
        return False
    if sock.switches[SO_REUSEADDR] and other.switches[SO_REUSEADDR]:
        return other.listening
    return True


class _Probe:
    """A would-be binding, to ask _accepts about it."""

    def __init__(self, address, v6only):
        self.local = (address, 0)
        self.v6only = v6only


def parse_address(family, raw, for_bind):
    """(address, port) from the caller's sockaddr bytes, with inet_bind's and inet_connect's
    checks: EINVAL for a short one, EAFNOSUPPORT for another family."""
    if family == AF_INET:
        if len(raw) < SOCKADDR_IN_SIZE:
            raise SyscallError(errno.EINVAL)
        sa_family = struct.unpack_from("<H", raw)[0]
        _, port, packed = SOCKADDR_IN.unpack_from(raw)
        address = ipaddress.IPv4Address(packed)
        if sa_family != AF_INET and not (for_bind and sa_family == AF_UNSPEC and address == ANY_V4):
            raise SyscallError(errno.EAFNOSUPPORT)
        return address, port
    if len(raw) < SIN6_LEN_RFC2133:
        raise SyscallError(errno.EINVAL)
    if struct.unpack_from("<H", raw)[0] != AF_INET6:
        raise SyscallError(errno.EAFNOSUPPORT if for_bind else errno.EINVAL)
    _, port, _, packed, _ = SOCKADDR_IN6.unpack_from(raw.ljust(SOCKADDR_IN6_SIZE, b"\0"))
    return ipaddress.IPv6Address(packed), port


def format_address(family, address, port):
    """The sockaddr bytes for (address, port) as a socket of `family` reports it."""
    if family == AF_INET:
        return struct.pack("<H", AF_INET) + SOCKADDR_IN.pack(0, port, address.packed)[2:]
    if address.version == 4:
        address = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + address.packed)
    return struct.pack("<H", AF_INET6) + SOCKADDR_IN6.pack(0, port, 0, address.packed, 0)[2:]


class _InetNames:
    """What TCP and UDP sockets share: their names, ports and IP-level options."""

    def _init_inet(self, network, family, protocol):
        self.network = network
        self.family = family
        self.protocol = protocol
        self.local = None                 # (address, port) once bound
        self.remote = None                # (address, port) once connected
        self.reuse_port = 0
        self.options = {IPPROTO_IP: dict(_IP_OPTIONS), IPPROTO_IPV6: dict(_IPV6_OPTIONS)}
        if protocol == IPPROTO_TCP:
            self.options[IPPROTO_TCP] = dict(_TCP_OPTIONS)

    @property
    def v6only(self):
        return self.family == AF_INET6 and bool(self.options[IPPROTO_IPV6][IPV6_V6ONLY])

    def _local_address(self, raw):
        """bind(2)'s address: a loopback or wildcard one of this socket's family."""
        address, port = parse_address(self.family, raw, for_bind=True)
        plain = _plain(address)
        if self.v6only and plain.version == 4:
            raise SyscallError(errno.EINVAL)             # a v4-mapped address on an IPv6-only socket
        if not (_is_wildcard(plain) or plain == LOOPBACK_V6 or plain in LOOPBACK_NET_V4):
            raise SyscallError(errno.EADDRNOTAVAIL)
        return (address if _is_wildcard(address) else plain), port

    def _destination(self, raw):
        """connect(2)'s and sendto(2)'s address; the wildcard means this host (loopback)."""
        address, port = parse_address(self.family, raw, for_bind=False)
        plain = _plain(address)
        if plain == ANY_V4:
            plain = LOOPBACK_V4
        elif plain == ANY_V6:
            plain = LOOPBACK_V6
        if self.v6only and plain.version == 4:
            raise SyscallError(errno.ENETUNREACH)
        if not (plain == LOOPBACK_V6 or plain in LOOPBACK_NET_V4):
            raise SyscallError(errno.ENETUNREACH)    # only `lo` exists: no route elsewhere
        return plain, port

    def bind(self, t, raw):
        address, port = self._local_address(raw)
        check_bind_port(t, port)
        if self.local is not None:
            raise SyscallError(errno.EINVAL)
        self.network.bind(self, address, port)

    def autobind_for(self, destination):
        """Before a connect or a send: an ephemeral port, and a source address for `destination`."""
        if self.local is None:
            self.network.bind(self, ANY_V6 if self.family == AF_INET6 else ANY_V4, 0)
        if destination is not None and _is_wildcard(self.local[0]):
            self._source = destination if destination.version == 4 else LOOPBACK_V6
        return self.source_address()

    def source_address(self):
        address, port = self.local
        return (getattr(self, "_source", address) if _is_wildcard(address) else address), port

    def socket_name(self):
        if self.local is None:
            return format_address(self.family, ANY_V6 if self.family == AF_INET6 else ANY_V4, 0)
        return format_address(self.family, *self.source_address())

    def peer_name(self):
        if self.remote is None:
            raise SyscallError(errno.ENOTCONN)
        return format_address(self.family, *self.remote)

    # -- options ---------------------------------------------------------------------------
    def getsockopt(self, t, level, name, length):
        if level == SOL_SOCKET and name == SO_REUSEPORT:
            return _INT.pack(self.reuse_port)
        if level == SOL_SOCKET:
            return SocketFile.getsockopt(self, t, level, name, length)
        if level == IPPROTO_TCP and self.protocol == IPPROTO_TCP and name == TCP_CONGESTION:
            return b"cubic".ljust(16, b"\0")
        if level == IPPROTO_TCP and self.protocol == IPPROTO_TCP and name == TCP_INFO:
            state = {ESTABLISHED: TCP_ESTABLISHED, LISTEN: TCP_LISTEN}.get(getattr(self, "state", None), TCP_CLOSE)
            return bytes([state]).ljust(TCP_INFO_SIZE, b"\0")
        values = self._option_table(level)
        if name not in values:
            raise SyscallError(errno.ENOPROTOOPT)
        return _INT.pack(values[name])

    def setsockopt(self, t, level, name, option):
        if level == SOL_SOCKET:
            if name == SO_REUSEPORT:
                self.reuse_port = int(bool(option.integer()))
                return
            SocketFile.setsockopt(self, t, level, name, option)
            return
        values = self._option_table(level)
        if name not in values:
            raise SyscallError(errno.ENOPROTOOPT)
        value = option.integer()
        if level == IPPROTO_IPV6 and name == IPV6_V6ONLY and self.local is not None:
            raise SyscallError(errno.EINVAL)
        values[name] = int(bool(value)) if level == IPPROTO_IPV6 and name == IPV6_V6ONLY else value

    def _option_table(self, level):
        if level == IPPROTO_IPV6 and self.family != AF_INET6:
            raise SyscallError(errno.ENOPROTOOPT)
        table = self.options.get(level)
        if table is None:
            raise SyscallError(errno.ENOPROTOOPT)
        return table


class LoopbackStream(_InetNames, UnixSocket):
    """A TCP socket of the loopback network."""

    def __init__(self, network, family, flags, creds, accepted=True):
        UnixSocket.__init__(self, SOCK_STREAM, flags, creds, accepted)
        self._init_inet(network, family, IPPROTO_TCP)
        self.protocol = IPPROTO_TCP
        self.backlog = 0
        self.connect_pending = False

    def listen(self, t, backlog):
        if self.state not in (CLOSE, LISTEN) or self.peer is not None:
            raise SyscallError(errno.EINVAL)
        if self.local is None:
            self.autobind_for(None)
        elif self.state != LISTEN and any(other is not self and other.listening
                                          and _conflict(self, self.local[0], other)
                                          for other in self.network.ports[IPPROTO_TCP][self.local[1]]):
            raise SyscallError(errno.EADDRINUSE)     # inet_csk_listen_start checks the port again
        if backlog > self.backlog:
            self.connectors.notify()
        self.backlog = backlog
        self.state = LISTEN

    def connect(self, t, raw):
        if len(raw) >= 2 and struct.unpack_from("<H", raw)[0] == AF_UNSPEC:
            if self.state == CLOSE:
                return                               # nothing to disconnect
            raise SyscallError(errno.EINVAL)
        if self.connect_pending:                     # a non-blocking connect finished: report it once
            self.connect_pending = False
            self.raise_error()
            if self.state == ESTABLISHED:
                return
        if self.state == ESTABLISHED:
            raise SyscallError(errno.EISCONN)
        if self.state == LISTEN:
            raise SyscallError(errno.EINVAL)
        destination, port = self._destination(raw)
        listener = next((sock for sock in self.network.receivers(IPPROTO_TCP, destination, port)
                         if sock.state == LISTEN and not sock.shutdown_mask), None)
        source = self.autobind_for(destination)
        if listener is None:
            if self.nonblocking:
                self.error = errno.ECONNREFUSED
                self.connect_pending = True
                self.wait_queue.notify()
                raise SyscallError(errno.EINPROGRESS)
            raise SyscallError(errno.ECONNREFUSED)
        if listener.queue_full and not self.nonblocking:
            self.wait(t, self.timeout(0, self.send_timeout), listener.connectors)
        server_end = LoopbackStream(self.network, listener.family, 0, t.creds, accepted=False)
        server_end.local = (destination, port)
        server_end.remote = source
        server_end.options[IPPROTO_TCP] = dict(listener.options[IPPROTO_TCP])
        server_end.state = self.state = ESTABLISHED
        server_end.peer, self.peer = self, server_end
        self.remote = (destination, port)
        listener.receive_queue.append(server_end)
        listener.wait_queue.notify()
        self.wait_queue.notify()
        if self.nonblocking:
            self.connect_pending = True
            raise SyscallError(errno.EINPROGRESS)

    def send(self, t, data, flags, address=None, control=NO_CONTROL):
        if self.state != ESTABLISHED:
            self.raise_error()
            UnixSocket._broken_pipe(t, flags)
        return UnixSocket.send(self, t, data, flags, None, control)

    def receive(self, t, size, flags):
        if self.state != ESTABLISHED:
            self.raise_error()
            raise SyscallError(errno.ENOTCONN)
        received = UnixSocket.receive(self, t, size, flags)
        received.address = None
        if not flags & MSG_PEEK and len(self.wait_queue):
            self.wait_queue.notify()                 # edge-triggered epolls see the queue shrink
        return received

    def shutdown(self, how):
        if not 0 <= how <= 2:
            raise SyscallError(errno.EINVAL)
        if self.state == CLOSE:
            raise SyscallError(errno.ENOTCONN)
        UnixSocket.shutdown(self, how)

    def _credentials_for(self, t, receiver, control):
        return None

    def peer_credentials(self):
        return None

    def _close(self, embryo):
        """A close with nothing unread is a FIN: the peer sees the end of the stream but may still
        send (CLOSE_WAIT, no POLLHUP); one with unread data resets the connection."""
        peer = self.peer
        peer_shutdown = peer.shutdown_mask if peer is not None else 0
        UnixSocket._close(self, embryo)
        if peer is not None and not peer.error:
            peer.shutdown_mask = peer_shutdown | RCV_SHUTDOWN
        self.network.unbind(self)

    def ioctl(self, t, cmd, arg):
        if cmd in _INTERFACE_IOCTLS:
            return self.network.interface_ioctl(t, self, cmd, arg)
        return UnixSocket.ioctl(self, t, cmd, arg)


class LoopbackDatagram(_InetNames, SocketFile):
    """A UDP socket of the loopback network."""

    def __init__(self, network, family, flags, creds):
        SocketFile.__init__(self, SOCK_DGRAM, IPPROTO_UDP, flags, creds)
        self._init_inet(network, family, IPPROTO_UDP)
        self.queue = collections.deque()            # (data, sender (address, port), arrival: time.time_ns())
        self.queued_bytes = 0

    @property
    def listening(self):
        return False

    def connect(self, t, raw):
        if len(raw) >= 2 and struct.unpack_from("<H", raw)[0] == AF_UNSPEC:
            self.remote = None
            return
        destination = self._destination(raw)
        self.autobind_for(destination[0])
        self.remote = destination

    def shutdown(self, how):
        if not 0 <= how <= 2:
            raise SyscallError(errno.EINVAL)
        if self.remote is None:
            raise SyscallError(errno.ENOTCONN)
        self.shutdown_mask |= how + 1
        self.wait_queue.notify()

    def send(self, t, data, flags, address=None, control=NO_CONTROL):
        if flags & MSG_OOB:
            raise SyscallError(errno.EOPNOTSUPP)
        destination = self._destination(address) if address is not None else self.remote
        if destination is None:
            raise SyscallError(errno.EDESTADDRREQ)
        self.raise_error()
        if self.shutdown_mask & SEND_SHUTDOWN:
            UnixSocket._broken_pipe(t, flags)
        if len(data) > UDP_MAX_PAYLOAD[self.family if destination[0].version == 6 else AF_INET]:
            raise SyscallError(errno.EMSGSIZE)
        source = self.autobind_for(destination[0])
        receiver = next((sock for sock in self.network.receivers(IPPROTO_UDP, *destination)
                         if sock.remote is None or sock.remote == source), None)
        if receiver is None:
            if self.remote is not None:
                self.error = errno.ECONNREFUSED     # the ICMP port-unreachable of a connected socket
            return len(data)
        receiver.deliver(data, source)
        return len(data)

    def deliver(self, data, source):
        if self.queued_bytes + len(data) > self.receive_buffer or self.shutdown_mask & RCV_SHUTDOWN:
            return                                   # a full receiver drops the datagram
        self.queue.append((data, source, time.time_ns()))
        self.queued_bytes += len(data)
        self.wait_queue.notify()

    def receive(self, t, size, flags):
        if flags & MSG_OOB:
            raise SyscallError(errno.EOPNOTSUPP)
        timeout = self.timeout(flags, self.receive_timeout)
        self.raise_error()
        if not self.queue:
            if self.shutdown_mask & RCV_SHUTDOWN:
                return Received(b"")
            self.wait(t, timeout, self.wait_queue)
        data, source, arrival = self.queue[0]
        if not flags & MSG_PEEK:
            self.queue.popleft()
            self.queued_bytes -= len(data)
        received = Received.datagram(data, size, flags, format_address(self.family, *source))
        self.add_timestamp(received, arrival)
        return received

    def poll_events(self):
        events = POLLOUT | POLLWRNORM | POLLWRBAND
        if self.queue or self.shutdown_mask & RCV_SHUTDOWN:
            events |= POLLIN | POLLRDNORM
        if self.error:
            events |= POLLERR
        return events

    def bytes_available(self):
        return len(self.queue[0][0]) if self.queue else 0

    def release(self):
        self.network.unbind(self)
        self.queue.clear()

    def ioctl(self, t, cmd, arg):
        if cmd in _INTERFACE_IOCTLS:
            return self.network.interface_ioctl(t, self, cmd, arg)
        if cmd == SIOCOUTQ:                          # nothing waits to be sent
            t.copy_out(arg, _INT.pack(0))
            return 0
        return SocketFile.ioctl(self, t, cmd, arg)


_INTERFACE_IOCTLS = frozenset(range(0x8910, 0x8950))
