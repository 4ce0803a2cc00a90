"""process_vm_readv(2) and process_vm_writev(2): copies between two processes' memory."""
import errno

from ..credentials import CAP_SYS_PTRACE, capable
from ..errors import SyscallError
from ..mm import PROT_READ, PROT_WRITE
from .sys_read_write import read_iovecs



def ids_permit_access(t, target):
    """The ids rule of PTRACE_MODE_ATTACH_REALCREDS: the caller's real ids match all of the
    target's, or it has CAP_SYS_PTRACE."""
    mine, theirs = t.creds, target.creds
    same_user = mine.uid == theirs.uid == theirs.euid == theirs.suid
    same_group = mine.gid == theirs.gid == theirs.egid == theirs.sgid
    return (same_user and same_group) or capable(t, CAP_SYS_PTRACE)


def _transfer(t, pid, local_iov, liovcnt, remote_iov, riovcnt, flags, writing):
    if flags:
        raise SyscallError(errno.EINVAL)
    local = read_iovecs(t, local_iov, liovcnt)
    if sum(length for _, length in local) == 0:
        return 0
    remote = read_iovecs(t, remote_iov, riovcnt)
    task = t.kernel.tasks.get(pid) if pid > 0 else None
    if task is None or not task.alive:
        raise SyscallError(errno.ESRCH)
    if not ids_permit_access(t, task):
        raise SyscallError(errno.EPERM)
    local_mm, remote_mm = t.mm, task.mm
    # The source side must be readable and the destination writable, page by page.
    source_mm, target_mm = (local_mm, remote_mm) if writing else (remote_mm, local_mm)
    done = 0
    local_index, local_offset = 0, 0
    for remote_base, remote_length in remote:
        remote_offset = 0
        while remote_offset < remote_length:
            while local_index < len(local) and local_offset == local[local_index][1]:
                local_index, local_offset = local_index + 1, 0
            if local_index == len(local):
                return done
            local_base, local_length = local[local_index]
            wanted = min(remote_length - remote_offset, local_length - local_offset)
            local_addr, remote_addr = local_base + local_offset, remote_base + remote_offset
            source_addr, target_addr = (local_addr, remote_addr) if writing else (remote_addr, local_addr)
            chunk = min(source_mm.accessible_length(source_addr, wanted, PROT_READ),
                        target_mm.accessible_length(target_addr, wanted, PROT_WRITE))
            if chunk:
                target_mm.copy_out(target_addr, source_mm.copy_in(source_addr, chunk))
                done += chunk
                remote_offset += chunk
                local_offset += chunk
            if chunk < wanted:                 # a page one side may not use ends the transfer
                if done:
                    return done
                raise SyscallError(errno.EFAULT)
    return done


def process_vm_readv(t, pid, local_iov, liovcnt, remote_iov, riovcnt, flags):
    """process_vm_readv(2): copies stop at the first page either side may not use; an error
    only when nothing was copied."""
    return _transfer(t, pid, local_iov, liovcnt, remote_iov, riovcnt, flags, writing=False)


def process_vm_writev(t, pid, local_iov, liovcnt, remote_iov, riovcnt, flags):
    """process_vm_writev(2)."""
    return _transfer(t, pid, local_iov, liovcnt, remote_iov, riovcnt, flags, writing=True)

