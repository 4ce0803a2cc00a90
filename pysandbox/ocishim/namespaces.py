"""The sandbox process's host namespaces (config.json's linux.namespaces that the host provides)."""
import os

from pysandbox.ocishim.spec import HOST_NAMESPACES
from pysandbox.security.confine import MS_PRIVATE, MS_REC
from pysandbox.security.seccomp import libc
from pysandbox.sentry.errors import SandboxError


def enter_namespaces(namespaces):
    """Fresh host namespaces of the kinds listed ((kind, None) pairs), or join those whose path is given."""
    fresh = 0
    for kind, path in namespaces:
        if path is None:
            fresh |= HOST_NAMESPACES[kind]
            continue
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if libc.setns(fd, HOST_NAMESPACES[kind]) != 0:
                raise SandboxError(f"joining the {kind} namespace {path}: {os.strerror(libc.errno)}", 1)
        finally:
            os.close(fd)
    if fresh and libc.unshare(fresh) != 0:
        raise SandboxError(f"unshare: {os.strerror(libc.errno)}", 1)
    if fresh & HOST_NAMESPACES["mount"]:
        libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None)
