"""/proc/net (a link to self/net) and /proc/PID/net: the sandbox's network as Linux prints it.

The sandbox has one network, so every task's net directory shows the same thing. Socket
tables (tcp, tcp6, udp, udp6, unix, raw, raw6, icmp, icmp6, sockstat, sockstat6, packet) are rendered from
the sentry's own sockets, in every network mode, as gVisor does: one line per socket of the
sandbox, with the inode number its /proc/PID/fd link shows, and nothing of other host
processes. The interface files (dev, if_inet6, route, ipv6_route, arp, snmp, netstat) are:

* `--network=none`: what a fresh network namespace with `lo` up prints (the loopback netstack
  keeps no packet counters, so they are zero);
* `--network=host`: the host network namespace's own files, read through the sentry's kept
  proc instance (security/hostproc.py), which reaches them after the chroot too; if the host
  refuses, the loopback rendering.

Formats follow Linux 6.1 (net/ipv4/tcp_ipv4.c, udp.c, net/ipv6/*, net/unix/af_unix.c,
net/core/net-procfs.c): fixed-width hex addresses in the byte order the kernel stores them,
lines of tcp padded to 149 columns and of udp to 127. Kernel pointers print as zeros.
"""
import struct

from ..errors import SyscallError
from .inet import AF_INET, AF_INET6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP, network_of
from .socket import AF_UNIX, SOCK_DGRAM, SOCK_RAW, SOCK_STREAM, SocketFile
from .unix import ESTABLISHED, LISTEN, UnixSocket

# TCP states as include/net/tcp_states.h numbers them.
TCP_ESTABLISHED, TCP_FIN_WAIT2, TCP_CLOSE, TCP_CLOSE_WAIT, TCP_LISTEN = 1, 5, 7, 8, 10
SS_UNCONNECTED, SS_CONNECTING, SS_CONNECTED = 1, 2, 3
SO_ACCEPTCON = 1 << 16
RCV_SHUTDOWN, SEND_SHUTDOWN = 1, 2
TCP_INFO = 11
NULL_POINTER = "0" * 16

TCP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
TCP6_HEADER = ("  sl  local_address                         remote_address                        st tx_queue "
               "rx_queue tr tm->when retrnsmt   uid  timeout inode")
UDP_HEADER = ("   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout "
              "inode ref pointer drops")
UDP6_HEADER = TCP6_HEADER + " ref pointer drops"
RAW_HEADER = UDP_HEADER[1:]
TCP_WIDTH, UDP_WIDTH = 149, 127
# Hash tables the raw and ping tables are listed in (bucket order): raw_hashinfo has 2**8
# buckets hashed by protocol, ping_table 64 by echo id; the namespace's hash mix taken as 0.
RAW_HASH_BITS, PING_HASH_MASK = 8, 63
GOLDEN_RATIO_32 = 0x61C88647
UNIX_HEADER = "Num       RefCount Protocol Flags    Type St Inode Path\n"
PACKET_HEADER = "sk               RefCnt Type Proto  Iface R Rmem   User   Inode\n"
ROUTE_HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT"
ARP_HEADER = "IP address       HW type     Flags       HW address            Mask     Device\n"
DEV_HEADER = ("Inter-|   Receive                                                |  Transmit\n"
              " face |bytes    packets errs drop fifo frame compressed multicast|"
              "bytes    packets errs drop fifo colls carrier compressed\n")
# psched: ns per µs, ns per psched tick, 1000000, and the hrtimer resolution as a rate (1 ns).
DEV_LINE = "%6s:%8d %7d %4d %4d %4d %5d %10d %9d %8d %7d %4d %4d %4d %5d %7d %10d\n"
PSCHED = "000003e8 00000040 000f4240 3b9aca00\n"
# Routes a namespace with `lo` up has (the local table's ::1 and the two unreachable defaults).
LOOPBACK_IPV6_ROUTES = (
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
    "00000000000000000000000000000001 80 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n")
LOOPBACK_IF_INET6 = "00000000000000000000000000000001 01 80 10 80       lo\n"

# /proc/net/snmp and /proc/net/netstat: (group, fields); every counter is zero but these.
_SNMP = (
    ("Ip", "Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos "
           "InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout ReasmReqds ReasmOKs "
           "ReasmFails FragOKs FragFails FragCreates"),
    ("Icmp", "InMsgs InErrors InCsumErrors InDestUnreachs InTimeExcds InParmProbs InSrcQuenchs InRedirects "
             "InEchos InEchoReps InTimestamps InTimestampReps InAddrMasks InAddrMaskReps OutMsgs OutErrors "
             "OutRateLimitGlobal OutRateLimitHost OutDestUnreachs OutTimeExcds OutParmProbs OutSrcQuenchs "
             "OutRedirects OutEchos OutEchoReps OutTimestamps OutTimestampReps OutAddrMasks OutAddrMaskReps"),
    ("Tcp", "RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab "
            "InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors"),
    ("Udp", "InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti "
            "MemErrors"),
    ("UdpLite", "InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors "
                "IgnoredMulti MemErrors"),
)
_NETSTAT = (
    ("TcpExt", "SyncookiesSent SyncookiesRecv SyncookiesFailed EmbryonicRsts PruneCalled RcvPruned OfoPruned "
               "OutOfWindowIcmps LockDroppedIcmps ArpFilter TW TWRecycled TWKilled PAWSActive PAWSEstab "
               "DelayedACKs DelayedACKLocked DelayedACKLost ListenOverflows ListenDrops TCPHPHits "
               "TCPPureAcks TCPHPAcks TCPRenoRecovery TCPSackRecovery TCPSACKReneging TCPSACKReorder "
               "TCPRenoReorder TCPTSReorder TCPFullUndo TCPPartialUndo TCPDSACKUndo TCPLossUndo "
               "TCPLostRetransmit TCPRenoFailures TCPSackFailures TCPLossFailures TCPFastRetrans "
               "TCPSlowStartRetrans TCPTimeouts TCPLossProbes TCPLossProbeRecovery TCPRenoRecoveryFail "
               "TCPSackRecoveryFail TCPRcvCollapsed TCPBacklogCoalesce TCPDSACKOldSent TCPDSACKOfoSent TCPDSACKRecv "
               "TCPDSACKOfoRecv TCPAbortOnData TCPAbortOnClose TCPAbortOnMemory TCPAbortOnTimeout "
               "TCPAbortOnLinger TCPAbortFailed TCPMemoryPressures TCPMemoryPressuresChrono TCPSACKDiscard "
               "TCPDSACKIgnoredOld TCPDSACKIgnoredNoUndo TCPSpuriousRTOs TCPMD5NotFound TCPMD5Unexpected "
               "TCPMD5Failure TCPSackShifted TCPSackMerged TCPSackShiftFallback TCPBacklogDrop PFMemallocDrop "
               "TCPMinTTLDrop TCPDeferAcceptDrop IPReversePathFilter "
               "TCPTimeWaitOverflow TCPReqQFullDoCookies TCPReqQFullDrop TCPRetransFail TCPRcvCoalesce "
               "TCPOFOQueue TCPOFODrop TCPOFOMerge TCPChallengeACK TCPSYNChallenge TCPFastOpenActive "
               "TCPFastOpenActiveFail TCPFastOpenPassive TCPFastOpenPassiveFail TCPFastOpenListenOverflow "
               "TCPFastOpenCookieReqd TCPFastOpenBlackhole TCPSpuriousRtxHostQueues BusyPollRxPackets "
               "TCPAutoCorking TCPFromZeroWindowAdv TCPToZeroWindowAdv TCPWantZeroWindowAdv TCPSynRetrans "
               "TCPOrigDataSent TCPHystartTrainDetect TCPHystartTrainCwnd TCPHystartDelayDetect "
               "TCPHystartDelayCwnd TCPACKSkippedSynRecv TCPACKSkippedPAWS TCPACKSkippedSeq "
               "TCPACKSkippedFinWait2 TCPACKSkippedTimeWait TCPACKSkippedChallenge TCPWinProbe "
               "TCPKeepAlive TCPMTUPFail TCPMTUPSuccess TCPDelivered TCPDeliveredCE TCPAckCompressed "
               "TCPZeroWindowDrop TCPRcvQDrop TCPWqueueTooBig TCPFastOpenPassiveAltKey TcpTimeoutRehash "
               "TcpDuplicateDataRehash TCPDSACKRecvSegs TCPDSACKIgnoredDubious TCPMigrateReqSuccess "
               "TCPMigrateReqFailure TCPPLBRehash"),
    ("IpExt", "InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InBcastPkts OutBcastPkts InOctets "
              "OutOctets InMcastOctets OutMcastOctets InBcastOctets OutBcastOctets InCsumErrors InNoECTPkts "
              "InECT1Pkts InECT0Pkts InCEPkts ReasmOverlaps"),
)
# Counters that are not zero in a namespace that has done nothing (RFC 2012's constants).
_SNMP_CONSTANTS = {("Ip", "Forwarding"): 2, ("Ip", "DefaultTTL"): 64, ("Tcp", "RtoAlgorithm"): 1,
                   ("Tcp", "RtoMin"): 200, ("Tcp", "RtoMax"): 120000, ("Tcp", "MaxConn"): -1}
# Files read from the host's network namespace in host mode.
_HOST_FILES = ("dev", "if_inet6", "route", "ipv6_route", "arp", "snmp", "netstat")


def net_children():
    """The entries of a net directory: name -> factory of its ProcFile."""
    from .procfs import ProcFile

    renderers = {
        "dev": _dev, "if_inet6": lambda k: LOOPBACK_IF_INET6, "route": lambda k: _padded(ROUTE_HEADER, 127),
        "ipv6_route": lambda k: LOOPBACK_IPV6_ROUTES, "arp": lambda k: ARP_HEADER,
        "snmp": _snmp, "netstat": lambda k: _counter_groups(_NETSTAT, {}),
        "tcp": lambda k: _inet_table(k, IPPROTO_TCP, AF_INET), "tcp6": lambda k: _inet_table(k, IPPROTO_TCP, AF_INET6),
        "udp": lambda k: _inet_table(k, IPPROTO_UDP, AF_INET), "udp6": lambda k: _inet_table(k, IPPROTO_UDP, AF_INET6),
        "raw": lambda k: _icmp_table(k, SOCK_RAW, AF_INET), "raw6": lambda k: _icmp_table(k, SOCK_RAW, AF_INET6),
        "icmp": lambda k: _icmp_table(k, SOCK_DGRAM, AF_INET),
        "icmp6": lambda k: _icmp_table(k, SOCK_DGRAM, AF_INET6),
        "unix": _unix_table, "sockstat": _sockstat, "sockstat6": _sockstat6,
        "packet": lambda k: PACKET_HEADER, "psched": lambda k: PSCHED,
    }

    def file(name, render):
        if name in _HOST_FILES:
            return lambda: ProcFile(lambda t: _from_host_or(name, render, t.kernel))
        return lambda: ProcFile(lambda t: render(t.kernel))
    return {name.encode(): file(name, render) for name, render in renderers.items()}


def _from_host_or(name, render, kernel):
    """In host mode, the host namespace's /proc/net/NAME; else (or if unreadable) render(kernel)."""
    if network_of(kernel).mode == "host":
        from ...security import hostproc
        try:
            return hostproc.read_proc(f"net/{name}")
        except OSError:
            pass
    return render(kernel)


def _padded(line, width):
    return line.ljust(width) + "\n"


# -- the sockets of the sandbox ---------------------------------------------------------------------------
def sandbox_sockets(kernel):
    """Every socket of the sandbox: in a task's descriptor table, on a listener's queue of
    connections not yet accepted, in flight in a unix socket's queue, or bound in the network's
    port table; each once, in creation order (inode number)."""
    found = {}
    tables = {id(task.fds): task.fds for task in list(kernel.tasks.values()) if task.fds is not None}
    for table in tables.values():
        for _, file in table:
            if isinstance(file, SocketFile):
                found[id(file)] = file
    network = getattr(kernel, "network", None)
    for sock in _network_sockets(network):
        found[id(sock)] = sock
    for sock in list(found.values()):
        for held in _queued_sockets(sock):
            found.setdefault(id(held), held)
    return sorted(found.values(), key=lambda sock: sock.dentry.inode.ino)


def _network_sockets(network):
    if network is None:
        return []
    if network.mode == "host":
        return list(network.sockets.values())
    return [sock for table in network.ports.values() for bound in table.values() for sock in bound]


def _queued_sockets(sock):
    """Embryo connections on a listener, and sockets passed with SCM_RIGHTS not yet received."""
    if not isinstance(sock, UnixSocket):
        return []
    if sock.state == LISTEN:
        return list(sock.receive_queue)
    return [file for segment in sock.receive_queue for file in segment.files if isinstance(file, SocketFile)]


def _inode(sock):
    """sock_i_ino(): 0 for a connection not yet accepted, which has no struct socket yet."""
    return sock.dentry.inode.ino if getattr(sock, "accepted", True) else 0


def _uid(sock):
    return sock.dentry.inode.uid


# -- tcp, tcp6, udp, udp6 ----------------------------------------------------------------------------------
class _InetRow:
    """What a line of /proc/net/{tcp,udp}[6] says of one socket."""

    def __init__(self, local, remote, state, tx_queue, rx_queue):
        self.local, self.remote = local, remote        # (packed address, port)
        self.state, self.tx_queue, self.rx_queue = state, tx_queue, rx_queue


def _inet_rows(sockets, protocol, family):
    """(socket, _InetRow) of each of `sockets` of `family` and `protocol` that Linux would list."""
    rows = []
    for sock in sockets:
        if sock.family != family or sock.protocol != protocol or sock.type not in (SOCK_STREAM, SOCK_DGRAM):
            continue
        row = _host_row(sock) if hasattr(sock, "host_fd") else _loopback_row(sock)
        if row is not None:
            rows.append((sock, row))
    return rows


def _inet_table(kernel, protocol, family):
    rows = _inet_rows(sandbox_sockets(kernel), protocol, family)
    if protocol == IPPROTO_TCP:
        rows.sort(key=lambda item: item[1].state != TCP_LISTEN)      # the listening hash comes first
        header = _padded(TCP_HEADER, TCP_WIDTH) if family == AF_INET else TCP6_HEADER + "\n"
        lines = [_tcp_line(number, sock, row, family) for number, (sock, row) in enumerate(rows)]
    else:
        header = _padded(UDP_HEADER, UDP_WIDTH) if family == AF_INET else UDP6_HEADER + "\n"
        lines = [_udp_line(sock, row, family) for sock, row in rows]
    return header + "".join(lines)


def _hex_address(packed):
    """An address as the kernel prints it: each 32-bit word in the machine's (little-endian) order."""
    return "".join("%08X" % word for word in struct.unpack("<%dI" % (len(packed) // 4), packed))


def _endpoint(endpoint):
    return f"{_hex_address(endpoint[0])}:{endpoint[1]:04X}"


def _tcp_line(number, sock, row, family):
    listening = row.state == TCP_LISTEN
    timers = "100 0 0 10 0" if listening else "20 4 30 10 -1"     # rto ato quick/pingpong cwnd ssthresh
    line = (f"{number:4d}: {_endpoint(row.local)} {_endpoint(row.remote)} {row.state:02X} "
            f"{row.tx_queue:08X}:{row.rx_queue:08X} 00:00000000 00000000 {_uid(sock):5d} {0:8d} {_inode(sock)} "
            f"1 {NULL_POINTER} {timers}")
    return _padded(line, TCP_WIDTH) if family == AF_INET else line + "\n"


def _udp_line(sock, row, family):
    """The first column is the hash slot, which for a table of 65536 slots is the port."""
    line = (f"{row.local[1]:5d}: {_endpoint(row.local)} {_endpoint(row.remote)} {row.state:02X} "
            f"{row.tx_queue:08X}:{row.rx_queue:08X} 00:00000000 00000000 {_uid(sock):5d} {0:8d} {_inode(sock)} "
            f"2 {NULL_POINTER} 0")
    return _padded(line, UDP_WIDTH) if family == AF_INET else line + "\n"


def _unspecified(family):
    """The wildcard address (0.0.0.0 or ::), packed."""
    return bytes(16 if family == AF_INET6 else 4)


def _packed(family, address):
    """An ipaddress value as the socket's family stores it (IPv4 in an AF_INET6 socket: mapped)."""
    if family == AF_INET6 and address.version == 4:
        return b"\0" * 10 + b"\xff\xff" + address.packed
    return address.packed


def _loopback_row(sock):
    """A socket of the loopback netstack; None for one Linux would not list (unbound UDP; TCP
    that neither listens nor is connected)."""
    if sock.local is None:
        return None
    address, port = sock.source_address() if sock.remote is not None else sock.local
    local = (_packed(sock.family, address), port)
    remote = (_packed(sock.family, sock.remote[0]), sock.remote[1]) if sock.remote else (_unspecified(sock.family), 0)
    if sock.protocol == IPPROTO_UDP:
        state = TCP_ESTABLISHED if sock.remote is not None else TCP_CLOSE
        return _InetRow(local, remote, state, 0, sock.queued_bytes)
    if sock.state == LISTEN:                                   # rx_queue: connections to accept
        return _InetRow(local, remote, TCP_LISTEN, 0, len(sock.receive_queue))
    if sock.state != ESTABLISHED:
        return None
    shut = sock.shutdown_mask
    state = {0: TCP_ESTABLISHED, RCV_SHUTDOWN: TCP_CLOSE_WAIT, SEND_SHUTDOWN: TCP_FIN_WAIT2}.get(shut, TCP_CLOSE)
    if state == TCP_CLOSE:
        return None
    unread = sum(segment.remaining for segment in sock.receive_queue)
    return _InetRow(local, remote, state, 0, unread)


def _host_row(sock):
    """A host socket: its names from the host, its state from TCP_INFO."""
    from .netstack import parse_address
    try:
        address, port = parse_address(sock.family, sock.socket_name(), for_bind=True)
        local = (address.packed, port)
        try:
            address, port = parse_address(sock.family, sock.peer_name(), for_bind=False)
            remote = (address.packed, port)
        except SyscallError:                                # not connected
            remote = (_unspecified(sock.family), 0)
        if sock.protocol == IPPROTO_UDP:
            if local[1] == 0:
                return None
            state = TCP_ESTABLISHED if remote[1] else TCP_CLOSE
            return _InetRow(local, remote, state, sock.bytes_unsent(), sock.bytes_available())
        info = sock.host.getsockopt(IPPROTO_TCP, TCP_INFO, 32)
        state = info[0]
        if state == TCP_CLOSE:
            return None
        if state == TCP_LISTEN:
            backlog = struct.unpack_from("<I", info, 24)[0]     # tcpi_unacked: the accept queue
            return _InetRow(local, remote, state, 0, backlog)
        return _InetRow(local, remote, state, sock.bytes_unsent(), sock.bytes_available())
    except (SyscallError, OSError):                         # closed under us: not listed
        return None


# -- raw, raw6, icmp, icmp6 --------------------------------------------------------------------------------
def _icmp_rows(sockets, socket_type, family):
    """(bucket, socket, _InetRow) of the raw ICMP sockets (every one: they are hashed when made)
    or the bound ping sockets of `family`, in Linux's order: by bucket, the newest first in one."""
    rows = []
    for sock in reversed(sockets):
        if (sock.family != family or sock.type != socket_type
                or getattr(sock, "protocol", None) not in (IPPROTO_ICMP, IPPROTO_ICMPV6)):
            continue
        row = _icmp_row(sock)
        if row is not None:
            bucket = _hash_32(row.local[1], RAW_HASH_BITS) if socket_type == SOCK_RAW else row.local[1] & PING_HASH_MASK
            rows.append((bucket, sock, row))
    rows.sort(key=lambda item: item[0])
    return rows


def _hash_32(value, bits):
    """include/linux/hash.h's hash_32()."""
    return (value * GOLDEN_RATIO_32 & 0xFFFFFFFF) >> (32 - bits)


def _icmp_row(sock):
    """A raw socket's local port is its protocol, a ping socket's its echo id (0: not bound,
    not listed); the state is TCP_ESTABLISHED once connected."""
    from .netstack import parse_address
    try:
        address, port = parse_address(sock.family, sock.socket_name(), for_bind=True)
        try:
            remote = parse_address(sock.family, sock.peer_name(), for_bind=False)
            remote, state = (remote[0].packed, 0), TCP_ESTABLISHED
        except SyscallError:
            remote, state = (_unspecified(sock.family), 0), TCP_CLOSE
    except (SyscallError, OSError):                         # closed under us: not listed
        return None
    if sock.type == SOCK_RAW:
        port = sock.protocol
    elif port == 0:
        return None
    queued = sock.bytes_available() if hasattr(sock, "host_fd") else getattr(sock, "queued_bytes", 0)
    return _InetRow((address.packed, port), remote, state, 0, queued)


def _icmp_table(kernel, socket_type, family):
    """raw_seq_show() (a 4-wide slot, lines unpadded), ping_v4_seq_show() (padded to 127) and
    ip6_dgram_sock_seq_show() for raw6 and icmp6."""
    rows = _icmp_rows(sandbox_sockets(kernel), socket_type, family)
    if family == AF_INET6:
        header, slot, width = UDP6_HEADER + "\n", 5, None
    elif socket_type == SOCK_RAW:
        header, slot, width = RAW_HEADER + "\n", 4, None
    else:
        header, slot, width = _padded(RAW_HEADER, UDP_WIDTH), 5, UDP_WIDTH
    lines = []
    for bucket, sock, row in rows:
        line = (f"{bucket:{slot}d}: {_endpoint(row.local)} {_endpoint(row.remote)} {row.state:02X} "
                f"{row.tx_queue:08X}:{row.rx_queue:08X} 00:00000000 00000000 {_uid(sock):5d} {0:8d} {_inode(sock)} "
                f"2 {NULL_POINTER} 0")
        lines.append(_padded(line, width) if width else line + "\n")
    return header + "".join(lines)


# -- unix ---------------------------------------------------------------------------------------------------
def _unix_table(kernel):
    lines = [UNIX_HEADER]
    for sock in sandbox_sockets(kernel):
        if not isinstance(sock, UnixSocket) or sock.family != AF_UNIX or sock.dead:
            continue
        connected = sock.state == ESTABLISHED or (sock.type == SOCK_DGRAM and sock.peer is not None)
        if sock.accepted:
            state = SS_CONNECTED if connected else SS_UNCONNECTED
        else:
            state = SS_CONNECTING                          # an embryo: no struct socket yet
        line = (f"{NULL_POINTER}: {3 if connected else 2:08X} {0:08X} "
                f"{SO_ACCEPTCON if sock.state == LISTEN else 0:08X} {sock.type:04X} {state:02X} {_inode(sock):5d}")
        if sock.address is not None:
            line += " " + _unix_name(sock.address)
        lines.append(line + "\n")
    return "".join(lines)


def _unix_name(address):
    """A path as bound, or @ and the abstract name with its NULs shown as @."""
    name = address[2:]
    if name[:1] == b"\0":
        name = b"@" + name[1:].replace(b"\0", b"@")
    elif name.endswith(b"\0"):
        name = name[:-1]
    return name.decode(errors="surrogateescape")


# -- counts and counters ----------------------------------------------------------------------------------
def _in_use(sockets, protocol, family):
    """Sockets of a protocol that /proc/net/{tcp,udp}[6] lists."""
    return len(_inet_rows(sockets, protocol, family))


def _raw_in_use(sockets, family):
    return len(_icmp_rows(sockets, SOCK_RAW, family))


def _sockstat(kernel):
    sockets = sandbox_sockets(kernel)
    tcp_alloc = sum(1 for sock in sockets if getattr(sock, "protocol", None) == IPPROTO_TCP
                    and sock.family in (AF_INET, AF_INET6))
    tcp = _in_use(sockets, IPPROTO_TCP, AF_INET)
    udp = _in_use(sockets, IPPROTO_UDP, AF_INET)
    return (f"sockets: used {len(sockets)}\nTCP: inuse {tcp} orphan 0 tw 0 alloc {tcp_alloc} mem 0\n"
            f"UDP: inuse {udp} mem 0\nUDPLITE: inuse 0\nRAW: inuse {_raw_in_use(sockets, AF_INET)}\n"
            "FRAG: inuse 0 memory 0\n")


def _sockstat6(kernel):
    sockets = sandbox_sockets(kernel)
    return (f"TCP6: inuse {_in_use(sockets, IPPROTO_TCP, AF_INET6)}\n"
            f"UDP6: inuse {_in_use(sockets, IPPROTO_UDP, AF_INET6)}\n"
            f"UDPLITE6: inuse 0\nRAW6: inuse {_raw_in_use(sockets, AF_INET6)}\nFRAG6: inuse 0 memory 0\n")


def _dev(kernel):
    """lo's counters: the loopback netstack keeps none, so zeros."""
    return DEV_HEADER + DEV_LINE % (("lo",) + (0,) * 16)


def _snmp(kernel):
    sockets = sandbox_sockets(kernel)
    established = sum(row.state in (TCP_ESTABLISHED, TCP_CLOSE_WAIT)
                      for family in (AF_INET, AF_INET6) for _, row in _inet_rows(sockets, IPPROTO_TCP, family))
    values = dict(_SNMP_CONSTANTS)
    values[("Tcp", "CurrEstab")] = established
    return _counter_groups(_SNMP, values)


def _counter_groups(groups, values):
    """Pairs of lines per group: the names, then the values."""
    text = []
    for group, names in groups:
        fields = names.split()
        text.append(f"{group}: {' '.join(fields)}\n")
        text.append(f"{group}: {' '.join(str(values.get((group, name), 0)) for name in fields)}\n")
    return "".join(text)
