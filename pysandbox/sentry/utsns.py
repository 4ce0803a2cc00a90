"""UTS namespaces (uts_namespaces(7)): the hostname and NIS domain name uname(2) reports.

A task sees the names of its own namespace. The sandbox's first one keeps its names on the
Kernel (`do --hostname`, an OCI config's hostname and domainname); clone(2) and unshare(2)
with CLONE_NEWUTS start a new one with a copy of the caller's names.
"""
from .nsfs import INITIAL_UTS_INO, InitialNamespaces, Namespace


class UtsNamespace(Namespace):
    kind = b"uts"

    def __init__(self, ino, hostname, domainname):
        super().__init__(ino)
        self.hostname = hostname
        self.domainname = domainname

    def copy(self, ino):
        return UtsNamespace(ino, self.hostname, self.domainname)


class _InitialUtsNamespace(Namespace):
    """The sandbox's first UTS namespace: its names are the kernel's."""

    kind = b"uts"

    def __init__(self, kernel):
        super().__init__(INITIAL_UTS_INO)
        self.kernel = kernel

    hostname = property(lambda self: self.kernel.hostname,
                        lambda self, name: setattr(self.kernel, "hostname", name))
    domainname = property(lambda self: self.kernel.domainname,
                          lambda self, name: setattr(self.kernel, "domainname", name))
    copy = UtsNamespace.copy


_INITIAL = InitialNamespaces(_InitialUtsNamespace)


def of(t):
    """The UTS namespace task `t` is in."""
    return getattr(t, "uts_ns", None) or _INITIAL.of(t.kernel)
