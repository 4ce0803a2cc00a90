"""memfd_create(2), and file sealing through fcntl(2)'s F_ADD_SEALS / F_GET_SEALS."""
import errno
import os

from ..errors import SyscallError
from ..mm import PROT_WRITE
from ..vfs.inode import Dentry
from ..vfs.memfs import (F_SEAL_FUTURE_WRITE, F_SEAL_GROW, F_SEAL_SEAL, F_SEAL_SHRINK, F_SEAL_WRITE,
                         MemFile, MemFileDescription, TmpFS)

MFD_CLOEXEC, MFD_ALLOW_SEALING, MFD_HUGETLB, MFD_NOEXEC_SEAL, MFD_EXEC = 1, 2, 4, 8, 0x10
F_SEAL_EXEC = 0x20
ALL_SEALS = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC
MFD_NAME_MAX = 249  # NAME_MAX less the "memfd:" prefix
F_ADD_SEALS, F_GET_SEALS = 1033, 1034

# memfds live on an internal tmpfs of their own, as Linux's do on shm_mnt.
MEMFD_FS = TmpFS()


def memfd_create(t, name, flags):
    """memfd_create(2)."""
    if flags & ~(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC) \
            or flags & MFD_EXEC and flags & MFD_NOEXEC_SEAL:
        raise SyscallError(errno.EINVAL)
    text = t.copy_in_str(name, MFD_NAME_MAX + 1, errno.EINVAL)
    if len(text) > MFD_NAME_MAX:
        raise SyscallError(errno.EINVAL)
    if flags & MFD_HUGETLB:
        raise SyscallError(errno.EINVAL)  # no huge page pool in the sandbox
    mode = 0o666 if flags & MFD_NOEXEC_SEAL else 0o777
    inode = MemFile(mode, t.creds.fsuid, t.creds.fsgid, fs=MEMFD_FS)
    if flags & (MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL):
        inode.seals = F_SEAL_EXEC if flags & MFD_NOEXEC_SEAL else 0
    inode.nlink = 0
    dentry = Dentry(inode, None, b"/memfd:" + text + b" (deleted)")
    file = MemFileDescription(os.O_RDWR | os.O_LARGEFILE, dentry, inode)
    return t.fds.install(file, cloexec=bool(flags & MFD_CLOEXEC))


def seals_command(t, file, cmd, seals):
    """fcntl(2) F_ADD_SEALS and F_GET_SEALS: only tmpfs files (memfds among them) have seals.
    F_SEAL_WRITE waits for no one: EBUSY while any process maps the file shared and writable."""
    if not isinstance(file, MemFileDescription):
        raise SyscallError(errno.EINVAL)
    inode = file.node
    if cmd == F_GET_SEALS:
        return inode.seals
    if not file.writable:
        raise SyscallError(errno.EPERM)
    if seals & ~ALL_SEALS:
        raise SyscallError(errno.EINVAL)
    if inode.seals & F_SEAL_SEAL:
        raise SyscallError(errno.EPERM)
    if seals & F_SEAL_WRITE and not inode.seals & F_SEAL_WRITE and _mapped_shared_writable(t, inode):
        raise SyscallError(errno.EBUSY)
    inode.seals |= seals
    return 0


def write_sealed(file):
    """Whether `file` is a tmpfs file sealed against writes (F_SEAL_WRITE or F_SEAL_FUTURE_WRITE)."""
    return isinstance(file, MemFileDescription) and bool(file.node.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE))


def may_write_through(vma):
    """Linux's VM_SHARED and VM_MAYWRITE: a shared mapping of a file opened for writing, made
    writable or made before a write seal (after one, a read-only shared mapping may never write)."""
    return vma.shared and vma.file is not None and vma.file.writable and \
        (vma.prot & PROT_WRITE or not write_sealed(vma.file))


def _mapped_shared_writable(t, inode):
    seen = set()
    for task in list(t.kernel.tasks.values()):
        mm = task.mm
        if mm is None or id(mm) in seen:
            continue
        seen.add(id(mm))
        for vma in mm.vmas:
            if getattr(vma.file, "node", None) is inode and may_write_through(vma):
                return True
    return False
