"""AF_UNIX sockets, wholly inside the sentry (unix(7)): stream, datagram and seqpacket.

Nothing here reaches the host. The model follows Linux's net/unix/af_unix.c:

* A socket's receive queue holds Segments (Linux's skbs): bytes, with the files and
  credentials sent along. A segment is charged to its sender's send buffer, by what Linux
  charges (an skb's truesize), until the receiver has read all of it; a sender whose
  charges reach SO_SNDBUF waits. So buffer capacities and SIOCOUTQ match Linux's.
* Stream and seqpacket sockets are connected in pairs. connect() builds the server's end
  at once (an embryo) and queues it on the listener for accept(): a client may write
  before the server accepts, as on Linux. A listener holds `backlog + 1` embryos at most.
* A datagram socket names its receiver per send, or connects to it. A receiver not
  connected back to its sender takes at most max_dgram_qlen + 1 datagrams, then senders wait.
* Names: binding to a path creates a socket file in the sandbox's VFS, and connect() finds
  the socket through that file's identity (device, inode number), so a renamed or hard-linked
  socket file still leads to it and an unlinked one does not. Abstract names (a leading NUL)
  live in a table per socket type. Autobind picks "\\0" and five hex digits.

Blocking calls park the task on a socket's wait queue. Every socket's queue is notified when
anything that its poll_events() or a parked call looks at changes: data or a connection
arriving, its own data being read, its peer closing or shutting down. Only connect() waits
elsewhere, for room in a listener's backlog (its `connectors` queue), so that accepting does
not look like news to the listener's pollers.
"""
import collections
import errno
import os
import stat as st
import struct
import time

from ..errors import SyscallError
from ..waiter import WaitQueue
from .file import (POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDHUP, POLLRDNORM, POLLWRBAND, POLLWRNORM,
                   on_broken_pipe)
from .resolve import AT_FDCWD
from .socket import (AF_UNIX, AF_UNSPEC, MSG_OOB, MSG_PEEK, MSG_NOSIGNAL,
                     MSG_WAITALL, OVERFLOW_ID, RCV_SHUTDOWN, SEND_SHUTDOWN, SHUT_RD, SHUT_RDWR, SHUTDOWN_MASK,
                     SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET, SOCK_STREAM, NO_CONTROL, Received, SocketFile,
                     credentials_of)
from .stat import MAY_WRITE, may_access

SUN_PATH_OFFSET = 2                 # offsetof(struct sockaddr_un, sun_path)
SOCKADDR_UN_SIZE = 110
UNNAMED = struct.pack("<H", AF_UNIX)   # what getsockname(2) gives for a socket with no name
MAX_DGRAM_QLEN = 10                 # net.unix.max_dgram_qlen
SIOCOUTQ, SIOCATMARK = 0x5411, 0x8905
CONNECTION_TYPES = (SOCK_STREAM, SOCK_SEQPACKET)

CLOSE, LISTEN, ESTABLISHED = "close", "listen", "established"


# -- what a queued buffer costs its sender (x86_64, 4 KiB pages) ------------------------------
PAGE_SIZE = 4096
_SKB_SHARED_INFO = 320                      # SKB_DATA_ALIGN(sizeof(struct skb_shared_info))
_SK_BUFF = 256                              # SKB_DATA_ALIGN(sizeof(struct sk_buff))
SKB_MAX_HEAD = PAGE_SIZE - _SKB_SHARED_INFO
SKB_MAX_ALLOC = 4 * PAGE_SIZE - _SKB_SHARED_INFO
MAX_SKB_FRAGS = 17
STREAM_FRAGMENTS = 32768                    # UNIX_SKB_FRAGS_SZ
_KMALLOC_SIZES = (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192)


def _kmalloc_size(n):
    return next((size for size in _KMALLOC_SIZES if n <= size), 1 << (n - 1).bit_length())


def _page_align(n):
    return -(-n // PAGE_SIZE) * PAGE_SIZE


def _truesize(linear, paged):
    """An skb's truesize: its head (kmalloc'd data and shared info), the sk_buff, its pages."""
    return _kmalloc_size(-(-linear // 64) * 64 + _SKB_SHARED_INFO) + _SK_BUFF + _page_align(paged)


def _stream_chunk(remaining, send_buffer):
    """(bytes, truesize) of the next buffer a stream send fills (unix_stream_sendmsg)."""
    size = min(remaining, send_buffer // 2 - 64, SKB_MAX_HEAD + STREAM_FRAGMENTS)
    paged = min(size, _page_align(max(0, size - SKB_MAX_HEAD)))
    return size, _truesize(size - paged, paged)


def _datagram_truesize(length):
    """unix_dgram_sendmsg: past SKB_MAX_ALLOC, the rest of a datagram goes into pages."""
    paged = 0
    if length > SKB_MAX_ALLOC:
        paged = _page_align(min(length - SKB_MAX_ALLOC, MAX_SKB_FRAGS * PAGE_SIZE))
    return _truesize(length - paged, paged)


class Segment:
    """Bytes one send queued at a receiver, with the files and credentials that came along."""

    __slots__ = ("sender", "data", "consumed", "truesize", "files", "credentials", "arrival")

    def __init__(self, sender, data, truesize, files, credentials):
        self.sender = sender
        self.data = data
        self.consumed = 0
        self.truesize = truesize
        self.files = files                 # references this segment holds
        self.credentials = credentials     # (pid, uid, gid) or None
        self.arrival = time.time_ns()      # for SO_TIMESTAMP*
        sender.write_allocation += truesize

    @property
    def remaining(self):
        return len(self.data) - self.consumed

    def take_files(self):
        files, self.files = self.files, []
        return files

    def free(self):
        """The receiver is done with it: its files are closed, its sender has room again."""
        for file in self.take_files():
            file.decref()
        self.sender.write_allocation -= self.truesize
        self.sender.wait_queue.notify()


# -- names -----------------------------------------------------------------------------------------
class _Names:
    """Where bound sockets are found: by their socket file's (st_dev, st_ino), or by abstract
    name. Abstract names are per socket type, as Linux hashes them."""

    def __init__(self):
        self._by_node = {}
        self._abstract = {}

    def at_node(self, key):
        return self._by_node.get(key)

    def abstract(self, socket_type, address):
        return self._abstract.get((socket_type, address))

    def add_node(self, key, sock):
        self._by_node[key] = sock

    def add_abstract(self, sock):
        self._abstract[(sock.type, sock.address)] = sock

    def forget(self, sock):
        if sock.node_key is not None and self._by_node.get(sock.node_key) is sock:
            del self._by_node[sock.node_key]
        if sock.address is not None and self._abstract.get((sock.type, sock.address)) is sock:
            del self._abstract[(sock.type, sock.address)]


NAMES = _Names()


def _family(address):
    return struct.unpack_from("<H", address)[0] if len(address) >= SUN_PATH_OFFSET else None


def _validate(address):
    """unix_validate_addr()."""
    if not SUN_PATH_OFFSET < len(address) <= SOCKADDR_UN_SIZE or _family(address) != AF_UNIX:
        raise SyscallError(errno.EINVAL)


def _is_abstract(address):
    return address[SUN_PATH_OFFSET] == 0


def _path_of(address):
    """A filesystem name ends at its first NUL, or at the address's end."""
    return address[SUN_PATH_OFFSET:].split(b"\0", 1)[0]


def _node_key(attrs):
    return attrs.dev, attrs.ino


def _find(t, address, socket_type):
    """unix_find_other(): the socket bound to `address` (validated), for a socket of `socket_type`."""
    if _is_abstract(address):
        sock = NAMES.abstract(socket_type, address)
        if sock is None:
            raise SyscallError(errno.ECONNREFUSED)
        return sock
    attrs = t.kernel.vfs.lookup(t, AT_FDCWD, _path_of(address)).inode.stat()
    may_access(attrs, t.creds, MAY_WRITE)
    sock = NAMES.at_node(_node_key(attrs)) if st.S_ISSOCK(attrs.mode) else None
    if sock is None:
        raise SyscallError(errno.ECONNREFUSED)
    if sock.type != socket_type:
        raise SyscallError(errno.EPROTOTYPE)
    return sock


def _may_send(sender, receiver):
    """A datagram socket connected elsewhere takes nothing from others (unix_may_send)."""
    return receiver.peer is None or receiver.peer is sender


# -- sockets -------------------------------------------------------------------------------------------
def new_socket(t, socket_type, protocol, flags):
    """socket(2) for AF_UNIX (unix_create)."""
    if protocol and protocol != AF_UNIX:
        raise SyscallError(errno.EPROTONOSUPPORT)
    if socket_type == SOCK_RAW:
        socket_type = SOCK_DGRAM
    if socket_type not in (SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET):
        raise SyscallError(errno.ESOCKTNOSUPPORT)
    return UnixSocket(socket_type, flags, t.creds)


def new_socketpair(t, socket_type, protocol, flags):
    """socketpair(2): two sockets connected to each other, both crediting the caller."""
    first = new_socket(t, socket_type, protocol, flags)
    second = UnixSocket(first.type, flags, t.creds)
    for sock, peer in ((first, second), (second, first)):
        sock.peer = peer
        sock.state = ESTABLISHED
        sock.peer_creds = credentials_of(t)
    return first, second


class UnixSocket(SocketFile):
    family = AF_UNIX

    def __init__(self, socket_type, flags, creds, accepted=True):
        super().__init__(socket_type, 0, flags, creds)
        self.state = CLOSE
        self.address = None                 # sockaddr bytes, as getsockname(2) gives them
        self.node_key = None                # the socket file's identity, for a path name
        self.peer = None
        self.receive_queue = collections.deque()    # Segments; a listener's: embryos
        self.backlog = MAX_DGRAM_QLEN       # how full the receive queue may get (sk_max_ack_backlog)
        self.write_allocation = 0           # truesize of this socket's segments not yet read
        self.peer_creds = None              # (pid, uid, gid) for SO_PEERCRED
        self.blocked_writers = set()        # datagram senders waiting for room here
        self.connectors = WaitQueue()       # connect() callers waiting for room in the backlog
        self.accepted = accepted            # False for an embryo still on its listener's queue
        self.dead = False

    @property
    def listening(self):
        return self.state == LISTEN

    @property
    def queue_full(self):
        return len(self.receive_queue) > self.backlog

    # -- names ---------------------------------------------------------------------------------
    def bind(self, t, address):
        """bind(2): a path, an abstract name, or just the family to autobind."""
        if len(address) == SUN_PATH_OFFSET and _family(address) == AF_UNIX:
            self.autobind()
            return
        _validate(address)
        if _is_abstract(address):
            self._bind_abstract(address)
        else:
            self._bind_path(t, _path_of(address))

    def _bind_path(self, t, path):
        """The socket file is made first: an existing name is EADDRINUSE even for a socket
        already bound, which then gets EINVAL and its new file removed (unix_bind_bsd)."""
        vfs = t.kernel.vfs
        try:
            vfs.mknod(t, AT_FDCWD, path, st.S_IFSOCK | 0o777, 0)
        except SyscallError as error:
            raise SyscallError(errno.EADDRINUSE if error.errno == errno.EEXIST else error.errno) from None
        if self.address is not None:
            vfs.unlink(t, AT_FDCWD, path)
            raise SyscallError(errno.EINVAL)
        self.node_key = _node_key(vfs.lookup(t, AT_FDCWD, path, follow=False).inode.stat())
        self.address = UNNAMED + path + b"\0"
        NAMES.add_node(self.node_key, self)

    def _bind_abstract(self, address):
        if self.address is not None:
            raise SyscallError(errno.EINVAL)
        if NAMES.abstract(self.type, address) is not None:
            raise SyscallError(errno.EADDRINUSE)
        self.address = address
        NAMES.add_abstract(self)

    def autobind(self):
        """An abstract name of five hex digits, from a random start (unix_autobind)."""
        if self.address is not None:
            return
        start = int.from_bytes(os.urandom(3), "little") & 0xFFFFF
        for step in range(1, (1 << 20) + 1):
            name = UNNAMED + b"\0%05x" % ((start + step) & 0xFFFFF)
            if NAMES.abstract(self.type, name) is None:
                self.address = name
                NAMES.add_abstract(self)
                return
        raise SyscallError(errno.ENOSPC)

    def socket_name(self):
        return self.address or UNNAMED

    def peer_name(self):
        if self.peer is None:
            raise SyscallError(errno.ENOTCONN)
        return self.peer.address or UNNAMED

    def peer_credentials(self):
        return self.peer_creds

    # -- connections -------------------------------------------------------------------------------
    def listen(self, t, backlog):
        if self.type not in CONNECTION_TYPES:
            raise SyscallError(errno.EOPNOTSUPP)
        if self.address is None or self.state not in (CLOSE, LISTEN):
            raise SyscallError(errno.EINVAL)
        if backlog > self.backlog:
            self.connectors.notify()
        self.backlog = backlog
        self.state = LISTEN
        self.peer_creds = credentials_of(t)       # what connecting clients will see

    def accept(self, t, flags):
        """The next connection, with file status `flags` (SOCK_NONBLOCK)."""
        if self.type not in CONNECTION_TYPES:
            raise SyscallError(errno.EOPNOTSUPP)
        if self.state != LISTEN:
            raise SyscallError(errno.EINVAL)
        self.raise_error()
        if not self.receive_queue:
            if self.shutdown_mask & RCV_SHUTDOWN:
                raise SyscallError(errno.EINVAL)
            self.wait(t, self.timeout(self.default_flags(), self.receive_timeout), self.wait_queue)
        server_end = self.receive_queue.popleft()
        self.connectors.notify()
        server_end.accepted = True
        server_end.flags = os.O_RDWR | (flags & os.O_NONBLOCK)
        server_end.pass_credentials |= self.pass_credentials
        return server_end

    def connect(self, t, address):
        if self.type in CONNECTION_TYPES:
            self._connect_stream(t, address)
        else:
            self._connect_datagram(t, address)

    def _connect_stream(self, t, address):
        """unix_stream_connect(): the server's end is made now and waits on the listener."""
        _validate(address)
        if self.pass_credentials:
            self.autobind()
        timeout = self.timeout(self.default_flags(), self.send_timeout)
        listener = _find(t, address, self.type)
        if listener.state != LISTEN or listener.shutdown_mask & RCV_SHUTDOWN:
            raise SyscallError(errno.ECONNREFUSED)
        if listener.queue_full:
            self.wait(t, timeout, listener.connectors)
        if self.state != CLOSE:
            raise SyscallError(errno.EISCONN if self.state == ESTABLISHED else errno.EINVAL)
        server_end = UnixSocket(self.type, 0, t.creds, accepted=False)
        server_end.state = ESTABLISHED
        server_end.peer = self
        server_end.peer_creds = credentials_of(t)
        server_end.address = listener.address
        self.peer = server_end
        self.state = ESTABLISHED
        self.peer_creds = listener.peer_creds
        listener.receive_queue.append(server_end)
        listener.wait_queue.notify()

    def _connect_datagram(self, t, address):
        """unix_dgram_connect(): set (or, with AF_UNSPEC, clear) the default receiver."""
        if len(address) < SUN_PATH_OFFSET:
            raise SyscallError(errno.EINVAL)
        receiver = None
        if _family(address) != AF_UNSPEC:
            _validate(address)
            if self.pass_credentials:
                self.autobind()
            receiver = _find(t, address, self.type)
            if not _may_send(self, receiver):
                raise SyscallError(errno.EPERM)
            self.state = receiver.state = ESTABLISHED
        old_receiver, self.peer = self.peer, receiver
        if old_receiver is None:
            return
        if receiver is None:
            self.state = CLOSE
        old_receiver.blocked_writers.discard(self)
        self.wait_queue.notify()
        if receiver is not old_receiver:
            self._forget_datagrams_from(old_receiver)
            if old_receiver.peer is None:
                old_receiver.state = CLOSE

    def _forget_datagrams_from(self, old_peer):
        """A datagram socket that changes peers drops what it had queued (unix_dgram_disconnected);
        a peer connected back to it learns of the loss."""
        if not self.receive_queue:
            return
        self._purge_queue()
        self._wake_blocked_writers()
        if not old_peer.dead and old_peer.peer is self:
            old_peer.error = errno.ECONNRESET
            old_peer.wait_queue.notify()

    def shutdown(self, how):
        if not SHUT_RD <= how <= SHUT_RDWR:
            raise SyscallError(errno.EINVAL)
        mode = how + 1                            # SHUT_RD -> RCV_SHUTDOWN, SHUT_WR -> SEND_SHUTDOWN
        self.shutdown_mask |= mode
        self.wait_queue.notify()
        self.connectors.notify()
        self._wake_blocked_writers()
        peer = self.peer
        if peer is not None and self.type in CONNECTION_TYPES:
            peer.shutdown_mask |= ((SEND_SHUTDOWN if mode & RCV_SHUTDOWN else 0)
                                   | (RCV_SHUTDOWN if mode & SEND_SHUTDOWN else 0))
            peer.wait_queue.notify()

    def release(self):
        self._close(embryo=False)

    def _close(self, embryo):
        """unix_release_sock(): a connected peer sees a hang-up, and ECONNRESET if this end
        dies with unread data or before it was accepted; queued connections are refused."""
        NAMES.forget(self)
        was_listening = self.state == LISTEN
        self.dead = True
        self.shutdown_mask = SHUTDOWN_MASK
        self.state = CLOSE
        peer, self.peer = self.peer, None
        self._wake_blocked_writers()
        if peer is not None:
            if self.type in CONNECTION_TYPES:
                peer.shutdown_mask = SHUTDOWN_MASK
                if self.receive_queue or embryo:
                    peer.error = errno.ECONNRESET
            peer.blocked_writers.discard(self)
            peer.wait_queue.notify()
        if was_listening:
            while self.receive_queue:
                self.receive_queue.popleft()._close(embryo=True)
        self._purge_queue()
        self.wait_queue.notify()
        self.connectors.notify()

    def _purge_queue(self):
        while self.receive_queue:
            self.receive_queue.popleft().free()

    def _wake_blocked_writers(self):
        writers, self.blocked_writers = self.blocked_writers, set()
        for writer in writers:
            writer.wait_queue.notify()

    # -- sending --------------------------------------------------------------------------------
    def send(self, t, data, flags, address=None, control=NO_CONTROL):
        if self.type == SOCK_STREAM:
            return self._send_stream(t, data, flags, address, control)
        if self.type == SOCK_SEQPACKET:
            self.raise_error()
            if self.state != ESTABLISHED:
                raise SyscallError(errno.ENOTCONN)
            address = None
        return self._send_datagram(t, data, flags, address, control)

    def _send_stream(self, t, data, flags, address, control):
        """unix_stream_sendmsg(). Once some bytes are queued, a send that would wait returns
        the count instead (callers loop on short sends), so that a signal never loses it."""
        if flags & MSG_OOB:
            raise SyscallError(errno.EOPNOTSUPP)
        if address is not None:
            raise SyscallError(errno.EISCONN if self.state == ESTABLISHED else errno.EOPNOTSUPP)
        peer = self.peer
        if peer is None:
            raise SyscallError(errno.ENOTCONN)
        if self.shutdown_mask & SEND_SHUTDOWN:
            self._broken_pipe(t, flags)
        timeout = self.timeout(flags, self.send_timeout)
        files = control.files                     # they go with the first buffer only
        sent = 0
        while sent < len(data):
            try:
                self._wait_for_room(t, timeout if not sent else 0)
            except SyscallError:
                if not sent:
                    raise
                break
            if peer.dead or peer.shutdown_mask & RCV_SHUTDOWN:
                if sent:
                    break
                self._broken_pipe(t, flags)
            size, truesize = _stream_chunk(len(data) - sent, self.send_buffer)
            peer.enqueue(Segment(self, data[sent:sent + size], truesize, [file.incref() for file in files],
                                 self._credentials_for(t, peer, control)))
            files = ()
            sent += size
        return sent

    def _send_datagram(self, t, data, flags, address, control):
        """unix_dgram_sendmsg(), for datagram and seqpacket sockets."""
        if flags & MSG_OOB:
            raise SyscallError(errno.EOPNOTSUPP)
        if address is not None:
            _validate(address)
        elif self.peer is None:
            raise SyscallError(errno.ENOTCONN)
        if self.pass_credentials:
            self.autobind()
        if len(data) > self.send_buffer - 32:
            raise SyscallError(errno.EMSGSIZE)
        timeout = self.timeout(flags, self.send_timeout)
        self._wait_for_room(t, timeout)
        receiver = self.peer if address is None else _find(t, address, self.type)
        if not _may_send(self, receiver):
            raise SyscallError(errno.EPERM)
        if receiver.dead:                         # only a connected peer can be gone
            if self.type == SOCK_SEQPACKET:
                raise SyscallError(errno.EPIPE)
            self.peer = None
            self.state = CLOSE
            self._forget_datagrams_from(receiver)
            raise SyscallError(errno.ECONNREFUSED)
        if receiver.shutdown_mask & RCV_SHUTDOWN:
            raise SyscallError(errno.EPIPE)
        if receiver is not self and receiver.peer is not self and receiver.queue_full:
            receiver.blocked_writers.add(self)
            self.wait(t, timeout, self.wait_queue)
        receiver.enqueue(Segment(self, data, _datagram_truesize(len(data)),
                                 [file.incref() for file in control.files],
                                 self._credentials_for(t, receiver, control)))
        return len(data)

    def _wait_for_room(self, t, timeout):
        """sock_alloc_send_pskb(): wait while this socket's queued buffers fill SO_SNDBUF."""
        self.raise_error()
        if self.shutdown_mask & SEND_SHUTDOWN:
            raise SyscallError(errno.EPIPE)
        if self.write_allocation >= self.send_buffer:
            self.wait(t, timeout, self.wait_queue)

    @staticmethod
    def _broken_pipe(t, flags):
        if flags & MSG_NOSIGNAL:
            raise SyscallError(errno.EPIPE)
        on_broken_pipe(t)

    def _credentials_for(self, t, receiver, control):
        """Credentials travel when the sender gave them, when either end has SO_PASSCRED, or
        when the receiver is an embryo that may turn it on (maybe_add_creds)."""
        if control.credentials is not None:
            return control.credentials
        if self.pass_credentials or receiver.pass_credentials or not receiver.accepted:
            return (t.tg.tgid, t.creds.uid, t.creds.gid)
        return None

    def enqueue(self, segment):
        self.receive_queue.append(segment)
        self.wait_queue.notify()

    # -- receiving --------------------------------------------------------------------------------
    def receive(self, t, size, flags):
        if self.type == SOCK_STREAM:
            return self._receive_stream(t, size, flags)
        if self.type == SOCK_SEQPACKET and self.state != ESTABLISHED:
            raise SyscallError(errno.ENOTCONN)
        return self._receive_datagram(t, size, flags)

    def _receive_datagram(self, t, size, flags):
        """unix_dgram_recvmsg(): one datagram, cut to `size` (MSG_TRUNC then says so)."""
        if flags & MSG_OOB:
            raise SyscallError(errno.EOPNOTSUPP)
        timeout = self.timeout(flags, self.receive_timeout)
        self.raise_error()
        if not self.receive_queue:
            end_of_file = self.shutdown_mask & RCV_SHUTDOWN
            if not self.may_wait(t, timeout):
                if end_of_file and self.type == SOCK_SEQPACKET:
                    return Received(b"")
                raise SyscallError(errno.EAGAIN)
            if end_of_file:
                return Received(b"")
            self.wait(t, timeout, self.wait_queue)
        segment = self.receive_queue[0]
        if flags & MSG_PEEK:
            files = [file.incref() for file in segment.files]
        else:
            files = segment.take_files()
            self.receive_queue.popleft()
            segment.free()
            self._wake_blocked_writers()
        received = Received.datagram(segment.data, size, flags, segment.sender.address, files,
                                     self._reported_credentials(segment))
        self.add_timestamp(received, segment.arrival)
        return received

    def _receive_stream(self, t, size, flags):
        """unix_stream_read_generic(): bytes across segments, at least SO_RCVLOWAT of them
        (all of `size` with MSG_WAITALL) unless the stream ends, fails or times out first.

        A MSG_WAITALL read waits before taking anything, so that a signal loses no data; it
        settles for less when the writer cannot add more (its buffer is full)."""
        if self.state != ESTABLISHED:
            raise SyscallError(errno.EINVAL)
        if flags & MSG_OOB:
            raise SyscallError(errno.EOPNOTSUPP)
        timeout = self.timeout(flags, self.receive_timeout)
        target = (size if flags & MSG_WAITALL else min(self.receive_lowat, size)) or 1
        plan, queue_ran_out = self._stream_plan(size)
        available = sum(chunk for _, chunk in plan)
        if queue_ran_out and available < target:
            error = self.take_error()
            if error and not available:
                raise SyscallError(error)
            wants_more = not error and not self.shutdown_mask & RCV_SHUTDOWN
            if wants_more and (not available or self._peer_may_send_more()):
                if self.may_wait(t, timeout):
                    self.wait(t, timeout, self.wait_queue)
                if not available:
                    raise SyscallError(errno.EAGAIN)
        return self._take(plan, flags)

    def _stream_plan(self, size):
        """The (segment, byte count) pairs a read of `size` bytes takes now, and whether it stopped
        only because the queue ran out. A read stops after a segment carrying files, and with
        SO_PASSCRED before a segment from other credentials: messages of different writers are
        never glued together."""
        plan = []
        for segment in self.receive_queue:
            if not size:
                return plan, False
            if self.pass_credentials and plan and segment.credentials != plan[0][0].credentials:
                return plan, False
            chunk = min(segment.remaining, size)
            plan.append((segment, chunk))
            size -= chunk
            if segment.files:
                return plan, False
        return plan, size > 0 or not plan

    def _peer_may_send_more(self):
        peer = self.peer
        return (peer is not None and not peer.dead and not peer.shutdown_mask & SEND_SHUTDOWN
                and peer.write_allocation < peer.send_buffer)

    def _take(self, plan, flags):
        pieces, files = [], []
        for segment, chunk in plan:
            pieces.append(segment.data[segment.consumed:segment.consumed + chunk])
            if flags & MSG_PEEK:
                files += [file.incref() for file in segment.files]
                continue
            files += segment.take_files()
            segment.consumed += chunk
            if not segment.remaining:
                self.receive_queue.popleft()
                segment.free()
        first = plan[0][0] if plan else None
        credentials = None
        if self.pass_credentials:
            credentials = self._reported_credentials(first) if first else (0, 0, 0)
        received = Received(b"".join(pieces), address=first.sender.address if first else None, files=files,
                            credentials=credentials)
        # TCP stamps a read with the arrival of its last segment; unix streams never stamp.
        if plan and self.family != AF_UNIX:
            self.add_timestamp(received, plan[-1][0].arrival)
        return received

    def _reported_credentials(self, segment):
        """SCM_CREDENTIALS as a receiver with SO_PASSCRED sees them: unknown ids are overflow ids."""
        if not self.pass_credentials:
            return None
        return segment.credentials or (0, OVERFLOW_ID, OVERFLOW_ID)

    # -- readiness and queries -------------------------------------------------------------------
    def poll_events(self):
        """unix_poll() and unix_dgram_poll()."""
        events = POLLERR if self.error else 0
        if self.shutdown_mask & RCV_SHUTDOWN:
            events |= POLLRDHUP | POLLIN | POLLRDNORM
        if self.shutdown_mask == SHUTDOWN_MASK:
            events |= POLLHUP
        if self.receive_queue:
            events |= POLLIN | POLLRDNORM
        if self.type in CONNECTION_TYPES and self.state == CLOSE:
            events |= POLLHUP
        if self._writable():
            events |= POLLOUT | POLLWRNORM | POLLWRBAND
        return events

    def _writable(self):
        if self.state == LISTEN or self.write_allocation * 4 > self.send_buffer:
            return False
        receiver = self.peer
        if (self.type != SOCK_STREAM and receiver is not None and receiver.peer is not self
                and receiver.queue_full and not receiver.dead):
            receiver.blocked_writers.add(self)    # so that its next read wakes this socket's pollers
            return False
        return True

    def bytes_available(self):
        """FIONREAD/SIOCINQ: a stream's unread bytes; a datagram socket's next datagram."""
        if self.state == LISTEN:
            raise SyscallError(errno.EINVAL)
        if self.type == SOCK_DGRAM:
            return len(self.receive_queue[0].data) if self.receive_queue else 0
        return sum(segment.remaining for segment in self.receive_queue)

    def ioctl(self, t, cmd, arg):
        if cmd == SIOCOUTQ:
            t.copy_out_u32(arg, self.write_allocation)
            return 0
        if cmd == SIOCATMARK:
            t.copy_out_u32(arg, 0)                # no out-of-band data here
            return 0
        return super().ioctl(t, cmd, arg)

