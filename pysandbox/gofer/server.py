"""The gofer process: the only pysandbox process that opens host paths of the rootfs and mounts.

It opens each configured root once, then serves the sentry's requests
(pysandbox/gofer/protocol.py) on directory fds it holds, one name at a time
(pysandbox/gofer/hostops.py). The sentry names files by node numbers this
process hands out; it never sees a host path. In directfs mode it hands the
roots' fds over instead and serves only what the sentry's allowlist has no
room for (extended attributes), on fds the sentry sends with each request.
"""
import errno
import fcntl
import os
import _signal as signal  # the C module: `signal` adds enum's import, ~2 ms of every start

from pysandbox.security import hostproc
from pysandbox.sentry.errors import SyscallError

from . import protocol as p
from .hostops import AT_REMOVEDIR, HostOps, HostXattrs

PR_SET_NAME, PR_SET_PDEATHSIG = 15, 1
_MUTATING = {p.CREATE, p.MKDIR, p.MKNOD, p.SYMLINK, p.LINK, p.UNLINK, p.RENAME, p.SETATTR, p.SETXATTR,
             p.REMOVEXATTR}
_WRITE_OPEN = os.O_ACCMODE | os.O_TRUNC
_XATTR_OPS = {p.GETXATTR, p.SETXATTR, p.LISTXATTR, p.REMOVEXATTR}


class GoferServer:
    """Serves requests for `roots` (a list of (host path, read-only)) on `sock`."""

    def __init__(self, roots, sock):
        self.sock = sock
        self.roots = []       # (fd or -errno, read_only): a directory, or the file of a file bind mount
        for path, read_only in roots:
            try:
                self.roots.append((HostOps.open_root(path, read_only), read_only))
            except SyscallError as error:
                self.roots.append((-error.errno, read_only))
        self.nodes = {}       # node number -> (O_PATH fd, read_only)
        self._next_node = 1
        self._listings = {}   # node -> entries of the last GETDENTS from 0, for its continuations

    def hand_over_roots(self):
        """directfs: the ready message carries (errno, st_mode) per root and the roots' fds; this
        process keeps none of them."""
        results, fds = [], []
        for fd, _ in self.roots:
            if fd < 0:
                results += [-fd, 0]
            else:
                results += [0, os.fstat(fd).st_mode]
                fds.append(fd)
        self._reply(p.encode_reply(0, results), fds)
        for fd in fds:
            os.close(fd)
        self.roots = []

    def serve(self, ready=True):
        """Answer requests until the sentry closes its end; `ready`: say so first (directfs:
        the hand-over said it)."""
        if ready:
            self._reply(p.encode_reply(0))  # ready: roots opened, name set
        while True:
            try:
                data, fds = p.receive(self.sock)
            except p.ProtocolError:
                self._reply(p.encode_reply(errno.EINVAL))
                continue
            except OSError:
                return
            if not data:
                return
            try:
                self._answer(data, fds)
            finally:
                for fd in fds:
                    os.close(fd)

    def _answer(self, data, sent_fds):
        """Answer one request; `sent_fds`: what came with it (only a directfs xattr request
        carries one, the file's), closed by the caller."""
        try:
            op, args = p.decode_request(data)
        except p.ProtocolError:
            self._reply(p.encode_reply(errno.EINVAL))
            return
        if op == p.CLOSE:
            self._close_node(args[0])
            return
        reply_fds = []
        try:
            results = self.handle(op, args, reply_fds, sent_fds)
            reply = p.encode_reply(0, results)
        except SyscallError as error:
            reply = p.encode_reply(error.errno)
        except OSError as error:
            reply = p.encode_reply(error.errno or errno.EIO)
        except Exception:  # noqa: BLE001 - a gofer bug answers EIO rather than ending the sandbox
            reply = p.encode_reply(errno.EIO)
        try:
            self._reply(reply, reply_fds)
        finally:
            for fd in reply_fds:
                os.close(fd)

    def _reply(self, reply, fds=()):
        try:
            p.send(self.sock, reply, fds)
        except OSError:
            pass

    def _node(self, node):
        entry = self.nodes.get(node)
        if entry is None:
            raise SyscallError(errno.EBADF)
        return entry

    def _add_node(self, fd, read_only):
        node = self._next_node
        self._next_node += 1
        self.nodes[node] = (fd, read_only)
        return node

    def _close_node(self, node):
        entry = self.nodes.pop(node, None)
        self._listings.pop(node, None)
        if entry is not None:
            os.close(entry[0])

    def handle(self, op, args, reply_fds, sent_fds=()):
        if op == p.ATTACH:
            index = args[0]
            if not 0 <= index < len(self.roots):
                raise SyscallError(errno.ENOENT)
            fd, read_only = self.roots[index]
            if fd < 0:
                raise SyscallError(-fd)
            own = os.dup(fd)
            return [self._add_node(own, read_only), os.fstat(own).st_mode]
        if op in _XATTR_OPS and args[0] == 0:
            fd, read_only = self._sent_file(sent_fds)
        else:
            fd, read_only = self._node(args[0])
        if read_only and (op in _MUTATING or op == p.OPEN and args[2] & _WRITE_OPEN != os.O_RDONLY):
            raise SyscallError(errno.EROFS)
        if op == p.WALK:
            child_fd, mode = HostOps.walk(fd, args[1])
            return [self._add_node(child_fd, read_only), mode]
        if op == p.OPEN:
            reply_fds.append(HostOps.open(fd, args[1], args[2]))
            return []
        if op == p.STAT:
            attrs = HostOps.stat(fd)
            return [attrs.dev, attrs.ino, attrs.mode, attrs.nlink, attrs.uid, attrs.gid, attrs.rdev,
                    attrs.size, attrs.blksize, attrs.blocks, attrs.atime_ns, attrs.mtime_ns, attrs.ctime_ns]
        if op == p.STATFS:
            return list(HostOps.statfs(fd))
        if op == p.READLINK:
            return [HostOps.readlink(fd, args[1])]
        if op == p.GETDENTS:
            return self._getdents(args[0], fd, args[1])
        if op in (p.CREATE, p.MKDIR, p.MKNOD):
            make = {p.CREATE: HostOps.create, p.MKDIR: HostOps.mkdir, p.MKNOD: HostOps.mknod}[op]
            make(fd, *args[1:])
            return []
        if op == p.SYMLINK:
            HostOps.symlink(fd, *args[1:])
            return []
        if op == p.LINK:
            new_dir_fd, new_read_only = self._node(args[2])
            if new_read_only:
                raise SyscallError(errno.EROFS)
            HostOps.link(fd, args[1], new_dir_fd, args[3])
            return []
        if op == p.UNLINK:
            HostOps.unlink(fd, args[1], args[2] & AT_REMOVEDIR)
            return []
        if op == p.RENAME:
            new_dir_fd, new_read_only = self._node(args[2])
            if new_read_only:
                raise SyscallError(errno.EROFS)
            HostOps.rename(fd, args[1], new_dir_fd, args[3], args[4])
            return []
        if op == p.SETATTR:
            return self._setattr(fd, *args[1:])
        if op == p.GETXATTR:
            return [HostXattrs.get(fd, args[1], args[2])]
        if op == p.LISTXATTR:
            return [b"".join(name + b"\0" for name in HostXattrs.list(fd, args[1]))]
        if op == p.SETXATTR:
            HostXattrs.set(fd, *args[1:])
            return []
        if op == p.REMOVEXATTR:
            HostXattrs.remove(fd, args[1], args[2])
            return []
        raise SyscallError(errno.ENOSYS)

    @staticmethod
    def _sent_file(sent_fds):
        """(fd, read_only) of the file a directfs xattr request names: the sentry's O_PATH fd of
        it (or of its directory), as the gofer or a walk made it. Its changes are refused by the
        sentry on a read-only mount, and by the host too: a read-only root is a read-only mount
        copy (hostops.py)."""
        if len(sent_fds) != 1 or not fcntl.fcntl(sent_fds[0], fcntl.F_GETFL) & os.O_PATH:
            raise SyscallError(errno.EBADF)
        return sent_fds[0], False

    def _getdents(self, node, fd, start):
        if start == 0 or node not in self._listings:
            self._listings[node] = HostOps.list(fd)
        entries = self._listings[node]
        batch = entries[start:start + p.GETDENTS_BATCH]
        more = start + len(batch) < len(entries)
        if not more:
            self._listings.pop(node, None)
        results = [int(more)]
        for entry in batch:
            results += [entry.ino, entry.type, entry.name]
        return results

    @staticmethod
    def _setattr(fd, name, mask, mode, uid, gid, size, atime_ns, mtime_ns):
        HostOps.setattr(fd, name,
                        mode=mode if mask & p.SET_MODE else None,
                        uid=uid if mask & p.SET_UID else None,
                        gid=gid if mask & p.SET_GID else None,
                        size=size if mask & p.SET_SIZE else None,
                        atime_ns=atime_ns if mask & p.SET_ATIME else None,
                        mtime_ns=mtime_ns if mask & p.SET_MTIME else None)
        return []


def run_in_child(roots, sock, hand_over, parent_pid):
    """The body of the forked gofer: drop everything inherited but `sock`, then serve."""
    status = 0
    try:
        keep = sock.fileno()
        _set_name_and_parent_death()
        if os.getppid() != parent_pid:
            return  # the sentry died before the death signal was armed
        for signo in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGHUP, signal.SIGTTIN,
                      signal.SIGTTOU, signal.SIGWINCH, signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM):
            signal.signal(signo, signal.SIG_IGN if signo != signal.SIGTERM else signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)
        proc_fd = hostproc.kept_fd()      # the sandbox's proc instance, when it has one
        start = 3
        for fd in sorted(fd for fd in (keep, proc_fd) if fd is not None):
            os.closerange(start, fd)
            start = fd + 1
        os.closerange(start, os.sysconf("SC_OPEN_MAX"))
        server = GoferServer(roots, sock)
        if hand_over:
            server.hand_over_roots()      # first: the sentry's start-up waits for them
        from pysandbox.security.confine import confine_gofer, drop_chroot_capabilities, enter_empty_root
        if proc_fd is not None:
            # Serving from now on, it reaches the host only through the roots it holds (or, in
            # directfs mode, the fds the sentry sends).
            enter_empty_root()
            hostproc.work_from_proc()
        drop_chroot_capabilities()
        confine_gofer()                   # its own, smaller seccomp filter (security/seccomp.py)
        server.serve(ready=not hand_over)
    except BaseException:  # noqa: BLE001 - nothing may unwind into the forked copy of the caller
        status = 1
    finally:
        os._exit(status)


def _set_name_and_parent_death():
    from pysandbox.security.seccomp import SYS_PRCTL, host_syscall
    host_syscall(SYS_PRCTL, PR_SET_NAME, b"pysandbox-gofer\0", 0, 0, 0)
    host_syscall(SYS_PRCTL, PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
