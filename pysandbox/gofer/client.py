"""The sentry's side of the gofer: starting it, calling it, and noticing that it died."""
import errno
import os
import _signal as signal  # the C module: `signal` adds enum's import, ~2 ms of every start
import _socket  # the C module: `socket` would add ~3 ms of enum set-up to every start
import struct
import time

from pysandbox.sentry.errors import SandboxError, SyscallError
from pysandbox.sentry.vfs.inode import DirEntry
from pysandbox.sentry.vfs.stat import StatResult

from . import protocol as p
from .server import run_in_child, socket_pair

REPLY_TIMEOUT = 60  # seconds
DIRECTFS, GOFER = "directfs", "gofer"
MODES = (DIRECTFS, GOFER)
# Chosen by measurement (docs/GOFER.md, bench/fs_gofer.py); PYSANDBOX_GOFER_MODE overrides it.
DEFAULT_GOFER_MODE = os.environ.get("PYSANDBOX_GOFER_MODE") or DIRECTFS


class GoferClient:
    """A running gofer process serving `roots` ((host path, read-only) pairs)."""

    def __init__(self, roots, hand_over=False, reply_timeout=REPLY_TIMEOUT):
        """Fork the gofer for `roots`. With `hand_over` (directfs) it sends the roots' fds in
        its first message and exits: see handed_over."""
        ours, theirs = socket_pair()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:
            ours.close()
            run_in_child(roots, theirs, hand_over, parent)
        theirs.close()
        self.pid = pid
        # Waited for and signalled only through this: once the ptrace platform (which waits
        # for any child) has collected the gofer, its pid may belong to a stub.
        self.pidfd = os.pidfd_open(pid)
        self.sock = ours
        self.dead = False
        self.on_death = []          # callables run once when the gofer is found dead
        self._pending_closes = []   # nodes released since the last call (see release())
        # A gofer that stops answering (stopped, wedged) counts as dead rather than hanging the sandbox.
        timeout = struct.pack("ll", int(reply_timeout), int(reply_timeout % 1 * 1e6))
        ours.setsockopt(_socket.SOL_SOCKET, _socket.SO_RCVTIMEO, timeout)
        try:
            ready, fds = p.receive(ours)
        except (OSError, p.ProtocolError):
            ready, fds = b"", []
        if not ready:
            self.close()
            raise SandboxError("the gofer process failed to start", 125)
        self.handed_over = (p.decode_reply(ready), fds)  # directfs: ([errno, mode, leaf]*, fds)

    def call(self, op, *args):
        """(results, fds) of one request; SyscallError for the gofer's errno, EIO once it is gone."""
        if self.dead:
            raise SyscallError(errno.EIO)
        try:
            while self._pending_closes:
                p.send(self.sock, p.encode_request(p.CLOSE, self._pending_closes.pop()))
            p.send(self.sock, p.encode_request(op, *args))
            data, fds = p.receive(self.sock)
        except (OSError, p.ProtocolError):
            data, fds = b"", []
        if not data:
            self._died()
            raise SyscallError(errno.EIO)
        try:
            return p.decode_reply(data), fds
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise

    def release(self, node):
        """Forget a node; sent ahead of the next request (this may run in a finalizer, in the
        middle of another request)."""
        if not self.dead:
            self._pending_closes.append(node)

    def _died(self):
        if self.dead:
            return
        self.dead = True
        self.reap(grace=0)  # it may only have stopped answering
        for callback in self.on_death:
            callback()

    def reap(self, grace=2.0):
        """Collect the gofer's exit status, killing it if it has not exited within `grace`
        seconds (the ptrace platform, which waits for any child, may have collected it)."""
        if self.pidfd is None:
            return
        deadline = time.monotonic() + grace
        try:
            while os.waitid(os.P_PIDFD, self.pidfd, os.WEXITED | os.WNOHANG) is None:
                if time.monotonic() > deadline:
                    # Not collected yet (waitid just said so), so its pid is still its own; kill(2)
                    # is on the sentry's allowlist, pidfd_send_signal(2) is not.
                    os.kill(self.pid, signal.SIGKILL)
                    os.waitid(os.P_PIDFD, self.pidfd, os.WEXITED)
                    break
                time.sleep(0.0002)
        except ChildProcessError:
            pass
        os.close(self.pidfd)
        self.pidfd = None

    def close(self):
        """End the gofer (it exits when its socket closes) and collect it."""
        self.dead = True
        self.sock.close()
        self.reap()


class GoferHost:
    """HostOps' interface (pysandbox/gofer/hostops.py) served by a gofer: handles are node numbers."""

    def __init__(self, client):
        self.client = client

    def _call(self, op, *args):
        return self.client.call(op, *args)[0]

    def attach(self, index):
        """(node, st_mode, leaf) of configured root `index`: leaf names the file in that
        directory for a file bind mount, else it is b""."""
        node, mode, leaf = self._call(p.ATTACH, index)
        return node, mode, leaf

    def walk(self, node, name):
        child, mode = self._call(p.WALK, node, name)
        return child, mode

    def release(self, node):
        self.client.release(node)

    def stat(self, node):
        return StatResult(*self._call(p.STAT, node))

    def statfs(self, node):
        return tuple(self._call(p.STATFS, node))

    def readlink(self, node, name):
        return self._call(p.READLINK, node, name)[0]

    def open(self, node, name, flags):
        _, fds = self.client.call(p.OPEN, node, name, flags)
        if len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise SyscallError(errno.EIO)
        return fds[0]

    def list(self, node):
        entries = []
        more = True
        while more:
            results = self._call(p.GETDENTS, node, len(entries))
            more = results[0]
            entries += [DirEntry(results[i + 2], results[i], results[i + 1]) for i in range(1, len(results), 3)]
        return entries

    def create(self, node, name, mode, uid, gid):
        self._call(p.CREATE, node, name, mode, uid, gid)

    def mkdir(self, node, name, mode, uid, gid):
        self._call(p.MKDIR, node, name, mode, uid, gid)

    def mknod(self, node, name, mode, uid, gid):
        self._call(p.MKNOD, node, name, mode, uid, gid)

    def symlink(self, node, name, target, uid, gid):
        self._call(p.SYMLINK, node, name, target, uid, gid)

    def link(self, src_node, src_name, node, name):
        self._call(p.LINK, src_node, src_name, node, name)

    def unlink(self, node, name, flags):
        self._call(p.UNLINK, node, name, flags)

    def rename(self, node, name, new_node, new_name, flags):
        self._call(p.RENAME, node, name, new_node, new_name, flags)

    def setattr(self, node, name, mode=None, uid=None, gid=None, size=None, atime_ns=None, mtime_ns=None):
        fields = ((p.SET_MODE, mode), (p.SET_UID, uid), (p.SET_GID, gid), (p.SET_SIZE, size),
                  (p.SET_ATIME, atime_ns), (p.SET_MTIME, mtime_ns))
        mask = 0
        for bit, value in fields:
            if value is not None:
                mask |= bit
        self._call(p.SETATTR, node, name, mask, *(value or 0 for _, value in fields))

    # Extended attributes: only the serving gofer has them (directfs keeps the sentry's host
    # allowlist without the xattr calls, and its host files answer EOPNOTSUPP).

    def getxattr(self, node, name, key):
        return self._call(p.GETXATTR, node, name, key)[0]

    def setxattr(self, node, name, key, value, flags):
        self._call(p.SETXATTR, node, name, key, value, flags)

    def listxattr(self, node, name):
        return [key for key in self._call(p.LISTXATTR, node, name)[0].split(b"\0") if key]

    def removexattr(self, node, name, key):
        self._call(p.REMOVEXATTR, node, name, key)


def connect_roots(roots, mode):
    """(host operations, [(root handle, st_mode, leaf)], GoferClient) for `roots`, served in `mode`.

    gofer: the gofer keeps running and every host access is a request to it.
    directfs: the gofer opens the roots, hands their fds over in its first message and
    exits; the sentry then makes the single-name *at calls itself (pysandbox/gofer/hostops.py).
    """
    from .hostops import HostOps
    if mode not in MODES:
        raise SandboxError(f"unknown gofer mode {mode!r} (use {' or '.join(MODES)})", 2)
    if mode == DIRECTFS:
        return HostOps, *_handed_over_roots(roots)
    client = GoferClient(roots)
    host = GoferHost(client)
    handles = []
    try:
        for index, (path, _) in enumerate(roots):
            try:
                handles.append(host.attach(index))
            except SyscallError as error:
                raise _root_error(path, error.errno) from None
    except BaseException:
        client.close()
        raise
    return host, handles, client


def _handed_over_roots(roots):
    """(root fds, the exiting gofer): it is collected by close(), at the sandbox's end, so
    that start-up does not wait for a forked interpreter to exit."""
    client = GoferClient(roots, hand_over=True)
    client.dead = True
    client.sock.close()
    results, fds = client.handed_over
    handed = []
    fds = iter(fds)
    try:
        for index, (path, _) in enumerate(roots):
            error, mode, leaf = results[3 * index:3 * index + 3]
            if error:
                raise _root_error(path, error)
            handed.append((next(fds), mode, leaf))
    except BaseException:
        for fd in [handle for handle, _, _ in handed] + list(fds):
            os.close(fd)
        client.reap()
        raise
    return handed, client


def _root_error(path, error):
    return SandboxError(f"{os.fsdecode(path)}: {os.strerror(error).lower()}", 125)
