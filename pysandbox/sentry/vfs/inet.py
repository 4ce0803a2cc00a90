"""AF_INET and AF_INET6 sockets: which network the sandbox has, and socket(2)'s checks.

The network is chosen per sandbox (`do --network`, the OCI config):

* host: a HostNetwork (hostinet.py): inet sockets are host sockets in the sandbox's host
  network namespace;
* none: a LoopbackNetwork (netstack.py): TCP and UDP over 127.0.0.0/8 and ::1 between the
  sandbox's own tasks, inside the sentry; nothing reaches the host.

ICMP: ping sockets (SOCK_DGRAM, IPPROTO_ICMP/IPPROTO_ICMPV6) for groups in
net.ipv4.ping_group_range in both modes; raw ICMP sockets for a task with CAP_NET_RAW on the
loopback stack only (icmp.py). Other raw sockets, and packet sockets, are EPERM, as in gVisor
without --net-raw.
"""
import errno

from ..credentials import CAP_NET_RAW, capable
from ..errors import SyscallError
from .socket import SOCK_DGRAM, SOCK_RAW, SOCK_STREAM

AF_INET, AF_INET6, AF_NETLINK, AF_PACKET = 2, 10, 16, 17
SOCK_PACKET = 10
IPPROTO_IP, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6 = 0, 1, 6, 17, 58
IPPROTO_MAX = 263
NETWORK_MODES = ("host", "none")


def new_network(mode):
    """The network object of a sandbox for `mode` (NETWORK_MODES)."""
    if mode == "host":
        from .hostinet import HostNetwork
        return HostNetwork()
    if mode == "none":
        from .netstack import LoopbackNetwork
        return LoopbackNetwork()
    raise ValueError(f"unknown network mode {mode!r}")


def network_of(kernel):
    """The sandbox's network; a kernel made without one (unit tests) gets loopback only."""
    network = getattr(kernel, "network", None)
    if network is None:
        network = kernel.network = new_network("none")
    return network


def _check_protocol(t, family, socket_type, protocol):
    """inet_create()'s checks: EINVAL past IPPROTO_MAX, ESOCKTNOSUPPORT for a type inet lacks,
    EPROTONOSUPPORT for a protocol the type does not carry, EPERM for a raw socket without
    CAP_NET_RAW, EACCES for a ping socket outside ping_group_range."""
    if not 0 <= protocol < IPPROTO_MAX:
        raise SyscallError(errno.EINVAL)
    ping = IPPROTO_ICMP if family == AF_INET else IPPROTO_ICMPV6
    if socket_type == SOCK_RAW:
        if protocol == IPPROTO_IP:
            raise SyscallError(errno.EPROTONOSUPPORT)
        if not capable(t, CAP_NET_RAW) or protocol != ping or network_of(t.kernel).mode != "none":
            raise SyscallError(errno.EPERM)         # raw ICMP on the loopback stack only (docs/NETWORK.md)
    elif socket_type == SOCK_PACKET:
        raise SyscallError(errno.EPERM)
    elif socket_type == SOCK_STREAM:
        if protocol not in (IPPROTO_IP, IPPROTO_TCP):
            raise SyscallError(errno.EPROTONOSUPPORT)
    elif socket_type == SOCK_DGRAM:
        if protocol == ping:
            if not _ping_allowed(t):
                raise SyscallError(errno.EACCES)
        elif protocol not in (IPPROTO_IP, IPPROTO_UDP):
            raise SyscallError(errno.EPROTONOSUPPORT)
    else:
        raise SyscallError(errno.ESOCKTNOSUPPORT)


def _ping_allowed(t):
    """ping_init_sock(): whether the caller's egid or one of its groups is in ping_group_range
    (here, not in icmp.py: host mode makes ping sockets without the loopback stack)."""
    low, high = (int(word) for word in t.kernel.sysctls.get("net.ipv4.ping_group_range").split())
    creds = t.creds
    return any(low <= gid <= high for gid in (creds.egid, *creds.groups))


def socket_constructor(family):
    """socket(2) for `family`: (t, type, protocol, flags) -> SocketFile."""
    def new_socket(t, socket_type, protocol, flags):
        _check_protocol(t, family, socket_type, protocol)
        network = network_of(t.kernel)
        protocol = protocol or (IPPROTO_TCP if socket_type == SOCK_STREAM else IPPROTO_UDP)
        return network.new_socket(t, family, socket_type, protocol, flags)
    return new_socket


def no_socketpair(t, socket_type, protocol, flags):
    """socketpair(2): inet sockets have no pairs."""
    raise SyscallError(errno.EOPNOTSUPP)


def packet_socket(t, socket_type, protocol, flags):
    """AF_PACKET needs CAP_NET_RAW, which the sandbox does not have."""
    raise SyscallError(errno.EPERM)
