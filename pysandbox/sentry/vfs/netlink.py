"""AF_NETLINK sockets: NETLINK_ROUTE, enough for `ip addr`, `ip link`, `ip route` and getifaddrs().

* `--network=none`: the sentry answers RTM_GETLINK, RTM_GETADDR and RTM_GETROUTE itself from
  the loopback network's interfaces (interfaces.py): only `lo`.
* `--network=host`: requests that only read (RTM_GET*) go to a host NETLINK_ROUTE socket in
  the sandbox's network namespace, and the answers come back with the host's port id
  replaced by the socket's virtual one (the sandbox's pid, as Linux's autobind picks it), so
  no host pid leaks. Requests that would change the host's network are refused with EPERM,
  as for a container without CAP_NET_ADMIN.

Other netlink protocols are EPROTONOSUPPORT.
"""
import collections
import errno
import ipaddress
import struct

from ..errors import SyscallError
from .file import POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM
from .inet import AF_INET, AF_INET6, AF_NETLINK, network_of
from .interfaces import INTERFACES
from .socket import MSG_PEEK, NO_CONTROL, SOCK_DGRAM, SOCK_RAW, Received, SocketFile

NETLINK_ROUTE = 0
SOCKADDR_NL = struct.Struct("<HHIi")
NLMSGHDR = struct.Struct("<IHHII")
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE = 1, 2, 3
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_ACK = 0x1, 0x2, 0x4
NLM_F_ROOT, NLM_F_MATCH = 0x100, 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
RTM_NEWLINK, RTM_GETLINK, RTM_NEWADDR, RTM_GETADDR, RTM_NEWROUTE, RTM_GETROUTE = 16, 18, 20, 22, 24, 26
IFINFOMSG = struct.Struct("<BxHiII")
IFADDRMSG = struct.Struct("<BBBBI")
RTMSG = struct.Struct("<BBBBBBBBI")
IFLA_ADDRESS, IFLA_BROADCAST, IFLA_IFNAME, IFLA_MTU, IFLA_QDISC, IFLA_TXQLEN = 1, 2, 3, 4, 6, 13
IFLA_OPERSTATE, IFLA_LINKMODE, IFLA_GROUP, IFLA_PROMISCUITY = 16, 17, 27, 30
IFLA_NUM_TX_QUEUES, IFLA_NUM_RX_QUEUES, IFLA_CARRIER = 31, 32, 33
IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_CACHEINFO, IFA_FLAGS = 1, 2, 3, 6, 8
IFA_F_PERMANENT = 0x80
RTA_DST, RTA_OIF, RTA_PRIORITY, RTA_PREFSRC, RTA_TABLE, RTA_PREF = 1, 4, 6, 7, 15, 20
RT_TABLE_LOCAL = 255
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_HOST = 0, 253, 254
RTN_LOCAL, RTN_BROADCAST = 2, 3
RTPROT_KERNEL = 2
IF_OPER_UNKNOWN = 0
SOL_NETLINK = 270


def _align(length):
    return (length + 3) & ~3


def attribute(kind, data):
    """One struct rtattr with its payload, padded."""
    length = 4 + len(data)
    return struct.pack("<HH", length, kind) + data + bytes(_align(length) - length)


def message(kind, flags, seq, portid, payload):
    return NLMSGHDR.pack(NLMSGHDR.size + len(payload), kind, flags, seq, portid) + payload


def error_message(seq, portid, code, request):
    """NLMSG_ERROR (code 0: an acknowledgement), with the request's header."""
    return message(NLMSG_ERROR, 0, seq, portid, struct.pack("<i", -code) + request[:NLMSGHDR.size])


def split_messages(data):
    """The (header fields, whole message) pairs in a buffer; a truncated tail is ignored."""
    offset = 0
    while len(data) - offset >= NLMSGHDR.size:
        length, kind, flags, seq, portid = NLMSGHDR.unpack_from(data, offset)
        if length < NLMSGHDR.size or offset + length > len(data):
            break
        yield (length, kind, flags, seq, portid), data[offset:offset + length]
        offset += _align(length)


def new_netlink_socket(t, socket_type, protocol, flags):
    """socket(2) for AF_NETLINK (netlink_create)."""
    if socket_type not in (SOCK_RAW, SOCK_DGRAM):
        raise SyscallError(errno.ESOCKTNOSUPPORT)
    if protocol != NETLINK_ROUTE:
        raise SyscallError(errno.EPROTONOSUPPORT)
    network = network_of(t.kernel)
    if network.mode == "host":
        return HostRouteSocket(network, t, socket_type, flags)
    return RouteSocket(t, socket_type, flags)


class _NetlinkNames:
    """A netlink socket's port id (chosen at bind(2), or the process's pid at first use) and its
    SOL_NETLINK options, which are accepted and change nothing here."""

    def _init_names(self, t):
        self.portid = None
        self.groups = 0
        self.connected_to = 0
        self._pid = t.tg.tgid

    def bind(self, t, raw):
        family, _, portid, groups = _parse(raw)
        if self.portid is not None and portid and portid != self.portid:
            raise SyscallError(errno.EINVAL)
        self.groups = groups & 0xFFFFFFFF
        if self.portid is None:
            self.portid = portid or self._pid

    def connect(self, t, raw):
        if len(raw) >= 2 and struct.unpack_from("<H", raw)[0] == 0:
            self.connected_to = 0
            return
        _, _, portid, _ = _parse(raw)
        self.connected_to = portid
        self.autobind()

    def autobind(self):
        if self.portid is None:
            self.portid = self._pid

    def socket_name(self):
        return SOCKADDR_NL.pack(AF_NETLINK, 0, self.portid or 0, self.groups)

    def peer_name(self):
        return SOCKADDR_NL.pack(AF_NETLINK, 0, self.connected_to, 0)

    def setsockopt(self, t, level, name, option):
        if level == SOL_NETLINK:
            option.integer()                     # NETLINK_ADD_MEMBERSHIP, EXT_ACK...: accepted
            return None
        return SocketFile.setsockopt(self, t, level, name, option)

    def getsockopt(self, t, level, name, length):
        if level == SOL_NETLINK:
            return struct.pack("<i", 0)
        return SocketFile.getsockopt(self, t, level, name, length)

    def _check_destination(self, address):
        if address is not None:
            _, _, portid, _ = _parse(address)
            if portid != 0:
                raise SyscallError(errno.ECONNREFUSED)   # no other netlink users here
        self.autobind()


def _parse(raw):
    if len(raw) < SOCKADDR_NL.size:
        raise SyscallError(errno.EINVAL)
    family, pad, portid, groups = SOCKADDR_NL.unpack_from(raw)
    if family != AF_NETLINK:
        raise SyscallError(errno.EINVAL)
    return family, pad, portid & 0xFFFFFFFF, groups


KERNEL_ADDRESS = SOCKADDR_NL.pack(AF_NETLINK, 0, 0, 0)


class RouteSocket(_NetlinkNames, SocketFile):
    """NETLINK_ROUTE answered by the sentry, from the loopback network's interfaces."""

    family = AF_NETLINK

    def __init__(self, t, socket_type, flags):
        SocketFile.__init__(self, socket_type, NETLINK_ROUTE, flags, t.creds)
        self._init_names(t)
        self.replies = collections.deque()

    def send(self, t, data, flags, address=None, control=NO_CONTROL):
        self._check_destination(address)
        for (_, kind, request_flags, seq, _), request in split_messages(data):
            if not request_flags & NLM_F_REQUEST or kind < RTM_NEWLINK:
                continue
            try:
                answers = self._answer(kind, request_flags, seq, request[NLMSGHDR.size:])
            except SyscallError as error:
                self.replies.append(error_message(seq, self.portid, error.errno, request))
                continue
            self.replies.extend(answers)
            if request_flags & NLM_F_ACK and not request_flags & NLM_F_DUMP:
                self.replies.append(error_message(seq, self.portid, 0, request))
        self.wait_queue.notify()
        return len(data)

    def _answer(self, kind, flags, seq, payload):
        if kind == RTM_GETLINK:
            if not flags & NLM_F_DUMP:
                index = IFINFOMSG.unpack_from(payload.ljust(IFINFOMSG.size, b"\0"))[2]
                found = [link_message(i) for i in INTERFACES if i.index == index
                         or (not index and _attribute_value(payload[IFINFOMSG.size:], IFLA_IFNAME) == i.name + b"\0")]
                if not found:
                    raise SyscallError(errno.ENODEV)
                return [message(RTM_NEWLINK, 0, seq, self.portid, found[0])]
            return self._dump(RTM_NEWLINK, seq, [link_message(i) for i in INTERFACES])
        if kind == RTM_GETADDR and flags & NLM_F_DUMP:
            family = payload[0] if payload else 0
            return self._dump(RTM_NEWADDR, seq, [address_message(i, a) for i in INTERFACES for a in i.addresses
                                                 if family in (0, _family_of(a))])
        if kind == RTM_GETROUTE and flags & NLM_F_DUMP:
            family = payload[0] if payload else 0
            return self._dump(RTM_NEWROUTE, seq, [route for route_family, route in loopback_routes()
                                                  if family in (0, route_family)])
        if kind & 3 == 2:
            raise SyscallError(errno.EOPNOTSUPP)
        raise SyscallError(errno.EPERM)           # changing the network: no CAP_NET_ADMIN

    def _dump(self, kind, seq, payloads):
        """A dump's messages in one datagram, then NLMSG_DONE (as Linux sends short dumps)."""
        body = b"".join(message(kind, NLM_F_MULTI, seq, self.portid, payload) for payload in payloads)
        done = message(NLMSG_DONE, NLM_F_MULTI, seq, self.portid, struct.pack("<i", 0))
        return [body + done] if body else [done]

    def receive(self, t, size, flags):
        self.raise_error()
        if not self.replies:
            self.wait(t, self.timeout(flags, self.receive_timeout), self.wait_queue)
        reply = self.replies[0] if flags & MSG_PEEK else self.replies.popleft()
        return Received.datagram(reply, size, flags, KERNEL_ADDRESS)

    def poll_events(self):
        return POLLOUT | POLLWRNORM | (POLLIN | POLLRDNORM if self.replies else 0)

    def bytes_available(self):
        return len(self.replies[0]) if self.replies else 0


def _family_of(address):
    return AF_INET if address.version == 4 else AF_INET6


def _attribute_value(attributes, wanted):
    offset = 0
    while len(attributes) - offset >= 4:
        length, kind = struct.unpack_from("<HH", attributes, offset)
        if length < 4:
            break
        if kind == wanted:
            return attributes[offset + 4:offset + length]
        offset += _align(length)
    return None


def link_message(interface):
    """RTM_NEWLINK's payload for an interface, with the attributes `ip link` shows."""
    u32 = lambda value: struct.pack("<I", value)  # noqa: E731
    return (IFINFOMSG.pack(0, interface.link_type, interface.index, interface.flags, 0)
            + attribute(IFLA_IFNAME, interface.name + b"\0")
            + attribute(IFLA_TXQLEN, u32(interface.txqlen))
            + attribute(IFLA_OPERSTATE, bytes([IF_OPER_UNKNOWN]))
            + attribute(IFLA_LINKMODE, b"\0")
            + attribute(IFLA_MTU, u32(interface.mtu))
            + attribute(IFLA_GROUP, u32(0))
            + attribute(IFLA_PROMISCUITY, u32(0))
            + attribute(IFLA_NUM_TX_QUEUES, u32(1))
            + attribute(IFLA_NUM_RX_QUEUES, u32(1))
            + attribute(IFLA_CARRIER, b"\1")
            + attribute(IFLA_QDISC, b"noqueue\0")
            + attribute(IFLA_ADDRESS, interface.hardware)
            + attribute(IFLA_BROADCAST, interface.hardware))


def address_message(interface, address):
    """RTM_NEWADDR's payload for one of an interface's addresses."""
    family = _family_of(address)
    payload = IFADDRMSG.pack(family, address.network.prefixlen, IFA_F_PERMANENT, RT_SCOPE_HOST, interface.index)
    payload += attribute(IFA_ADDRESS, address.ip.packed)
    if family == AF_INET:
        payload += attribute(IFA_LOCAL, address.ip.packed) + attribute(IFA_LABEL, interface.name + b"\0")
    payload += attribute(IFA_FLAGS, struct.pack("<I", IFA_F_PERMANENT))
    payload += attribute(IFA_CACHEINFO, struct.pack("<IIII", 0xFFFFFFFF, 0xFFFFFFFF, 0, 0))
    return payload


def _route(family, prefix, table, scope, kind, destination, source=None, priority=None):
    payload = RTMSG.pack(family, prefix, 0, 0, table, RTPROT_KERNEL, scope, kind, 0)
    payload += attribute(RTA_TABLE, struct.pack("<I", table)) + attribute(RTA_DST, destination.packed)
    if priority is not None:
        payload += attribute(RTA_PRIORITY, struct.pack("<I", priority))
    if source is not None:
        payload += attribute(RTA_PREFSRC, source.packed)
    if family == AF_INET6:
        payload += attribute(RTA_PREF, b"\0")            # ICMPV6_ROUTER_PREF_MEDIUM
    return payload + attribute(RTA_OIF, struct.pack("<I", 1))


def loopback_routes():
    """(family, RTM_NEWROUTE payload) for what Linux sets up with `lo` up."""
    local = ipaddress.ip_address("127.0.0.1")
    return [
        (AF_INET, _route(AF_INET, 8, RT_TABLE_LOCAL, RT_SCOPE_HOST, RTN_LOCAL, ipaddress.ip_address("127.0.0.0"),
                         local)),
        (AF_INET, _route(AF_INET, 32, RT_TABLE_LOCAL, RT_SCOPE_HOST, RTN_LOCAL, local, local)),
        (AF_INET, _route(AF_INET, 32, RT_TABLE_LOCAL, RT_SCOPE_LINK, RTN_BROADCAST,
                         ipaddress.ip_address("127.255.255.255"), local)),
        (AF_INET6, _route(AF_INET6, 128, RT_TABLE_LOCAL, RT_SCOPE_UNIVERSE, RTN_LOCAL, ipaddress.ip_address("::1"),
                          priority=0)),
    ]


class HostRouteSocket(_NetlinkNames, SocketFile):
    """NETLINK_ROUTE of the host's namespace, read-only, with virtual port ids."""

    family = AF_NETLINK

    def __init__(self, network, t, socket_type, flags):
        import socket as pysocket            # --network host only: imported with hostinet, before the chroot
        from .hostinet import HostSocket
        SocketFile.__init__(self, socket_type, NETLINK_ROUTE, flags, t.creds)
        self._init_names(t)
        host = pysocket.socket(AF_NETLINK, socket_type | pysocket.SOCK_NONBLOCK | pysocket.SOCK_CLOEXEC,
                               NETLINK_ROUTE)
        self.inner = HostSocket(network, AF_NETLINK, socket_type, NETLINK_ROUTE, flags, t.creds, host)
        self.inner.wait_queue = self.wait_queue
        host.bind((0, 0))
        self.host_portid = host.getsockname()[0]

    def send(self, t, data, flags, address=None, control=NO_CONTROL):
        self._check_destination(address)
        for (_, kind, request_flags, _, _), _ in split_messages(data):
            if kind >= RTM_NEWLINK and kind & 3 != 2:
                raise SyscallError(errno.EPERM)   # only RTM_GET* reach the host
        return self.inner.send(t, data, flags, KERNEL_ADDRESS, NO_CONTROL)

    def receive(self, t, size, flags):
        received = self.inner.receive(t, size, flags)
        received.data = self._with_virtual_portid(received.data)
        received.address = KERNEL_ADDRESS
        return received

    def _with_virtual_portid(self, data):
        """The replies, addressed to this socket's virtual port id instead of the host's."""
        data = bytearray(data)
        offset = 0
        while len(data) - offset >= NLMSGHDR.size:
            length, _, _, _, portid = NLMSGHDR.unpack_from(data, offset)
            if portid == self.host_portid:
                struct.pack_into("<I", data, offset + 12, self.portid or self._pid)
            if length < NLMSGHDR.size:
                break
            offset += _align(length)
        return bytes(data)

    def poll_events(self):
        return self.inner.poll_events()

    def readiness_queue(self, t, events):
        return self.inner.readiness_queue(t, events)

    def prepare_to_wait(self, t):
        self.inner.prepare_to_wait(t)

    def bytes_available(self):
        return self.inner.bytes_available()


    def release(self):
        self.inner.decref()
