"""Process and thread lifecycle: clone(2), fork(2), vfork(2), execve(2), exit(2), wait4(2), waitid(2)."""
import errno
import os
import stat
import struct

from pysandbox.sentry import loader, signals
from pysandbox.sentry.errors import KEEP_REGS, RESTART_SYS, SyscallError, WouldBlock
from pysandbox.sentry.credentials import CAP_SYS_ADMIN, capable
from pysandbox.sentry.mm import PROT_WRITE, MemoryManager
from pysandbox.sentry.sched import HOST_CPUS
from pysandbox.sentry.vfs import mountns
from pysandbox.sentry.vfs.mount import MS_NOSUID
from pysandbox.sentry.task import RLIMIT_NOFILE, RLIMIT_NPROC, Task, ThreadGroup
from pysandbox.sentry.syscalls.sys_personality import personality_after_exec

CSIGNAL = 0x000000FF
CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND = 0x100, 0x200, 0x400, 0x800
CLONE_PIDFD, CLONE_PTRACE, CLONE_VFORK, CLONE_PARENT = 0x1000, 0x2000, 0x4000, 0x8000
CLONE_THREAD, CLONE_NEWNS, CLONE_SYSVSEM, CLONE_SETTLS = 0x10000, 0x20000, 0x40000, 0x80000
CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID, CLONE_DETACHED = 0x100000, 0x200000, 0x400000
CLONE_UNTRACED, CLONE_CHILD_SETTID, CLONE_NEWCGROUP = 0x800000, 0x1000000, 0x2000000
CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET, CLONE_IO = (
    0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000, 0x80000000)
CLONE_CLEAR_SIGHAND, CLONE_INTO_CGROUP = 0x100000000, 0x200000000
CLONE_NAMESPACES = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
SIGCHLD = 17

WNOHANG, WUNTRACED, WSTOPPED, WEXITED, WCONTINUED, WNOWAIT = 1, 2, 2, 4, 8, 0x01000000
WNOTHREAD, WALL, WCLONE = 0x20000000, 0x40000000, 0x80000000
P_ALL, P_PID, P_PGID, P_PIDFD = 0, 1, 2, 3
RUSAGE_SIZE = 144
CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_TRAPPED, CLD_STOPPED, CLD_CONTINUED = 1, 2, 3, 4, 5, 6

AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW = 0x1000, 0x100
AT_FDCWD = -100
AT_HWCAP_X86 = 0x178BFBFF


# -- clone ------------------------------------------------------------------------
def _check_clone_flags(flags):
    if flags & CLONE_SIGHAND and not flags & CLONE_VM:
        raise SyscallError(errno.EINVAL)
    if flags & CLONE_THREAD and not flags & CLONE_SIGHAND:
        raise SyscallError(errno.EINVAL)
    if flags & CLONE_FS and flags & CLONE_NEWNS:
        raise SyscallError(errno.EINVAL)
    if flags & CLONE_THREAD and flags & (CLONE_PARENT | CLONE_NEWPID | CLONE_NEWUSER):
        raise SyscallError(errno.EINVAL)
    if flags & CLONE_NAMESPACES & ~NAMESPACES_MADE:
        raise SyscallError(errno.EPERM)  # user, pid and net namespaces: not yet
    if flags & CLONE_PIDFD and flags & CLONE_DETACHED:
        raise SyscallError(errno.EINVAL)


def _count_user_processes(kernel, uid):
    return sum(1 for tg in kernel.thread_groups.values() if not tg.zombie and tg.leader is not None
               and tg.leader.creds.uid == uid)


def do_clone(t, flags, stack, parent_tid_ptr, child_tid_ptr, tls, exit_signal, pidfd_ptr=0):
    """The common body of clone, clone3, fork and vfork; returns the child's tid."""
    _check_clone_flags(flags)
    if t.sched.forbids_fork():
        raise SyscallError(errno.EAGAIN)
    kernel = t.kernel
    if not flags & CLONE_THREAD:
        soft = t.tg.rlimits[RLIMIT_NPROC][0]
        if _count_user_processes(kernel, t.creds.uid) >= soft:
            raise SyscallError(errno.EAGAIN)
    _check_new_namespaces(t, flags)
    tid = kernel.allocate_pid()
    if flags & CLONE_PIDFD:
        _check_pidfd_room(t, pidfd_ptr)

    if flags & CLONE_THREAD:
        context = t.context.clone_thread()
    else:
        context = t.context.fork(share_memory=bool(flags & CLONE_VM))

    if flags & CLONE_VM:
        mm = t.mm
        mm.users += 1
    else:
        mm = t.mm.fork(context.address_space)
        if t.mm.release_hooks:                # SysV shm segments are attached (their hooks alone)
            from pysandbox.sentry import sysv_shm     # off the start-up path
            sysv_shm.forked(t.mm, mm, t.tg.tgid, tid)
    fds = t.fds.share() if flags & CLONE_FILES else t.fds.fork()
    fs = t.fs if flags & CLONE_FS else t.fs.fork()
    if flags & CLONE_NEWNS:
        mountns.enter_copy(fs)
    creds = t.creds.copy()

    if flags & CLONE_THREAD:
        tg = t.tg
    else:
        sighand = t.tg.sighand if flags & CLONE_SIGHAND else signals.copy_sighand(t.tg.sighand)
        if flags & CLONE_CLEAR_SIGHAND:
            signals.reset_handlers(sighand)
        parent = t.tg.parent if flags & CLONE_PARENT else t.tg
        tg = ThreadGroup(kernel, tid, parent, sighand, {k: list(v) for k, v in t.tg.rlimits.items()},
                         t.tg.pgid, t.tg.sid)
        tg.exe, tg.argv, tg.envp = t.tg.exe, t.tg.argv, t.tg.envp
        tg.exit_signal = exit_signal
        tg.cgroup = t.tg.cgroup
        tg.forked_by = t.tg.forked_by if flags & CLONE_PARENT else t
        if parent is not None:
            parent.children.append(tg)

    if not flags & CLONE_FILES:
        fds.limit = lambda: tg.rlimits[RLIMIT_NOFILE][0]
    child = Task(kernel, tid, tg, context, mm, fds, fs, creds)
    child.comm = t.comm
    child.sigmask = t.sigmask
    child.sched = t.sched.inherited()
    child.mempolicy = t.mempolicy        # set_mempolicy(2)'s, see sys_numa
    child.uts_ns, child.ipc_ns = _child_namespaces(t, flags)
    child.cgroup_ns = _child_cgroup_namespace(t, flags)
    if flags & CLONE_NEWTIME or t.time_ns_for_children is not t.time_ns:
        from pysandbox.sentry import timens         # namespaces: off the start-up path
        child.time_ns, child.time_ns_for_children = timens.child_namespaces(
            t, bool(flags & CLONE_NEWTIME), bool(flags & CLONE_VM))
    else:
        child.time_ns = child.time_ns_for_children = t.time_ns
    child.personality = t.personality
    child.seccomp = t.seccomp
    if flags & CLONE_SYSVSEM:
        child.sysvsem_undo = t.sysvsem_undo = t.sysvsem_undo or object()
    if not flags & CLONE_VM or flags & CLONE_VFORK:
        child.sigaltstack = t.sigaltstack
    regs = context.regs
    regs.rax = 0
    if stack:
        regs.rsp = stack
    if flags & CLONE_SETTLS:
        regs.fs_base = tls
    kernel.add_task(child)
    if t.ptrace is not None:                 # a tracee's child may be traced from birth
        from pysandbox.sentry import ptrace
        ptrace.forked(t, child, flags, exit_signal)

    if flags & CLONE_PIDFD:                   # after the child's memory and fd table were copied
        from pysandbox.sentry.vfs.pidfd import PIDFD_THREAD, PidFile   # off the start-up path
        thread = child if flags & CLONE_THREAD else None
        pidfd_file = PidFile(tg, PIDFD_THREAD if thread else 0, thread)
        t.copy_out_i32(pidfd_ptr, t.fds.install(pidfd_file, cloexec=True))
    if flags & CLONE_PARENT_SETTID:
        t.copy_out_u32(parent_tid_ptr, tid)
    if flags & CLONE_CHILD_SETTID:
        child.copy_out_u32(child_tid_ptr, tid)
    if flags & CLONE_CHILD_CLEARTID:
        child.clear_child_tid = child_tid_ptr
    kernel.make_runnable(child)

    if flags & CLONE_VFORK:
        child.vfork_parent = t
        t.syscall_state["vfork_child"] = child
    return tid


def _finish_vfork_wait(t, tid):
    """The vfork parent sleeps until the child execs or exits. Signals wait too: the child runs
    on the parent's stack, so no handler may run there meanwhile."""
    child = t.syscall_state.get("vfork_child")
    if child is not None and child.vfork_parent is t:
        t.syscall_state["vfork_tid"] = tid
        raise WouldBlock(child.tg.vfork_done, interruptible=False)
    if child is not None and t.ptrace is not None:     # PTRACE_O_TRACEVFORKDONE
        from pysandbox.sentry import ptrace
        ptrace.vfork_done(t, tid)
    return tid


def _clone_or_wait(t, run):
    if "vfork_tid" in t.syscall_state:
        return _finish_vfork_wait(t, t.syscall_state["vfork_tid"])
    return _finish_vfork_wait(t, run())


def _check_pidfd_room(t, pidfd_ptr):
    """CLONE_PIDFD fails the fork when the pidfd could not be made or its number not stored."""
    if len(t.fds) >= t.fds.max_fds:
        raise SyscallError(errno.EMFILE)
    if t.accessible_length(pidfd_ptr, 4, PROT_WRITE) < 4:
        raise SyscallError(errno.EFAULT)


def clone(t, flags, stack, parent_tid, child_tid, tls):
    """clone(2) (x86_64 argument order: flags, stack, parent_tid, child_tid, tls). CLONE_PIDFD
    stores the pidfd where CLONE_PARENT_SETTID would store the tid, so the two exclude each other."""
    if flags & CLONE_PIDFD and flags & CLONE_PARENT_SETTID:
        raise SyscallError(errno.EINVAL)
    return _clone_or_wait(t, lambda: do_clone(t, flags & ~CSIGNAL, stack, parent_tid, child_tid, tls,
                                              flags & CSIGNAL, pidfd_ptr=parent_tid))


_CLONE_ARGS = struct.Struct("<QQQQQQQQQQQ")
CLONE_ARGS_SIZE_VER0 = 64
CLONE_ARGS_SIZE_VER2 = 88        # with the cgroup field


def clone3(t, uargs, size):
    """clone3(2)."""
    if "vfork_tid" in t.syscall_state:
        return _finish_vfork_wait(t, t.syscall_state["vfork_tid"])
    if size < CLONE_ARGS_SIZE_VER0 or size > 4096:
        raise SyscallError(errno.EINVAL)
    raw = t.copy_in(uargs, size)
    if size > _CLONE_ARGS.size and any(raw[_CLONE_ARGS.size:]):
        raise SyscallError(errno.E2BIG)
    raw = raw[:_CLONE_ARGS.size].ljust(_CLONE_ARGS.size, b"\0")
    (flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
     set_tid, set_tid_size, cgroup) = _CLONE_ARGS.unpack(raw)
    if exit_signal > 64 or flags & CSIGNAL & ~CLONE_NEWTIME or set_tid_size or flags & CLONE_DETACHED:
        raise SyscallError(errno.EINVAL)
    if (stack == 0) != (stack_size == 0):
        raise SyscallError(errno.EINVAL)
    if flags & CLONE_PIDFD and flags & CLONE_PARENT_SETTID and pidfd == parent_tid:
        raise SyscallError(errno.EINVAL)
    target_cgroup = None
    if flags & CLONE_INTO_CGROUP:
        if cgroup > 0x7FFFFFFF or size < CLONE_ARGS_SIZE_VER2:
            raise SyscallError(errno.EINVAL)
        from pysandbox.sentry import cgroupns       # off the start-up path
        _check_clone_flags(flags)
        target_cgroup = cgroupns.clone_target(t, cgroup, into_thread_group=not flags & CLONE_THREAD)
    top = stack + stack_size if stack else 0
    tid = do_clone(t, flags & ~CLONE_INTO_CGROUP, top, parent_tid, child_tid, tls, exit_signal, pidfd)
    if target_cgroup is not None and not flags & CLONE_THREAD:     # a thread is already there
        cgroupns.place(t.kernel.thread_groups[tid], target_cgroup)
    return _finish_vfork_wait(t, tid)


def fork(t):
    """fork(2)."""
    return do_clone(t, 0, 0, 0, 0, 0, SIGCHLD)


def vfork(t):
    """vfork(2)."""
    return _clone_or_wait(t, lambda: do_clone(t, CLONE_VM | CLONE_VFORK, 0, 0, 0, 0, SIGCHLD))


# -- namespaces ----------------------------------------------------------------------
CLONE_NEWTIME = 0x80             # clone3(2) and unshare(2) only: clone(2) has the exit signal there
NAMESPACES_MADE = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP | CLONE_NEWTIME
_SETNS_KINDS = {b"uts": CLONE_NEWUTS, b"ipc": CLONE_NEWIPC, b"cgroup": CLONE_NEWCGROUP,
                b"time": CLONE_NEWTIME}                          # else a mount namespace


def _check_new_namespaces(t, flags):
    """copy_namespaces()'s checks for clone(2): CAP_SYS_ADMIN, and no CLONE_SYSVSEM (a shared
    undo list) into a new IPC namespace."""
    if flags & NAMESPACES_MADE and not capable(t, CAP_SYS_ADMIN):
        raise SyscallError(errno.EPERM)
    if flags & (CLONE_NEWIPC | CLONE_SYSVSEM) == CLONE_NEWIPC | CLONE_SYSVSEM:
        raise SyscallError(errno.EINVAL)


def _child_namespaces(t, flags):
    """The UTS and IPC namespaces of a child of `t`: its parent's, or new ones."""
    uts = getattr(t, "uts_ns", None)
    if flags & CLONE_NEWUTS:
        from pysandbox.sentry import utsns          # namespaces: off the start-up path
        from pysandbox.sentry.nsfs import new_inode_number
        uts = utsns.of(t).copy(new_inode_number(t))
    ipc = getattr(t, "ipc_ns", None)
    if flags & CLONE_NEWIPC:
        from pysandbox.sentry import sysv_ipc     # off the start-up path
        ipc = sysv_ipc.new_namespace(t)
    return uts, ipc


def _child_cgroup_namespace(t, flags):
    if flags & CLONE_NEWCGROUP:
        from pysandbox.sentry import cgroupns       # off the start-up path
        return cgroupns.new_namespace(t)
    return t.cgroup_ns


def _leave_ipc_namespace(t):
    """A task moving to another IPC namespace lets go of its SEM_UNDO list first (exit_sem)."""
    if t.tg.sem_undo:
        from pysandbox.sentry.syscalls.sys_sem import apply_undo
        apply_undo(t.tg)


UNSHARE_FLAGS = (CLONE_THREAD | CLONE_FS | CLONE_NEWNS | CLONE_SIGHAND | CLONE_VM | CLONE_FILES
                 | CLONE_SYSVSEM | CLONE_NAMESPACES | CLONE_NEWTIME)


def unshare(t, flags):
    """Unshare implements Linux syscall unshare(2). Of the namespaces, mount, UTS, IPC, cgroup
    and time ones are made (the others answer EPERM, as clone(2) does for them). A new time
    namespace is for the caller's children (time_for_children), not for the caller."""
    if flags & ~UNSHARE_FLAGS:
        raise SyscallError(errno.EINVAL)
    if flags & CLONE_NEWUSER:
        flags |= CLONE_THREAD | CLONE_FS
    if flags & CLONE_VM:
        flags |= CLONE_SIGHAND
    if flags & CLONE_SIGHAND:
        flags |= CLONE_THREAD
    if flags & CLONE_NEWNS:
        flags |= CLONE_FS
    if flags & (CLONE_THREAD | CLONE_SIGHAND) and len(t.tg.tasks) > 1 or flags & CLONE_VM and t.mm.users > 1:
        raise SyscallError(errno.EINVAL)
    if flags & (CLONE_NAMESPACES | CLONE_NEWTIME) & ~NAMESPACES_MADE:
        raise SyscallError(errno.EPERM)
    if flags & NAMESPACES_MADE and not capable(t, CAP_SYS_ADMIN):
        raise SyscallError(errno.EPERM)
    if flags & CLONE_FS and _fs_users(t) > 1:
        t.fs = t.fs.fork()
    if flags & CLONE_FILES:
        t.fds.unshare()
    if flags & CLONE_NEWNS:
        mountns.enter_copy(t.fs)
    if flags & CLONE_NEWIPC:
        _leave_ipc_namespace(t)
    t.uts_ns, t.ipc_ns = _child_namespaces(t, flags)
    t.cgroup_ns = _child_cgroup_namespace(t, flags)
    if flags & CLONE_NEWTIME:
        from pysandbox.sentry import timens         # off the start-up path
        timens.unshare(t)
    return 0


def setns(t, fd, nstype):
    """Setns implements Linux syscall setns(2): a mount, UTS, IPC, cgroup or time namespace file
    (/proc/PID/ns/mnt, uts, ipc, cgroup, time), or a pidfd and the kinds of its process's
    namespaces to join."""
    from pysandbox.sentry.vfs.pidfd import PidFile
    file = t.fds.get(fd)
    if isinstance(file, PidFile):
        return _join_process_namespaces(t, file, nstype)
    namespace = mountns.namespace_of(file)
    kind = _SETNS_KINDS.get(getattr(namespace, "kind", None), CLONE_NEWNS)
    if namespace is None or nstype not in (0, kind):
        raise SyscallError(errno.EINVAL)
    if kind == CLONE_NEWTIME:
        _check_time_setns(t)              # timens_install() checks this before the capability
    if not capable(t, CAP_SYS_ADMIN):
        raise SyscallError(errno.EPERM)
    if kind == CLONE_NEWNS and _fs_users(t) > 1:
        raise SyscallError(errno.EINVAL)  # its root and cwd are shared with another task (CLONE_FS)
    _enter(t, kind, namespace)
    return 0


def _enter(t, kind, namespace):
    if kind == CLONE_NEWUTS:
        t.uts_ns = namespace
    elif kind == CLONE_NEWIPC:
        _leave_ipc_namespace(t)
        t.ipc_ns = namespace
    elif kind == CLONE_NEWCGROUP:
        t.cgroup_ns = namespace
    elif kind == CLONE_NEWTIME:
        from pysandbox.sentry import timens
        timens.enter(t, namespace)
    else:
        mountns.enter(t.fs, namespace)


def _join_process_namespaces(t, pidfd, flags):
    """setns(2) with a pidfd (Linux 5.8+): join the namespaces of the kinds in `flags` that its
    process is in, all or none. The sandbox has one user, pid and net namespace, which the
    caller is in already: joining one's own user namespace is EINVAL, as on Linux, and
    joining the others changes nothing."""
    if not flags or flags & ~(CLONE_NAMESPACES | CLONE_NEWTIME):
        raise SyscallError(errno.EINVAL)
    target = pidfd.task
    if target is None:
        raise SyscallError(errno.ESRCH)
    from pysandbox.sentry.syscalls.sys_pidfd import ptrace_may_access
    if not ptrace_may_access(t, target):
        raise SyscallError(errno.EPERM)
    if flags & CLONE_NEWUSER:
        raise SyscallError(errno.EINVAL)
    if not capable(t, CAP_SYS_ADMIN):
        raise SyscallError(errno.EPERM)
    if flags & CLONE_NEWNS and _fs_users(t) > 1:
        raise SyscallError(errno.EINVAL)
    if flags & CLONE_NEWTIME:
        _check_time_setns(t)
    from pysandbox.sentry import cgroupns, sysv_ipc, timens, utsns
    joined = {CLONE_NEWNS: target.fs.mntns, CLONE_NEWUTS: utsns.of(target),
              CLONE_NEWIPC: sysv_ipc.namespace_of(target), CLONE_NEWCGROUP: cgroupns.of(target),
              CLONE_NEWTIME: timens.of(target)}
    for kind, namespace in joined.items():
        if flags & kind:
            _enter(t, kind, namespace)
    return 0


def _check_time_setns(t):
    """timens_install(): a process with other threads, or sharing its memory, can't move (EUSERS)."""
    if len([task for task in t.tg.tasks if task.alive]) > 1 or t.mm.users > 1:
        raise SyscallError(errno.EUSERS)


def _fs_users(t):
    return sum(1 for task in t.kernel.tasks.values() if task.fs is t.fs and task.alive)


# -- execve ------------------------------------------------------------------------
def load_new_image(t, path, argv, envp, creds=None):
    """Build a fresh address space holding `path`; returns (context, mm, load result).
    `creds`: the new image's credentials (its auxv's ids), or a function of the executable's
    file giving them and whether the exec is secure (AT_SECURE); t.creds by default.

    Nothing about `t` changes here, so a failure leaves the old image intact."""
    context = t.kernel.platform.new_process()
    mm = MemoryManager(context.address_space)
    try:
        result = loader.load_executable(
            mm, lambda p: t.kernel.vfs.open_exec(t, p)[0], path, argv, envp,
            creds=creds or t.creds, random_bytes=os.urandom(16), hwcap=AT_HWCAP_X86, stack_top=mm.stack_top)
    except BaseException:
        context.kill_process()
        mm.release()
        raise
    return context, mm, result


def execve(t, pathname, argv, envp):
    """execve(2)."""
    path = t.copy_in_str(pathname)
    return _exec(t, path, t.copy_in_str_array(argv), t.copy_in_str_array(envp))


def execveat(t, dirfd, pathname, argv, envp, flags):
    """execveat(2)."""
    if flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW):
        raise SyscallError(errno.EINVAL)
    path = t.copy_in_str(pathname)
    if not path.startswith(b"/"):
        if path == b"" and flags & AT_EMPTY_PATH:
            path = t.kernel.vfs.fd_path(t, dirfd).encode()
        elif dirfd != AT_FDCWD:
            path = t.kernel.vfs.fd_path(t, dirfd).encode() + b"/" + path
    return _exec(t, path, t.copy_in_str_array(argv), t.copy_in_str_array(envp))


def _exec(t, path, argv, envp):
    if not path:
        raise SyscallError(errno.ENOENT)
    new_creds = []

    def creds_for(exe_file):
        old = t.creds
        new_creds.append(old.exec_transition(*_set_ids(t, exe_file)))
        return new_creds[-1], new_creds[-1].secure_after_exec(old)
    context, mm, result = load_new_image(t, path, argv, envp, creds=creds_for)
    former_tid = t.tid
    _discard_old_image(t)
    install_image(t, context, mm, result, path, envp)
    t.personality = personality_after_exec(t.personality, t.creds, new_creds[-1])
    if t.time_ns_for_children is not t.time_ns:   # a process enters its children's time namespace
        from pysandbox.sentry import timens         # at exec (Linux 6.0)
        timens.enter(t, t.time_ns_for_children)
    t.creds = new_creds[-1]
    t.tg.did_exec = True
    if t.ptrace is not None:
        from pysandbox.sentry import ptrace
        ptrace.execed(t, former_tid)
    return KEEP_REGS


def _set_ids(t, exe_file):
    """(uid, gid) the executable's set-user-ID and set-group-ID bits give (None where not), as
    bprm_fill_uid(): never under no_new_privs or on a nosuid mount; set-group-ID needs group
    execute permission."""
    dentry = exe_file.dentry
    if t.creds.no_new_privs or dentry is None or t.kernel.vfs.mount_of(dentry).flags & MS_NOSUID:
        return None, None
    attrs = dentry.inode.stat()
    uid = attrs.uid if attrs.mode & stat.S_ISUID else None
    gid = attrs.gid if attrs.mode & (stat.S_ISGID | stat.S_IXGRP) == stat.S_ISGID | stat.S_IXGRP else None
    return uid, gid


def _discard_old_image(t):
    """The point of no return of execve: other threads die, the old address space goes."""
    kernel, tg = t.kernel, t.tg
    for other in list(tg.tasks):
        if other is not t and other.alive:
            kernel._release_task(other, exit_context=False)
            if other.ptrace is not None:     # a tracer sees them exit with status 0 (ptrace(2), execve)
                from pysandbox.sentry import ptrace
                ptrace.thread_exited(other, 0)
    tg.tasks[:] = [t]
    tg.settle_cpu_time()
    t.context.kill_process()
    t.mm.release()
    if t.tid != tg.tgid:
        kernel.tasks.pop(t.tid, None)
        t.tid = tg.tgid
        kernel.tasks[t.tid] = t
    kernel._finish_vfork(t)
    t.fds.unshare()
    t.fds.close_on_exec()
    signals.reset_for_exec(t)
    t.clear_child_tid = 0
    t.robust_list = (0, 0)


def install_image(t, context, mm, result, path, envp):
    """Make `t` run the freshly loaded image from its entry point."""
    t.context, t.mm = context, mm
    context.task = t
    tg = t.tg
    tg.exe = os.fsdecode(result.exe_path)
    tg.exe_file = result.exe_file
    tg.argv, tg.envp, tg.auxv = result.argv, envp, result.auxv
    if tg.posix_timers:
        from pysandbox.sentry import posix_timers    # only a process that made timers has them
        posix_timers.delete_all(tg)
    t.comm = os.path.basename(os.fsdecode(path))[:15]
    regs = context.regs
    for field in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11",
                  "r12", "r13", "r14", "r15", "fs_base", "gs_base"):
        setattr(regs, field, 0)
    regs.rip = result.entry
    regs.rsp = result.rsp
    regs.eflags = 0x202


# -- exit ------------------------------------------------------------------------------
def exit(t, status):
    """exit(2): ends the calling thread."""
    if t.ptrace is not None:                 # PTRACE_O_TRACEEXIT: the tracer sees it first
        from pysandbox.sentry import ptrace
        if ptrace.exit_with_event(t, (status & 0xFF) << 8, lambda: t.kernel.exit_task(t, status)):
            return KEEP_REGS
    t.kernel.exit_task(t, status)
    return KEEP_REGS


def exit_group(t, status):
    """exit_group(2)."""
    if t.ptrace is not None:
        from pysandbox.sentry import ptrace
        if ptrace.exit_with_event(t, (status & 0xFF) << 8):
            return KEEP_REGS
    t.kernel.exit_thread_group(t.tg, wait_status=(status & 0xFF) << 8)
    return KEEP_REGS


# -- wait --------------------------------------------------------------------------------
def _selects(t, child, idtype, ident, options):
    """Whether a wait by `t` may report `child` (Linux's eligible_child): it matches the id, was
    forked by `t` itself under __WNOTHREAD, and sends SIGCHLD unless __WCLONE or __WALL say."""
    if idtype == P_PID and child.tgid != ident or idtype == P_PIDFD and child is not ident:
        return False
    if idtype == P_PGID and child.pgid != ident:
        return False
    if options & WNOTHREAD and child.forked_by is not t:
        return False
    if options & WALL:
        return True
    clone_child = child.exit_signal != SIGCHLD
    return clone_child == bool(options & WCLONE)


def _find_waitable(t, idtype, ident, options):
    """(child, kind) for the first child with something to report, or raise ECHILD. Tasks its
    threads trace come first (kind "traced": a ptrace-stop, or an exit the parent hears of later)."""
    candidates = [c for c in t.tg.children if _selects(t, c, idtype, ident, options)]
    tracees = ()
    if t.tg.tracees:
        from pysandbox.sentry import ptrace
        tracees = ptrace.waitable_tracees(t, idtype, ident, options)
        for tracee in tracees:
            if ptrace.has_report(tracee, options):
                return tracee, "traced"
    if not candidates and not tracees:
        raise SyscallError(errno.ECHILD)
    for child in candidates:
        if child.zombie and not child.reaped and options & WEXITED and child.leader.ptrace is None:
            return child, "exited"
        if child.stopped and not child.stop_reported and options & WSTOPPED:
            return child, "stopped"
        if not child.continue_reported and options & WCONTINUED:
            return child, "continued"
    return None, None


def _wait(t, idtype, ident, options, report):
    child, kind = _find_waitable(t, idtype, ident, options)
    if child is None:
        if options & WNOHANG:
            return None
        raise WouldBlock(t.tg.child_events, restart=RESTART_SYS)
    if kind == "traced":
        from pysandbox.sentry import ptrace
        return ptrace.report_to_tracer(child, options, report)
    consume = not options & WNOWAIT
    if kind == "exited":
        status = child.wait_status
        if consume:
            t.kernel.reap(child)
    elif kind == "stopped":
        status = (child.stop_signal << 8) | 0x7F
        if consume:
            child.stop_reported = True
    else:
        status = 0xFFFF
        if consume:
            child.continue_reported = True
    report(child, kind, status)
    return child.tgid


def _child_rusage(child):
    """struct rusage of a waited-for child: its CPU time and that of the children it reaped
    (RUSAGE_BOTH); the sandbox counts nothing else."""
    from pysandbox.sentry.syscalls.sys_time import seconds_to_ns, timeval_bytes
    user, system = child.cpu_times()
    user, system = seconds_to_ns(user + child.cutime), seconds_to_ns(system + child.cstime)
    return (timeval_bytes(user) + timeval_bytes(system)).ljust(RUSAGE_SIZE, b"\0")


def _wait4_target(t, pid):
    if pid < -1:
        return P_PGID, -pid
    if pid == -1:
        return P_ALL, 0
    if pid == 0:
        return P_PGID, t.tg.pgid
    return P_PID, pid


def wait4(t, pid, wstatus, options, rusage):
    """wait4(2)."""
    if options & ~(WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WALL | WCLONE):
        raise SyscallError(errno.EINVAL)
    if pid == -(1 << 31):
        raise SyscallError(errno.ESRCH)
    idtype, ident = _wait4_target(t, pid)

    def report(child, kind, status):
        if wstatus:
            t.copy_out_i32(wstatus, status)
        if rusage:
            t.copy_out(rusage, _child_rusage(child))

    result = _wait(t, idtype, ident, options | WEXITED, report)
    return 0 if result is None else result


def waitid(t, idtype, ident, infop, options, rusage):
    """waitid(2)."""
    if options & ~(WNOHANG | WNOWAIT | WEXITED | WSTOPPED | WCONTINUED | WNOTHREAD | WALL | WCLONE):
        raise SyscallError(errno.EINVAL)
    if not options & (WEXITED | WSTOPPED | WCONTINUED):
        raise SyscallError(errno.EINVAL)
    if idtype not in (P_ALL, P_PID, P_PGID, P_PIDFD):
        raise SyscallError(errno.EINVAL)
    nonblocking_pidfd = False
    if idtype == P_PIDFD:
        if ident < 0:
            raise SyscallError(errno.EINVAL)
        from pysandbox.sentry.syscalls.sys_pidfd import pidfd_of
        pidfd = pidfd_of(t, ident)
        names_process = pidfd.thread is None or pidfd.thread is pidfd.tg.leader
        ident = pidfd.tg if names_process else None  # another thread's pid is no child's
        nonblocking_pidfd = pidfd.nonblocking and not options & WNOHANG
        if nonblocking_pidfd:
            options |= WNOHANG
    if idtype == P_PGID and ident == 0:
        ident = t.tg.pgid
    if idtype in (P_PID, P_PGID) and ident <= 0:
        raise SyscallError(errno.EINVAL)

    def report(child, kind, status):
        if kind == "exited":
            if status & 0x7F == 0:
                code, value = CLD_EXITED, (status >> 8) & 0xFF
            else:
                code, value = (CLD_DUMPED if status & 0x80 else CLD_KILLED), status & 0x7F
        elif kind == "stopped":
            code, value = CLD_STOPPED, child.stop_signal
        elif kind == "trapped":                      # a ptrace-stop: the whole stop code
            code, value = CLD_TRAPPED, status >> 8
        else:
            code, value = CLD_CONTINUED, signals.SIGCONT
        if infop:
            uid = child.leader.creds.uid if child.leader is not None else 0
            info = struct.pack("<iiiiIi", SIGCHLD, 0, code, 0, child.tgid, uid) + struct.pack("<i", value)
            t.copy_out(infop, info.ljust(128, b"\0"))
        if rusage:
            t.copy_out(rusage, _child_rusage(child))

    result = _wait(t, idtype, ident, options, report)
    if result is None and infop:
        t.copy_out(infop, bytes(128))
    if result is None and nonblocking_pidfd:
        raise SyscallError(errno.EAGAIN)             # PIDFD_NONBLOCK, as Linux 5.10+
    return 0


# -- ids -----------------------------------------------------------------------------------
def getpid(t):
    """getpid(2)."""
    return t.tg.tgid


def gettid(t):
    """gettid(2)."""
    return t.tid


def getppid(t):
    """getppid(2): 0 for pid 1, as in a pid namespace."""
    parent = t.tg.parent
    return parent.tgid if parent is not None else 0


def _thread_group(t, pid):
    """The process `pid` names (0: the caller's; a thread's id names its process), or ESRCH."""
    if pid == 0:
        return t.tg
    tg = t.kernel.thread_groups.get(pid)
    if tg is None and pid in t.kernel.tasks:
        tg = t.kernel.tasks[pid].tg
    if tg is None or tg.reaped:
        raise SyscallError(errno.ESRCH)
    return tg


def getpgid(t, pid):
    """getpgid(2)."""
    return _thread_group(t, pid).pgid


def getpgrp(t):
    """getpgrp(2)."""
    return t.tg.pgid


def getsid(t, pid):
    """getsid(2)."""
    return _thread_group(t, pid).sid


def setpgid(t, pid, pgid):
    """setpgid(2), with the checks in Linux's order."""
    pid = pid or t.tg.tgid
    pgid = pgid or pid
    if pgid < 0:
        raise SyscallError(errno.EINVAL)
    target = _thread_group(t, pid)
    if target.tgid != pid:
        raise SyscallError(errno.EINVAL)           # a thread, not a process
    if target.parent is t.tg:
        if target.sid != t.tg.sid:
            raise SyscallError(errno.EPERM)
        if target.did_exec:
            raise SyscallError(errno.EACCES)
    elif target is not t.tg:
        raise SyscallError(errno.ESRCH)
    if target.sid == target.tgid:
        raise SyscallError(errno.EPERM)            # a session leader stays in its group
    if pgid != target.tgid and not any(tg.pgid == pgid and tg.sid == t.tg.sid
                                       for tg in t.kernel.thread_groups.values()):
        raise SyscallError(errno.EPERM)
    target.pgid = pgid
    return 0


def setsid(t):
    """setsid(2)."""
    tg = t.tg
    if any(other.pgid == tg.tgid for other in t.kernel.thread_groups.values()):
        raise SyscallError(errno.EPERM)
    tg.sid = tg.pgid = tg.tgid
    return tg.sid


def set_tid_address(t, tidptr):
    """set_tid_address(2)."""
    t.clear_child_tid = tidptr
    return t.tid


ROBUST_LIST_HEAD_SIZE = 24


def set_robust_list(t, head, length):
    """set_robust_list(2)."""
    if length != ROBUST_LIST_HEAD_SIZE:
        raise SyscallError(errno.EINVAL)
    t.robust_list = (head, length)
    return 0


def get_robust_list(t, pid, head_ptr, len_ptr):
    """get_robust_list(2)."""
    target = t if pid == 0 else t.kernel.tasks.get(pid)
    if target is None:
        raise SyscallError(errno.ESRCH)
    t.copy_out_u64(head_ptr, target.robust_list[0])
    t.copy_out_u64(len_ptr, ROBUST_LIST_HEAD_SIZE)
    return 0


def restart_syscall(t):
    """restart_syscall(2): continue a call that a signal handler interrupted."""
    saved = t.restart_block
    if saved is None:
        raise SyscallError(errno.EINTR)
    t.restart_block = None
    entry, args, state = saved
    t.syscall_entry, t.syscall_args = entry, args
    t.syscall_state.update(state)
    return entry.handler(t, *args)


# -- process control ------------------------------------------------------------------------
ARCH_SET_GS, ARCH_SET_FS, ARCH_GET_FS, ARCH_GET_GS = 0x1001, 0x1002, 0x1003, 0x1004
ARCH_GET_CPUID, ARCH_SET_CPUID = 0x1011, 0x1012
TASK_SIZE = 0x7FFFFFFFF000


def arch_prctl(t, code, addr):
    """arch_prctl(2): FS/GS bases live in the saved registers."""
    regs = t.regs
    if code == ARCH_SET_FS:
        if addr >= TASK_SIZE:
            raise SyscallError(errno.EPERM)
        regs.fs_base = addr
    elif code == ARCH_SET_GS:
        if addr >= TASK_SIZE:
            raise SyscallError(errno.EPERM)
        regs.gs_base = addr
    elif code == ARCH_GET_FS:
        t.copy_out_u64(addr, regs.fs_base)
    elif code == ARCH_GET_GS:
        t.copy_out_u64(addr, regs.gs_base)
    elif code == ARCH_GET_CPUID:
        return 1
    elif code == ARCH_SET_CPUID:
        raise SyscallError(errno.ENODEV)
    else:
        raise SyscallError(errno.EINVAL)
    return 0


PR_SET_PDEATHSIG, PR_GET_PDEATHSIG, PR_GET_DUMPABLE, PR_SET_DUMPABLE = 1, 2, 3, 4
PR_SET_NAME, PR_GET_NAME = 15, 16
PR_GET_SECCOMP, PR_SET_SECCOMP = 21, 22
PR_GET_TIMERSLACK, PR_SET_TIMERSLACK = 30, 29
PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37
PR_SET_MM, PR_SET_VMA = 35, 0x53564D41


def prctl(t, option, arg2, arg3, arg4, arg5):
    """prctl(2) for the options programs commonly use."""
    tg = t.tg
    if option == PR_SET_NAME:
        t.comm = t.copy_in_str(arg2, 16)[:15].decode("utf-8", "replace")
        return 0
    if option == PR_GET_NAME:
        t.copy_out(arg2, t.comm.encode()[:15].ljust(16, b"\0"))
        return 0
    if option == PR_SET_PDEATHSIG:
        if not 0 <= arg2 <= 64:
            raise SyscallError(errno.EINVAL)
        t.pdeathsig = arg2
        return 0
    if option == PR_GET_PDEATHSIG:
        t.copy_out_i32(arg2, t.pdeathsig)
        return 0
    if option == PR_SET_DUMPABLE:
        if arg2 not in (0, 1):
            raise SyscallError(errno.EINVAL)
        tg.dumpable = arg2
        return 0
    if option == PR_GET_DUMPABLE:
        return getattr(tg, "dumpable", 1)
    from pysandbox.sentry.syscalls.sys_capability import CAPABILITY_PRCTL_OPTIONS, capability_prctl
    if option in CAPABILITY_PRCTL_OPTIONS:
        return capability_prctl(t, option, arg2, arg3, arg4, arg5)
    if option == PR_SET_CHILD_SUBREAPER:
        tg.subreaper = bool(arg2)
        return 0
    if option == PR_GET_CHILD_SUBREAPER:
        t.copy_out_i32(arg2, int(tg.subreaper))
        return 0
    if option in (PR_GET_SECCOMP, PR_SET_SECCOMP):
        from pysandbox.sentry.syscalls import sys_seccomp     # off the start-up path
        if option == PR_GET_SECCOMP:
            return sys_seccomp.prctl_get_seccomp(t)
        return sys_seccomp.prctl_set_seccomp(t, arg2, arg3)
    if option == PR_GET_TIMERSLACK:
        return 50000
    if option == PR_SET_TIMERSLACK:
        return 0
    if option == PR_SET_VMA:
        return 0
    raise SyscallError(errno.EINVAL)


def sched_yield(t):
    """sched_yield(2): the task goes to the back of the run queue."""
    return 0


def _cpu_count():
    """The CPUs the sandbox shows: the host's (sched.HOST_CPUS)."""
    return HOST_CPUS


def sched_getaffinity(t, pid, cpusetsize, mask):
    """sched_getaffinity(2): the raw syscall returns the number of bytes written."""
    if pid and pid not in t.kernel.tasks:
        raise SyscallError(errno.ESRCH)
    if cpusetsize < 8 or cpusetsize % 8:
        raise SyscallError(errno.EINVAL)
    target = t.kernel.tasks[pid] if pid else t
    bits = target.sched.affinity if target.sched.affinity is not None else (1 << _cpu_count()) - 1
    size = 8
    t.copy_out(mask, bits.to_bytes(size, "little"))
    return size


def sched_setaffinity(t, pid, cpusetsize, mask):
    """sched_setaffinity(2): checked and remembered (sched_getaffinity reports it); the sentry
    does its own placement."""
    if pid and pid not in t.kernel.tasks:
        raise SyscallError(errno.ESRCH)
    wanted = int.from_bytes(t.copy_in(mask, min(cpusetsize, 128)), "little")
    usable = wanted & ((1 << _cpu_count()) - 1)
    if usable == 0:
        raise SyscallError(errno.EINVAL)
    (t.kernel.tasks[pid] if pid else t).sched.affinity = usable
    return 0


def rseq(t, rseq_ptr, rseq_len, flags, sig):
    """rseq(2): not offered; glibc carries on without it."""
    raise SyscallError(errno.ENOSYS)
