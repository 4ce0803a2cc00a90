"""The gofer's wire format (docs/GOFER.md): one SOCK_SEQPACKET message per request and per reply.

A request is the operation's number (u8) followed by its arguments; a reply is
an errno (i32, 0 for success) followed by the results. Each argument or
result is tagged: b"i" + a signed 64-bit little-endian integer, or b"b" + a
u32 length + that many bytes. File descriptors ride on the reply as
SCM_RIGHTS. Nothing else is ever decoded: the gofer must not trust the
sentry, so there is no pickle and no format the sender could steer.
"""
import array
import errno
import _socket  # the C module: `socket` would add ~3 ms of enum set-up to every start
import struct

from pysandbox.sentry.errors import SyscallError

ATTACH, WALK, CLOSE, OPEN, CREATE, MKDIR, MKNOD, SYMLINK, LINK, UNLINK, RENAME, READLINK, STAT, \
    SETATTR, GETDENTS, STATFS, GETXATTR, SETXATTR, LISTXATTR, REMOVEXATTR = range(1, 21)
OP_NAMES = {ATTACH: "attach", WALK: "walk", CLOSE: "close", OPEN: "open", CREATE: "create",
            MKDIR: "mkdir", MKNOD: "mknod", SYMLINK: "symlink", LINK: "link", UNLINK: "unlink",
            RENAME: "rename", READLINK: "readlink", STAT: "stat", SETATTR: "setattr",
            GETDENTS: "getdents", STATFS: "statfs", GETXATTR: "getxattr", SETXATTR: "setxattr",
            LISTXATTR: "listxattr", REMOVEXATTR: "removexattr"}
# The argument kinds of each request ("i" integer, "b" bytes); the gofer refuses anything else.
REQUEST_ARGS = {
    ATTACH: "i", WALK: "ib", CLOSE: "i", OPEN: "ibi", CREATE: "ibiii", MKDIR: "ibiii", MKNOD: "ibiii",
    SYMLINK: "ibbii", LINK: "ibib", UNLINK: "ibi", RENAME: "ibibi", READLINK: "ib", STAT: "i",
    SETATTR: "ibiiiiiii", GETDENTS: "ii", STATFS: "i", GETXATTR: "ibb", SETXATTR: "ibbbi", LISTXATTR: "ib",
    REMOVEXATTR: "ibb",
}
# SETATTR's first integer says which of the following fields are set.
SET_MODE, SET_UID, SET_GID, SET_SIZE, SET_ATIME, SET_MTIME = 1, 2, 4, 8, 16, 32
MAX_MESSAGE = 1 << 17
MAX_FDS = 253  # SCM_MAX_FD; the directfs hand-over carries one fd per root
GETDENTS_BATCH = 512

_INT = struct.Struct("<cq")
_BYTES = struct.Struct("<cI")
_ERRNO = struct.Struct("<i")


class ProtocolError(Exception):
    """A message that does not follow the format."""


def encode(values):
    parts = []
    for value in values:
        if isinstance(value, bytes):
            parts.append(_BYTES.pack(b"b", len(value)))
            parts.append(value)
        else:
            parts.append(_INT.pack(b"i", value))
    return b"".join(parts)


def decode(data, offset=0):
    values = []
    while offset < len(data):
        tag = data[offset:offset + 1]
        if tag == b"i":
            if offset + _INT.size > len(data):
                raise ProtocolError("truncated integer")
            values.append(_INT.unpack_from(data, offset)[1])
            offset += _INT.size
        elif tag == b"b":
            if offset + _BYTES.size > len(data):
                raise ProtocolError("truncated length")
            length = _BYTES.unpack_from(data, offset)[1]
            offset += _BYTES.size
            if offset + length > len(data):
                raise ProtocolError("truncated bytes")
            values.append(bytes(data[offset:offset + length]))
            offset += length
        else:
            raise ProtocolError(f"unknown tag {tag!r}")
    return values


def encode_request(op, *args):
    return bytes([op]) + encode(args)


def decode_request(data):
    """(op, args) of a request, its argument kinds checked against REQUEST_ARGS."""
    if not data:
        raise ProtocolError("empty request")
    op = data[0]
    kinds = REQUEST_ARGS.get(op)
    if kinds is None:
        raise ProtocolError(f"unknown operation {op}")
    args = decode(data, 1)
    if len(args) != len(kinds) or any((kind == "b") != isinstance(arg, bytes) for kind, arg in zip(kinds, args)):
        raise ProtocolError(f"bad arguments for {OP_NAMES[op]}")
    return op, args


def encode_reply(error, results=()):
    return _ERRNO.pack(error) + encode(results)


def send(sock, data, fds=()):
    ancillary = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    sock.sendmsg([data], ancillary)


def receive(sock):
    """(message, fds) of the next message; b"" when the peer has gone."""
    fds = array.array("i")
    data, ancillary, flags, _ = sock.recvmsg(MAX_MESSAGE, _socket.CMSG_SPACE(MAX_FDS * fds.itemsize))
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    if flags & (_socket.MSG_TRUNC | _socket.MSG_CTRUNC):
        for fd in fds:
            _close_quietly(fd)
        raise ProtocolError("message too long")
    return data, list(fds)


def decode_reply(data):
    """The results of a reply, or SyscallError for its errno."""
    if len(data) < _ERRNO.size:
        raise ProtocolError("short reply")
    error = _ERRNO.unpack_from(data)[0]
    if error:
        raise SyscallError(error if 0 < error < 4096 else errno.EIO)
    return decode(data, _ERRNO.size)


def _close_quietly(fd):
    import os
    try:
        os.close(fd)
    except OSError:
        pass
