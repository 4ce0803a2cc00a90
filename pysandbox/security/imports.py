"""Imports after the sentry's chroot into an empty directory.

Syscall handlers and a few rarely used modules are imported on first use, which keeps start-up
short; after the chroot no path leads to them any more. Importing them all first would cost
12-19 ms on this machine, so the sentry keeps a directory fd to each place Python modules come
from (the standard library, site-packages, the pysandbox package) and a last finder on
sys.meta_path reads pure-Python modules and their cached bytecode through those fds. Each fd is
the root of a read-only copy of its directory's mount that is attached nowhere: `..` from it
leads nowhere, so the fds reach exactly those trees and nothing else of the host. (C extensions need an
executable mapping the seccomp filter refuses: confine.LATE_IMPORTS loads them first.)
"""
# The import system's own classes, which importlib.machinery re-exports: always loaded, and the
# importlib package would add its imports (warnings) to every start.
import _frozen_importlib
import _frozen_importlib_external
import os
import struct
import sys

SYS_OPEN_TREE, SYS_MOUNT_SETATTR = 428, 442
OPEN_TREE_CLONE, OPEN_TREE_CLOEXEC = 1, os.O_CLOEXEC
AT_FDCWD, AT_EMPTY_PATH = -100, 0x1000
MOUNT_ATTR_RDONLY = 0x1


def module_roots():
    """The directories Python modules may be imported from, none inside another: the standard
    library, site-packages and the pysandbox package (not the whole tree it sits in)."""
    import pysandbox
    candidates = {os.path.dirname(os.__file__), os.path.dirname(os.path.abspath(pysandbox.__file__))}
    candidates.update(path for path in sys.path if os.path.basename(path) in ("site-packages", "dist-packages"))
    roots = sorted(os.path.realpath(path) for path in candidates if os.path.isdir(path))
    return [root for root in roots if not any(root.startswith(other + "/") for other in roots if other != root)]


def empty_directory(prefix):
    """A new empty directory in /tmp (tempfile costs ms of imports at start-up)."""
    path = f"/tmp/pysandbox-{prefix}-{os.urandom(6).hex()}"
    os.mkdir(path, 0o700)
    return path


def keep_module_roots():
    """{root path: fd of a detached read-only copy of its mount}; OSError if the host refuses.
    open_tree(OPEN_TREE_CLONE) makes the copy without attaching it anywhere, so no umount (whose
    RCU wait costs ms) is needed."""
    from pysandbox.security.seccomp import host_syscall
    kept = {}
    read_only = struct.pack("=4Q", MOUNT_ATTR_RDONLY, 0, 0, 0)          # struct mount_attr
    for root in module_roots():
        fd = host_syscall(SYS_OPEN_TREE, AT_FDCWD, root.encode() + b"\0", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)
        try:
            host_syscall(SYS_MOUNT_SETATTR, fd, b"\0", AT_EMPTY_PATH, read_only, len(read_only))
        except OSError:
            os.close(fd)
            raise
        kept[root] = fd
    return kept


class DirectoryFdFinder:
    """Finds pure-Python modules under the kept roots, by the paths they had before the chroot."""

    def __init__(self, roots):
        self.roots = sorted(roots.items(), key=lambda item: -len(item[0]))

    def locate(self, path):
        """(fd of the root holding `path`, path relative to it), or None."""
        for root, fd in self.roots:
            if path == root:
                return fd, "."
            if path.startswith(root + "/"):
                # Not os.path.relpath (~10 µs a call, several per import): a `..` left in the
                # path stays inside, as `..` from the root of a detached mount is that root.
                return fd, path[len(root) + 1:]
        return None

    def stat(self, path):
        """os.stat of a path under a kept root, by the path it had before the chroot."""
        place = self.locate(path)
        if place is None:
            raise FileNotFoundError(2, "not under a kept module directory", path)
        fd, relative = place
        return os.stat(relative, dir_fd=fd)

    def find_spec(self, fullname, path=None, target=None):
        name = fullname.rpartition(".")[2]
        for directory in (path if path is not None else sys.path):
            place = self.locate(directory)
            if place is None:
                continue
            fd, relative = place
            for candidate, is_package in ((os.path.join(relative, name, "__init__.py"), True),
                                          (os.path.join(relative, name + ".py"), False)):
                try:
                    os.stat(candidate, dir_fd=fd)
                except OSError:
                    continue
                filename = os.path.normpath(os.path.join(directory, candidate[len(relative) + 1:]))
                spec = _frozen_importlib.ModuleSpec(fullname, DirectoryFdLoader(fullname, filename, self),
                                                      origin=filename, is_package=is_package)
                spec.has_location = True
                if is_package:
                    spec.submodule_search_locations = [os.path.dirname(filename)]
                return spec
        return None


class DirectoryFdLoader(_frozen_importlib_external.SourceFileLoader):
    def __init__(self, fullname, path, finder):
        self.name = fullname
        self.path = path
        self.finder = finder

    def get_filename(self, fullname):
        return self.path

    def _where(self, path):
        place = self.finder.locate(path)
        if place is None:
            raise OSError(2, "not under a kept module directory", path)
        return place

    def get_data(self, path):
        fd, relative = self._where(path)
        file_fd = os.open(relative, os.O_RDONLY | os.O_CLOEXEC, dir_fd=fd)
        with os.fdopen(file_fd, "rb") as source:
            return source.read()

    def path_stats(self, path):
        attrs = self.finder.stat(path)
        return {"mtime": attrs.st_mtime, "size": attrs.st_size}


def install_finder(roots):
    """The last finder, and the module bundle's stat through the same fds."""
    from pysandbox import modulebundle
    finder = DirectoryFdFinder(roots)
    sys.meta_path.append(finder)
    if modulebundle.finder is not None:
        modulebundle.finder.stat = finder.stat
