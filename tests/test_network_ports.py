"""The loopback netstack's port table against Linux: a hypothesis state machine makes sockets
(IPv4 or IPv6, with or without IPV6_V6ONLY, SO_REUSEADDR, SO_REUSEPORT), binds them to one port
at loopback and wildcard addresses, listens and closes them, through the sentry's handlers and
on the host's loopback at once. Every call must succeed or fail with the same errno."""
from __future__ import annotations

import errno
import ipaddress
import socket
import struct

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from pysandbox.sentry.errors import SyscallError
from pysandbox.sentry.syscalls import sys_file, sys_socket
from pysandbox.sentry.vfs import VFS
from pysandbox.sentry.vfs.netstack import format_address
from pysandbox.sentry.vfs.testing import FakeTask

ADDRESSES = {socket.AF_INET: ["127.0.0.1", "127.0.0.2", "0.0.0.0"],
             socket.AF_INET6: ["::1", "::", "::ffff:127.0.0.1", "::ffff:0.0.0.0"]}
REUSEPORT = (socket.SOL_SOCKET, socket.SO_REUSEPORT)
OPTIONS = [(socket.SOL_SOCKET, socket.SO_REUSEADDR), (socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)]


def _free_port():
    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::", 0))
        return probe.getsockname()[1]


def _errno(call, *args):
    """0, or the errno of the OSError (native) or SyscallError (sentry) the call raised."""
    try:
        call(*args)
        return 0
    except (OSError, SyscallError) as error:
        return error.errno


_VFS = []


def _vfs():
    """One VFS for every run (it starts a gofer process); sockets need none of it."""
    if not _VFS:
        _VFS.append(VFS.for_rootfs("/", read_only=True, overlay=False))
    return _VFS[0]


class PortTable(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.t = FakeTask(_vfs())
        self.port = _free_port()
        self.sockets = []                     # (family, native socket, sentry fd)
        # SO_REUSEPORT on every socket of a run or on none: Linux's bind cache (tb->fastreuseport)
        # lets a mix through that its own conflict check would refuse, which is not modelled.
        self.reuseport = None

    @precondition(lambda self: len(self.sockets) < 6)
    @rule(family=st.sampled_from([socket.AF_INET, socket.AF_INET6]),
          options=st.lists(st.sampled_from(OPTIONS), unique=True), reuseport=st.booleans())
    def new_socket(self, family, options, reuseport):
        if self.reuseport is None:
            self.reuseport = reuseport
        if self.reuseport:
            options = [*options, REUSEPORT]
        native = socket.socket(family, socket.SOCK_STREAM)
        fd = sys_socket.socket(self.t, family, socket.SOCK_STREAM, 0)
        one = self.t.alloc(struct.pack("<i", 1))
        for level, name in options:
            expected = _errno(native.setsockopt, level, name, 1)
            assert _errno(sys_socket.setsockopt, self.t, fd, level, name, one, 4) == expected, (level, name)
        self.sockets.append((family, native, fd))

    @precondition(lambda self: self.sockets)
    @rule(data=st.data())
    def bind(self, data):
        family, native, fd = data.draw(st.sampled_from(self.sockets))
        text = data.draw(st.sampled_from(ADDRESSES[family]))
        raw = format_address(family, ipaddress.ip_address(text), self.port)
        expected = _errno(native.bind, (text, self.port))
        got = _errno(sys_socket.bind, self.t, fd, self.t.alloc(raw), len(raw))
        assert got == expected, (text, errno.errorcode.get(got), errno.errorcode.get(expected))

    @precondition(lambda self: self.sockets)
    @rule(data=st.data())
    def listen(self, data):
        _, native, fd = data.draw(st.sampled_from(self.sockets))
        assert _errno(sys_socket.listen, self.t, fd, 16) == _errno(native.listen, 16)

    @precondition(lambda self: self.sockets)
    @rule(data=st.data())
    def close(self, data):
        entry = data.draw(st.sampled_from(self.sockets))
        self.sockets.remove(entry)
        entry[1].close()
        sys_file.close(self.t, entry[2])

    @invariant()
    def names_agree(self):
        for family, native, fd in self.sockets:
            name, length = self.t.alloc(128), self.t.alloc(struct.pack("<i", 128))
            sys_socket.getsockname(self.t, fd, name, length)
            size = struct.unpack("<i", self.t.copy_in(length, 4))[0]
            port = struct.unpack("!H", self.t.copy_in(name + 2, 2))[0]
            assert (port != 0) == (native.getsockname()[1] != 0)
            assert size == (16 if family == socket.AF_INET else 28)

    def teardown(self):
        for _, native, fd in self.sockets:
            native.close()
            sys_file.close(self.t, fd)


PortTable.TestCase.settings = settings(max_examples=150, stateful_step_count=12, deadline=None,
                                       suppress_health_check=[HealthCheck.too_slow])
test_port_table_matches_linux = PortTable.TestCase
