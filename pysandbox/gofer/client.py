"""The sentry's side of the gofer: starting it, calling it, and noticing that it died."""
import errno
import os
import _signal as signal  # the C module: `signal` adds enum's import, ~2 ms of every start
import _socket  # the C module: `socket` would add ~3 ms of enum set-up to every start
import select
import struct

from pysandbox.sentry.errors import SandboxError, SyscallError
from pysandbox.sentry.weakrefs import WeakOrderedSet
from pysandbox.sentry.vfs.stat import DirEntry, StatResult

from . import protocol as p
from .hostops import HostOps
from .start import DEFAULT_GOFER_MODE, DIRECTFS, MODES, fork_gofer  # noqa: F401 (DEFAULT_GOFER_MODE: for vfs.py)

REPLY_TIMEOUT = 60  # seconds


class GoferClient:
    """A running gofer process serving `roots` ((host path, read-only) pairs)."""

    # The gofers of this process not closed yet: a process that builds VFSes of its own and
    # drops them (the tests) ends their gofers with close_all().
    running = WeakOrderedSet()

    def __init__(self, roots, hand_over=False, reply_timeout=REPLY_TIMEOUT, started=None):
        """Fork the gofer for `roots`, or take over `started`, a gofer/start.py StartedGofer
        forked for them earlier. With `hand_over` (directfs) it sends the roots' fds in
        its first message and then serves xattr requests only: see handed_over."""
        pid, ours = (started.take(roots, hand_over) if started is not None else None) or fork_gofer(roots, hand_over)
        self.pid = pid
        self.running.add(self)
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
        self.handed_over = (p.decode_reply(ready), fds)  # directfs: ([errno, mode]*, fds)

    def call(self, op, *args, fds=()):
        """(results, fds) of one request, sent with `fds`; SyscallError for the gofer's errno,
        EIO once it is gone."""
        if self.dead:
            raise SyscallError(errno.EIO)
        try:
            while self._pending_closes:
                p.send(self.sock, p.encode_request(p.CLOSE, self._pending_closes.pop()))
            p.send(self.sock, p.encode_request(op, *args), fds)
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
        try:
            if os.waitid(os.P_PIDFD, self.pidfd, os.WEXITED | os.WNOHANG) is None:
                # A pidfd polls readable once its process has exited.
                poller = select.poll()
                poller.register(self.pidfd, select.POLLIN)
                if not poller.poll(int(grace * 1000)):
                    # Not collected yet (waitid just said so), so its pid is still its own; kill(2)
                    # is on the sentry's allowlist, pidfd_send_signal(2) is not.
                    os.kill(self.pid, signal.SIGKILL)
                os.waitid(os.P_PIDFD, self.pidfd, os.WEXITED)
        except ChildProcessError:
            pass
        self._forget_pidfd()

    def _forget_pidfd(self):
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None

    def close(self, wait=True):
        """End the gofer (it exits when its socket closes) and, with `wait`, collect it."""
        self.dead = True
        self.running.discard(self)
        self.sock.close()
        if wait:
            self.reap()
        else:
            self._forget_pidfd()

    @classmethod
    def close_all(cls):
        for client in list(cls.running):
            client.close()


class _XattrRequests:
    """The extended attribute calls of HostOps' interface, as requests to the gofer in both modes;
    _xattr_call(handle, op, *args) sends one."""

    def getxattr(self, handle, name, key):
        return self._xattr_call(handle, p.GETXATTR, name, key)[0]

    def setxattr(self, handle, name, key, value, flags):
        self._xattr_call(handle, p.SETXATTR, name, key, value, flags)

    def listxattr(self, handle, name):
        return [key for key in self._xattr_call(handle, p.LISTXATTR, name)[0].split(b"\0") if key]

    def removexattr(self, handle, name, key):
        self._xattr_call(handle, p.REMOVEXATTR, name, key)


class GoferHost(_XattrRequests):
    """HostOps' interface (pysandbox/gofer/hostops.py) served by a gofer: handles are node numbers."""

    def __init__(self, client):
        self.client = client

    def _call(self, op, *args):
        return self.client.call(op, *args)[0]

    def attach(self, index):
        """(node, st_mode) of configured root `index`: a directory, or the file of a file bind."""
        node, mode = self._call(p.ATTACH, index)
        return node, mode

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

    def _xattr_call(self, node, op, *args):
        return self._call(op, node, *args)


class DirectfsHost(_XattrRequests, HostOps):
    """directfs: the sentry makes HostOps' calls itself on the fds the gofer handed over, except
    the extended attribute calls, for which its host allowlist has no room: those are requests
    to the gofer, each carrying the sentry's O_PATH fd of the file (or of its directory) as the
    handle (node 0), as gVisor's directfs also leaves some operations to its gofer."""

    def __init__(self, client):
        self.client = client

    def _xattr_call(self, fd, op, *args):
        return self.client.call(op, 0, *args, fds=(fd,))[0]


def connect_roots(roots, mode, started=None):
    """(host operations, [(root handle, st_mode)], GoferClient) for `roots`, served in `mode`;
    `started`: a gofer forked for them earlier (gofer/start.py), taken over if it fits.

    gofer: the gofer keeps running and every host access is a request to it.
    directfs: the gofer opens the roots and hands their fds over in its first message; the
    sentry then makes the single-name *at calls itself (pysandbox/gofer/hostops.py) and asks
    the gofer only for extended attributes (DirectfsHost).
    """
    if mode not in MODES:
        raise SandboxError(f"unknown gofer mode {mode!r} (use {' or '.join(MODES)})", 2)
    if mode == DIRECTFS:
        handed, client = _handed_over_roots(roots, started)
        return DirectfsHost(client), handed, client
    client = GoferClient(roots, started=started)
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


def _handed_over_roots(roots, started=None):
    """([(root fd, st_mode)], the gofer, which stays to serve xattr requests)."""
    client = GoferClient(roots, hand_over=True, started=started)
    results, fds = client.handed_over
    handed = []
    fds = iter(fds)
    try:
        for index, (path, _) in enumerate(roots):
            error, mode = results[2 * index:2 * index + 2]
            if error:
                raise _root_error(path, error)
            handed.append((next(fds), mode))
    except BaseException:
        for fd in [handle for handle, _ in handed] + list(fds):
            os.close(fd)
        client.close()
        raise
    return handed, client


def _root_error(path, error):
    return SandboxError(f"{os.fsdecode(path)}: {os.strerror(error).lower()}", 125)
