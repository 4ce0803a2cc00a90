"""ICMP sockets of the loopback network (`--network=none`): ping sockets and raw ICMP sockets.

* A ping socket (socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), or AF_INET6 with IPPROTO_ICMPV6,
  icmp(7)) may be made by a task whose egid or a supplementary group lies in
  net.ipv4.ping_group_range (EACCES otherwise, root included). It sends echo requests only
  (EINVAL for any other type or a code other than 0); the stack sets the identifier to the
  socket's "port" (its echo id, bound or picked at the first send, shared by both families as
  Linux shares its ping table) and fills in the checksum. recvfrom gets the echo reply without
  IP header, from the pinged address, port 0.
* A raw ICMP socket (SOCK_RAW with IPPROTO_ICMP or IPPROTO_ICMPV6, raw(7)) needs CAP_NET_RAW
  (EPERM). Its messages are sent as given (ICMPv4: the caller's checksum; ICMPv6: the stack
  writes it at IPV6_CHECKSUM's offset, 2 unless changed). It receives a copy of every ICMP
  message `lo` carries for its family - on loopback, its own requests too - with the IPv4
  header for AF_INET and without a header for AF_INET6, filtered by ICMP_FILTER or
  ICMP6_FILTER. IP_HDRINCL is supported: the message then starts with the caller's IPv4
  header, whose checksum, total length and (when 0) id and source the stack fills in.
* The stack answers echo requests to 127.0.0.0/8 and ::1 (from the address pinged, with the
  request's id, sequence and data, hop limit 64); every other destination is ENETUNREACH, as
  in a network namespace with only `lo` up.
"""
import collections
import errno
import ipaddress
import itertools
import os
import struct

from ..errors import SyscallError
from .inet import AF_INET, AF_INET6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_IP
from .netstack import (ANY_V4, ANY_V6, IPPROTO_IPV6, IPV6_V6ONLY, LOOPBACK_V4, LOOPBACK_V6, LoopbackDatagram,
                       SIN6_LEN_RFC2133, format_address, parse_address)
from .socket import AF_UNSPEC, MSG_OOB, SO_REUSEADDR, SOCK_DGRAM, SOCK_RAW

SOL_RAW = 255
ICMP_FILTER = 1                      # SOL_RAW, IPv4 raw ICMP sockets
ICMP6_FILTER = 1                     # IPPROTO_ICMPV6, IPv6 raw ICMPv6 sockets
IP_HDRINCL = 3
IPV6_CHECKSUM = 7
IPV6_2292HOPLIMIT, IPV6_RECVHOPLIMIT, IPV6_HOPLIMIT = 8, 51, 52
IP_TTL, IP_RECVTTL = 2, 12
ICMP_ECHOREPLY, ICMP_ECHO = 0, 8
ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY = 128, 129
ECHO_TYPES = {AF_INET: (ICMP_ECHO, ICMP_ECHOREPLY), AF_INET6: (ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY)}
ICMP_HEADER = struct.Struct("!BBHHH")            # type, code, checksum, id, sequence
IPV4_HEADER = struct.Struct("!BBHHHBBH4s4s")
IPV4_HEADER_SIZE = 20
IP_DF = 0x4000
DEFAULT_TTL = 64
MAX_MESSAGE = 0xFFFF
ECHO_IDS = range(1, 0x10000)
ICMP6_FILTER_SIZE = 32
_INT = struct.Struct("<i")


def checksum(data):
    """The Internet checksum (RFC 1071) of `data`."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmpv6_checksum(source, destination, message):
    pseudo_header = source.packed + destination.packed + struct.pack("!I3xB", len(message), IPPROTO_ICMPV6)
    return checksum(pseudo_header + message)


def with_checksum(message, value, offset=2):
    return message[:offset] + struct.pack("!H", value) + message[offset + 2:]


def new_icmp_socket(t, network, family, socket_type, protocol, flags):
    stack = IcmpStack.of(network)
    if socket_type == SOCK_RAW:
        return RawIcmpSocket(stack, family, protocol, flags, t.creds)
    return PingSocket(stack, family, protocol, flags, t.creds)


class IcmpStack:
    """ICMP on `lo`: the echo responder, the ping sockets' id table and the raw ICMP sockets."""

    def __init__(self, network):
        self.network = network
        self.echo_ids = network.ports.setdefault(IPPROTO_ICMP, collections.defaultdict(list))
        network.ports[IPPROTO_ICMPV6] = self.echo_ids       # one table for both families
        self.raw_sockets = []
        self.ip_ids = itertools.count(int.from_bytes(os.urandom(2), "little"))

    @classmethod
    def of(cls, network):
        stack = network.icmp
        if stack is None:
            stack = network.icmp = cls(network)
        return stack

    # -- echo ids --------------------------------------------------------------------------
    def bind(self, sock, address, echo_id):
        """ping_get_port(): ids conflict whatever the addresses, unless both sockets set
        SO_REUSEADDR; 0 picks a free one."""
        if echo_id:
            if any(other is not sock and not (sock.reuse and other.reuse) for other in self.echo_ids[echo_id]):
                raise SyscallError(errno.EADDRINUSE)
        else:
            echo_id = self._free_id(sock)
        sock.local = (address, echo_id)
        self.echo_ids[echo_id].append(sock)

    def _free_id(self, sock):
        start = int.from_bytes(os.urandom(2), "little")
        for step in range(len(ECHO_IDS)):
            echo_id = ECHO_IDS[(start + step) % len(ECHO_IDS)]
            if not any(not (sock.reuse and other.reuse) for other in self.echo_ids[echo_id]):
                return echo_id
        raise SyscallError(errno.EAGAIN)

    # -- packets ----------------------------------------------------------------------------
    def transmit(self, source, destination, message, ip_header=None):
        """One ICMP message through `lo`: raw sockets get their copies, then ICMP takes it.
        `ip_header`: an IPv4 header made by the sender (IP_HDRINCL), else the stack makes one."""
        if destination.version == 4:
            if ip_header is None:
                ip_header = self.ipv4_header(source, destination, len(message), IP_DF)
            packet = ip_header + message
        else:
            packet = message
        for sock in list(self.raw_sockets):
            if sock.takes(source, destination, message):
                sock.deliver(packet, (source, 0))
        self._receive(source, destination, message)

    def ipv4_header(self, source, destination, length, fragment=0):
        header = IPV4_HEADER.pack(0x45, 0, IPV4_HEADER_SIZE + length, next(self.ip_ids) & 0xFFFF, fragment,
                                  DEFAULT_TTL, IPPROTO_ICMP, 0, source.packed, destination.packed)
        return with_checksum(header, checksum(header), 10)

    def _receive(self, source, destination, message):
        """icmp_rcv()/icmpv6_rcv(): drop a short or damaged message, answer an echo request,
        give an echo reply to the ping socket whose id it carries."""
        if len(message) < ICMP_HEADER.size:
            return
        family = AF_INET if destination.version == 4 else AF_INET6
        if destination.version == 4:
            damaged = checksum(message) != 0
        else:
            damaged = icmpv6_checksum(source, destination, message) != 0
        if damaged:
            return
        kind, code, _, echo_id, _ = ICMP_HEADER.unpack_from(message)
        request, reply = ECHO_TYPES[family]
        if kind == request:
            answer = bytes([reply]) + message[1:2] + b"\0\0" + message[4:]
            if family == AF_INET:
                answer = with_checksum(answer, checksum(answer))
            else:
                answer = with_checksum(answer, icmpv6_checksum(destination, source, answer))
            self.transmit(destination, source, answer)
        elif kind == reply:
            for sock in reversed(self.echo_ids.get(echo_id, ())):       # the newest first, as ping_lookup
                if sock.family == family and sock.takes_reply(destination):
                    sock.deliver(message, (source, 0))
                    break


class _IcmpSocket(LoopbackDatagram):
    """What ping and raw ICMP sockets share: a datagram queue, names, the route and the IP options."""

    def __init__(self, stack, family, socket_type, protocol, flags, creds):
        LoopbackDatagram.__init__(self, stack.network, family, flags, creds)
        self.stack = stack
        self.type = socket_type
        self.protocol = protocol
        self.options[IPPROTO_IPV6][IPV6_2292HOPLIMIT] = 0
        self.switches[SO_REUSEADDR] = 1            # INET_PROTOSW_REUSE: ids and raw sockets are shared

    @property
    def reuse(self):
        return bool(self.switches[SO_REUSEADDR])

    def name_address(self):
        """The local address getsockname(2) and /proc/net report: the bound one, else once
        connected the route's source (ip4_datagram_connect sets inet_rcv_saddr), else the wildcard."""
        if self.local is not None and self.local[0] not in (ANY_V4, ANY_V6):
            return self.local[0]
        if self.remote is not None:
            return self._source_for(self.remote[0])
        return ANY_V6 if self.family == AF_INET6 else ANY_V4

    def _destination(self, raw):
        """ip4_datagram_connect's and the sendmsg's checks, then the route (ENETUNREACH)."""
        if self.family == AF_INET6 and len(raw) >= SIN6_LEN_RFC2133 and struct.unpack_from("<H", raw)[0] != AF_INET6:
            raise SyscallError(errno.EAFNOSUPPORT)           # ip6_datagram_connect's, not TCP's EINVAL
        address, _ = parse_address(self.family, raw, for_bind=False)
        if self.family == AF_INET6 and address.ipv4_mapped is not None:
            raise SyscallError(errno.EINVAL if self.type != SOCK_RAW else errno.ENETUNREACH)
        if address in (ANY_V4, ANY_V6):
            address = LOOPBACK_V4 if address.version == 4 else LOOPBACK_V6
        if not address.is_loopback:
            raise SyscallError(errno.ENETUNREACH)      # only `lo` exists: no route elsewhere
        return address, 0

    def _bind_address(self, raw, mapped_error):
        """bind(2)'s (address, port): a wildcard or loopback address of the socket's family."""
        address, port = parse_address(self.family, raw, for_bind=True)
        if self.family == AF_INET6 and address.ipv4_mapped is not None:
            raise SyscallError(mapped_error)
        if not (address in (ANY_V4, ANY_V6) or address.is_loopback):
            raise SyscallError(errno.EADDRNOTAVAIL)
        return address, port

    def _target(self, address):
        if address is not None:
            return self._destination(address)[0]
        if self.remote is None:
            raise SyscallError(errno.EDESTADDRREQ)
        return self.remote[0]

    def _source_for(self, destination):
        if self.local is not None and self.local[0] not in (ANY_V4, ANY_V6):
            return self.local[0]
        return LOOPBACK_V4 if destination.version == 4 else LOOPBACK_V6

    def receive(self, t, size, flags):
        """The next message, with the control messages its options ask for: a timestamp
        (LoopbackDatagram's), the hop limit or TTL (IPV6_RECVHOPLIMIT, IP_RECVTTL)."""
        received = LoopbackDatagram.receive(self, t, size, flags)
        if self.family == AF_INET6 and (self.options[IPPROTO_IPV6][IPV6_RECVHOPLIMIT]
                                        or self.options[IPPROTO_IPV6][IPV6_2292HOPLIMIT]):
            kind = IPV6_HOPLIMIT if self.options[IPPROTO_IPV6][IPV6_RECVHOPLIMIT] else IPV6_2292HOPLIMIT
            received.messages.append((IPPROTO_IPV6, kind, _INT.pack(DEFAULT_TTL)))
        elif self.family == AF_INET and self.options[IPPROTO_IP][IP_RECVTTL]:
            received.messages.append((IPPROTO_IP, IP_TTL, _INT.pack(DEFAULT_TTL)))
        return received


class PingSocket(_IcmpSocket):
    """An ICMP (or ICMPv6) echo socket: SOCK_DGRAM, IPPROTO_ICMP / IPPROTO_ICMPV6."""

    def __init__(self, stack, family, protocol, flags, creds):
        super().__init__(stack, family, SOCK_DGRAM, protocol, flags, creds)
        if family == AF_INET6:
            self.options[IPPROTO_IPV6][IPV6_V6ONLY] = 1                 # ping sockets are IPv6-only

    def bind(self, t, raw):
        """ping_bind(): a local address of the socket's family; the port is the echo id."""
        address, echo_id = self._bind_address(raw, mapped_error=errno.EINVAL)
        if self.local is not None:
            raise SyscallError(errno.EINVAL)
        self.stack.bind(self, address, echo_id)

    def autobind_for(self, destination):
        if self.local is None:
            self.stack.bind(self, ANY_V6 if self.family == AF_INET6 else ANY_V4, 0)

    def socket_name(self):
        return format_address(self.family, self.name_address(), self.local[1] if self.local is not None else 0)

    def send(self, t, data, flags, address=None, control=None):
        """ping_v4_sendmsg()/ping_v6_sendmsg(): an echo request, its id replaced by ours."""
        self.autobind_for(None)                    # inet_send_prepare binds before any check
        if len(data) > MAX_MESSAGE:
            raise SyscallError(errno.EMSGSIZE)
        if len(data) < ICMP_HEADER.size:
            raise SyscallError(errno.EINVAL)
        if flags & MSG_OOB:
            raise SyscallError(errno.EOPNOTSUPP)
        kind, code, _, _, sequence = ICMP_HEADER.unpack_from(data)
        if kind != ECHO_TYPES[self.family][0] or code != 0:
            raise SyscallError(errno.EINVAL)
        if address is not None and len(address) < (16 if self.family == AF_INET else 28):
            raise SyscallError(errno.EINVAL)
        if address is not None and struct.unpack_from("<H", address)[0] != self.family:
            raise SyscallError(errno.EAFNOSUPPORT)
        destination = self._target(address)
        self.raise_error()
        source = self._source_for(destination)
        message = ICMP_HEADER.pack(kind, 0, 0, self.local[1], sequence) + data[ICMP_HEADER.size:]
        if self.family == AF_INET:
            message = with_checksum(message, checksum(message))
        else:
            message = with_checksum(message, icmpv6_checksum(source, destination, message))
        self.stack.transmit(source, destination, message)
        return len(data)

    def takes_reply(self, destination):
        bound = self.local[0]
        return bound in (ANY_V4, ANY_V6) or bound == destination


class RawIcmpSocket(_IcmpSocket):
    """A raw socket of protocol ICMP (AF_INET) or ICMPv6 (AF_INET6)."""

    def __init__(self, stack, family, protocol, flags, creds):
        super().__init__(stack, family, SOCK_RAW, protocol, flags, creds)
        self.icmp_filter = 0                       # ICMP_FILTER: bit n drops type n (n < 32)
        self.icmp6_filter = bytes(ICMP6_FILTER_SIZE)
        self.header_included = False               # IP_HDRINCL
        self.checksum_offset = 2 if family == AF_INET6 else -1     # IPV6_CHECKSUM
        stack.raw_sockets.append(self)

    def bind(self, t, raw):
        """raw_bind()/rawv6_bind(): just the local address (raw sockets have no ports)."""
        address, _ = self._bind_address(raw, mapped_error=errno.EADDRNOTAVAIL)
        self.local = (address, 0)

    def autobind_for(self, destination):
        pass

    def socket_name(self):
        """inet_getname(): a raw socket's port is its protocol."""
        return format_address(self.family, self.name_address(), self.protocol)

    def send(self, t, data, flags, address=None, control=None):
        """raw_sendmsg()/rawv6_sendmsg()."""
        if len(data) > MAX_MESSAGE:
            raise SyscallError(errno.EMSGSIZE)
        if flags & MSG_OOB:
            raise SyscallError(errno.EOPNOTSUPP)
        if address is not None:
            self._check_address_family(address)
        destination = self._target(address)
        self.raise_error()
        source = self._source_for(destination)
        if self.family == AF_INET and self.header_included:
            ip_header, message, source, destination = self._own_header(data, source, destination)
            self.stack.transmit(source, destination, message, ip_header)
            return len(data)
        message = bytes(data)
        if self.family == AF_INET6 and self.checksum_offset >= 0:
            if len(message) < self.checksum_offset + 2:
                raise SyscallError(errno.EINVAL)
            message = with_checksum(message, 0, self.checksum_offset)
            message = with_checksum(message, icmpv6_checksum(source, destination, message), self.checksum_offset)
        self.stack.transmit(source, destination, message)
        return len(data)

    def _check_address_family(self, address):
        minimum = 16 if self.family == AF_INET else 24
        if len(address) < minimum:
            raise SyscallError(errno.EINVAL)
        sa_family = struct.unpack_from("<H", address)[0]
        if sa_family != self.family and not (self.family == AF_INET and sa_family == AF_UNSPEC):
            raise SyscallError(errno.EAFNOSUPPORT if self.family == AF_INET else errno.EINVAL)

    def _own_header(self, data, source, destination):
        """IP_HDRINCL (raw_send_hdrinc): the caller's IPv4 header, with its checksum and total
        length set, and an id and source when they are 0."""
        if len(data) < IPV4_HEADER_SIZE:
            raise SyscallError(errno.EINVAL)
        length = (data[0] & 0xF) * 4
        if length < IPV4_HEADER_SIZE or length > len(data):
            raise SyscallError(errno.EINVAL)
        header = bytearray(data[:length])
        struct.pack_into("!H", header, 2, len(data))
        if not struct.unpack_from("!H", header, 4)[0]:
            struct.pack_into("!H", header, 4, next(self.stack.ip_ids) & 0xFFFF)
        if header[12:16] == bytes(4):
            header[12:16] = source.packed
        struct.pack_into("!H", header, 10, 0)
        struct.pack_into("!H", header, 10, checksum(bytes(header)))
        packet_source = ipaddress.IPv4Address(bytes(header[12:16]))
        return bytes(header), bytes(data[length:]), packet_source, destination

    def takes(self, source, destination, message):
        """raw_v4_input()/ipv6_raw_deliver(): the family, a bound address, a connected peer and
        the ICMP filter."""
        if (destination.version == 4) != (self.family == AF_INET):
            return False
        if self.local is not None and self.local[0] not in (ANY_V4, ANY_V6) and self.local[0] != destination:
            return False
        if self.remote is not None and self.remote[0] != source:
            return False
        if not message:
            return True
        kind = message[0]
        if self.family == AF_INET:
            return kind >= 32 or not self.icmp_filter >> kind & 1
        return not self.icmp6_filter[kind >> 3] >> (kind & 7) & 1

    def release(self):
        if self in self.stack.raw_sockets:
            self.stack.raw_sockets.remove(self)
        super().release()

    # -- options ---------------------------------------------------------------------------
    def getsockopt(self, t, level, name, length):
        if level == SOL_RAW and self.family == AF_INET:
            if name != ICMP_FILTER:
                raise SyscallError(errno.ENOPROTOOPT)
            return struct.pack("<I", self.icmp_filter)[:max(0, length)]
        if level == IPPROTO_ICMPV6 and self.family == AF_INET6 and name == ICMP6_FILTER:
            return self.icmp6_filter[:max(0, length)]
        if (level == SOL_RAW or level == IPPROTO_IPV6 and name == IPV6_CHECKSUM) and self.family == AF_INET6:
            if name != IPV6_CHECKSUM:
                raise SyscallError(errno.ENOPROTOOPT)
            return _INT.pack(self.checksum_offset)
        if level == IPPROTO_IP and name == IP_HDRINCL and self.family == AF_INET:
            return _INT.pack(int(self.header_included))
        return super().getsockopt(t, level, name, length)

    def setsockopt(self, t, level, name, option):
        if level == SOL_RAW and self.family == AF_INET:
            if name != ICMP_FILTER:
                raise SyscallError(errno.ENOPROTOOPT)
            raw = option.read(min(option.length, 4)) if option.length > 0 else b""
            self.icmp_filter = int.from_bytes(raw + struct.pack("<I", self.icmp_filter)[len(raw):], "little")
            return
        if level == IPPROTO_ICMPV6 and self.family == AF_INET6:
            if name != ICMP6_FILTER:
                raise SyscallError(errno.ENOPROTOOPT)
            raw = option.read(min(option.length, ICMP6_FILTER_SIZE)) if option.length > 0 else b""
            self.icmp6_filter = raw + self.icmp6_filter[len(raw):]
            return
        if self.family == AF_INET6 and (level == SOL_RAW or level == IPPROTO_IPV6 and name == IPV6_CHECKSUM):
            if name != IPV6_CHECKSUM:
                raise SyscallError(errno.ENOPROTOOPT)
            value = option.integer()
            if level == IPPROTO_IPV6 or value > 0 and value & 1:
                raise SyscallError(errno.EINVAL)        # RFC 3542: not at the IPv6 level for ICMPv6
            self.checksum_offset = max(value, -1)
            return
        if level == IPPROTO_IP and name == IP_HDRINCL and self.family == AF_INET:
            self.header_included = bool(option.integer())
            return
        super().setsockopt(t, level, name, option)
