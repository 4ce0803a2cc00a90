"""The control channel between the verbs and a container's sandbox process.

A SOCK_SEQPACKET unix socket in the state directory: each message is one JSON
object, possibly carrying file descriptors (SCM_RIGHTS), so an exec's stdio or
terminal reaches the sandbox as real host fds. A request gets one reply
{"ok": true, ...} or {"ok": false, "error": "..."}; an exec's connection stays
open and later carries {"exited": STATUS}.
"""
import array
import contextlib
import json
import os
import socket

from pysandbox.ocishim.state import ContainerError

MAX_MESSAGE = 1 << 20
MAX_FDS = 8


@contextlib.contextmanager
def short_address(path):
    """`path` as an address that fits sockaddr_un's 108 bytes (Docker's state directories don't):
    through /proc/self/fd/N of its directory."""
    directory_fd = os.open(os.path.dirname(path) or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{directory_fd}/{os.path.basename(path)}"
    finally:
        os.close(directory_fd)


def listen(path):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    with short_address(path) as address:
        server.bind(address)
    os.chmod(path, 0o600)
    server.listen(16)
    return server


def send(sock, message, fds=()):
    """One message (sendmsg(2) even without fds: the sentry's seccomp filter allows no sendto)."""
    data = json.dumps(message).encode()
    socket.send_fds(sock, [data], list(fds))


def receive(sock):
    """(message, fds) of the next message; (None, []) at end of stream."""
    fd_size = array.array("i").itemsize * MAX_FDS
    data, ancillary, _flags, _address = sock.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE(fd_size))
    fds = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            received = array.array("i")
            received.frombytes(payload[:len(payload) - len(payload) % received.itemsize])
            fds.extend(received)
    for fd in fds:
        os.set_inheritable(fd, False)
    if not data:
        for fd in fds:
            os.close(fd)
        return None, []
    try:
        return json.loads(data), fds
    except ValueError:
        for fd in fds:
            os.close(fd)
        return {"op": "invalid"}, []


def connect(container):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        with short_address(container.control_path) as address:
            sock.connect(address)
    except OSError:
        sock.close()
        raise ContainerError(f"container {container.id} is not running (its sandbox process is gone)") from None
    return sock


def request(container, message, fds=()):
    """Send one request to the container's sandbox process; returns its reply or raises ContainerError."""
    with connect(container) as sock:
        return exchange(sock, container, message, fds)


def exchange(sock, container, message, fds=()):
    try:
        send(sock, message, fds)
        reply, _ = receive(sock)
    except OSError as error:
        raise ContainerError(f"container {container.id}: control channel: {error.strerror or error}") from None
    if reply is None:
        raise ContainerError(f"container {container.id}: its sandbox process ended during {message['op']}")
    if not reply.get("ok"):
        raise ContainerError(reply.get("error") or f"{message['op']} failed")
    return reply
