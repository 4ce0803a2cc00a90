"""The host's /proc as the sandbox process sees it.

The sandbox process is pid 1 of a host pid namespace of its own (confine.py), so the pids of
its stubs and gofer are pids of that namespace, and the host's /proc (mounted for the host's
namespace) does not know them. `attach` mounts a proc instance of the new namespace, keeps a
directory fd to it and detaches the mount: from then on `open_proc` reaches /proc/PID/... of
the namespace through that fd alone, also after the chroot into an empty directory, and `..`
from it leads nowhere (a detached mount has no parent). Until `attach` (and in processes that
are not a sandbox's, such as `do` without root) it opens /proc/... by path.
"""
import os

SYS_FSOPEN, SYS_FSCONFIG, SYS_FSMOUNT = 430, 431, 432
FSOPEN_CLOEXEC, FSCONFIG_CMD_CREATE, FSMOUNT_CLOEXEC = 1, 6, 1
MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC = 0x2, 0x4, 0x8
_proc_fd = None


def attach():
    """A proc instance of the current pid namespace, made as a mount that was never attached
    anywhere (fsopen, fsmount: no mount point, and no umount, whose RCU wait costs ms); keeps
    its fd. Needs CAP_SYS_ADMIN. Returns False if the host refuses (the by-path /proc stays)."""
    global _proc_fd
    from pysandbox.security.seccomp import host_syscall
    try:
        context = host_syscall(SYS_FSOPEN, b"proc\0", FSOPEN_CLOEXEC)
    except OSError:
        return False
    try:
        host_syscall(SYS_FSCONFIG, context, FSCONFIG_CMD_CREATE, 0, 0, 0)
        _proc_fd = host_syscall(SYS_FSMOUNT, context, FSMOUNT_CLOEXEC,
                                MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)
    except OSError:
        return False
    finally:
        os.close(context)
    return True


def open_proc(relative, flags=os.O_RDONLY):
    """os.open of /proc/RELATIVE ('123/mem'), in the sandbox process's own pid namespace."""
    if _proc_fd is None:
        return os.open(f"/proc/{relative}", flags | os.O_CLOEXEC)
    return os.open(relative, flags | os.O_CLOEXEC, dir_fd=_proc_fd)


_fd_links = b"/proc/self/fd"       # where this process's /proc/self/fd links are reached from


def fd_link(fd, name=None):
    """The path of the /proc/self/fd link of `fd` (and of `name` under it, for a directory fd):
    the file itself for calls that take only paths (the l*xattr calls)."""
    link = b"%s/%d" % (_fd_links, fd)
    return link if name is None else link + b"/" + name


def through_fd_link(fd, call):
    """call(directory fd, path) with the /proc/self/fd link of `fd`, always as an *at call (the
    path-only forms, such as chmod(2), are not on the sentry's allowlist): through the kept
    proc instance, also after the chroot, or else through the host's /proc."""
    link = b"self/fd/%d" % fd
    if _proc_fd is not None:
        return call(_proc_fd, link)
    proc = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return call(proc, link)
    finally:
        os.close(proc)


def chmod_through_fd_link(fd, mode):
    """chmod(2) of the file that O_PATH descriptor `fd` names, through its /proc/self/fd link
    (fchmod can't take an O_PATH fd, and a socket can't be opened for one)."""
    through_fd_link(fd, lambda proc, link: os.chmod(link, mode, dir_fd=proc))


def reopen(fd, flags):
    """open(2) of the file that O_PATH descriptor `fd` names, through its /proc/self/fd link
    (the root of a file bind mount: its holder has no directory to open it in)."""
    return through_fd_link(fd, lambda proc, link: os.open(link, flags | os.O_CLOEXEC, dir_fd=proc))


def kept_fd():
    """The fd of the proc instance `attach` made, or None."""
    return _proc_fd


def work_from_proc():
    """After a chroot into an empty directory: the working directory becomes the proc instance,
    so that paths relative to it ("self/fd/N") reach this process's fd links. Only for a process
    that opens no other relative path (the gofer: every one of its opens has a directory fd)."""
    global _fd_links
    os.fchdir(_proc_fd)
    _fd_links = b"self/fd"


def read_proc(relative):
    """The bytes of /proc/RELATIVE (OSError if it is gone)."""
    fd = open_proc(relative)
    try:
        chunks = []
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def children_of(pid):
    """Pids of the children of process `pid` (all its threads'), as open_proc numbers them: the
    sandbox's pid namespace's once attached, the host's otherwise. [] if it is gone."""
    try:
        task_dir = open_proc(f"{pid}/task", os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return []
    try:
        tasks = os.listdir(task_dir)
    finally:
        os.close(task_dir)
    children = []
    for task in tasks:
        try:
            children += [int(child) for child in read_proc(f"{pid}/task/{task}/children").split()]
        except OSError:
            continue
    return children


# -- from the host's side ------------------------------------------------------------------------------
def pid_namespace_of(pid):
    """The pid namespace of host process `pid` ('pid:[4026531836]'), or None if it is gone."""
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def host_pids_of_namespace(namespace):
    """{pid in `namespace`: host pid} for every host process of that pid namespace."""
    pids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or pid_namespace_of(name) != namespace:
            continue
        try:
            with open(f"/proc/{name}/status") as status:
                for line in status:
                    if line.startswith("NSpid:"):
                        pids[int(line.split()[-1])] = int(name)
                        break
        except OSError:
            continue
    return pids

