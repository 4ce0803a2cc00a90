"""ptrace(2) by the workload: requests on sandbox tasks, never on the host's processes.

The links and stops live in sentry/ptrace.py; this module decodes requests and checks them in
Linux's order (ptrace_attach, ptrace_check_attach, arch_ptrace, ptrace_request).
"""
import errno
import struct

from pysandbox.sentry import ptrace as tracing
from pysandbox.sentry import signals
from pysandbox.sentry.errors import SyscallError
from pysandbox.sentry.ptrace import (MASK64, PTRACE_ATTACH, PTRACE_CONT, PTRACE_DETACH, PTRACE_EVENT_STOP,
                                     PTRACE_GET_SYSCALL_INFO, PTRACE_GETEVENTMSG, PTRACE_GETFPREGS,
                                     PTRACE_GETREGS, PTRACE_GETREGSET, PTRACE_GETSIGINFO, PTRACE_GETSIGMASK,
                                     PTRACE_INTERRUPT, PTRACE_KILL, PTRACE_LISTEN, PTRACE_O_MASK,
                                     PTRACE_PEEKDATA, PTRACE_PEEKTEXT, PTRACE_PEEKUSER, PTRACE_POKEDATA,
                                     PTRACE_POKETEXT, PTRACE_POKEUSER, PTRACE_SEIZE, PTRACE_SETFPREGS,
                                     PTRACE_SETOPTIONS, PTRACE_SETREGS, PTRACE_SETREGSET, PTRACE_SETSIGINFO,
                                     PTRACE_SETSIGMASK, PTRACE_SINGLESTEP, PTRACE_SYSCALL,
                                     PTRACE_SYSCALL_INFO_ENTRY, PTRACE_SYSCALL_INFO_EXIT,
                                     PTRACE_SYSCALL_INFO_NONE, PTRACE_SYSCALL_INFO_SECCOMP, PTRACE_TRACEME,
                                     REGISTERS, SECCOMP, SYSCALL_ENTRY, SYSCALL_EXIT, TASK_SIZE_MAX,
                                     USER_REGS_SIZE)
from pysandbox.sentry.syscalls.sys_pidfd import ptrace_may_access

NT_PRSTATUS, NT_PRFPREG, NT_X86_XSTATE = 1, 2, 0x202
FXSAVE_SIZE = 512
SIZEOF_USER = 928                   # struct user on x86_64
USER_DEBUGREG_OFFSET = 848          # offsetof(struct user, u_debugreg)
AUDIT_ARCH_X86_64 = 0xC000003E
MAX_ERRNO = 4095
_IOVEC = struct.Struct("<QQ")
_SYSCALL_INFO_HEADER = struct.Struct("<B3xIQQ")
# eflags bits a tracer may change (FLAG_MASK in arch/x86/kernel/ptrace.c)
_TRACER_EFLAGS = signals.RESTORABLE_EFLAGS


def ptrace(t, request, pid, addr, data):
    """Ptrace implements Linux syscall ptrace(2) for tracer and tracee inside the sandbox."""
    if request == PTRACE_TRACEME:
        return trace_me(t)
    target = t.kernel.tasks.get(pid) if pid > 0 else None
    if target is None or not target.alive and target.ptrace is None:
        raise SyscallError(errno.ESRCH)
    if request in (PTRACE_ATTACH, PTRACE_SEIZE):
        return attach(t, target, request == PTRACE_SEIZE, addr, data)
    _check_attached(t, target, needs_stop=request not in (PTRACE_KILL, PTRACE_INTERRUPT))
    handler = _REQUESTS.get(request)
    if handler is None:
        raise SyscallError(errno.EIO)
    return handler(t, target, addr, data)


def trace_me(t):
    """PTRACE_TRACEME: the parent (the thread that forked it) becomes the tracer."""
    parent = t.tg.parent
    if t.ptrace is not None or parent is None or parent.exiting:
        raise SyscallError(errno.EPERM)
    tracer = t.tg.forked_by if t.tg.forked_by is not None and t.tg.forked_by.alive else parent.leader
    if tracer is None:
        raise SyscallError(errno.EPERM)
    tracing.link(t, tracer, seized=False)
    return 0


def attach(t, target, seize, addr, flags):
    """PTRACE_ATTACH (the tracee gets SIGSTOP) and PTRACE_SEIZE (it runs on; `flags` are options)."""
    if seize and (addr != 0 or flags & ~PTRACE_O_MASK):
        raise SyscallError(errno.EIO)
    if target.tg is t.tg:
        raise SyscallError(errno.EPERM)
    if not ptrace_may_access(t, target):
        raise SyscallError(errno.EPERM)
    if target.tg.exiting or not target.alive or target.ptrace is not None:
        raise SyscallError(errno.EPERM)
    tracing.link(target, t, seized=seize, options=flags if seize else 0)
    if not seize:
        signals.send_signal(target, signals.SigInfo.kernel(signals.SIGSTOP))
    return 0


def _check_attached(t, target, needs_stop):
    """ptrace_check_attach: traced by this very thread, and (for most requests) in a ptrace-stop."""
    state = target.ptrace
    if state is None or state.tracer is not t:
        raise SyscallError(errno.ESRCH)
    if needs_stop and (state.stop is None or not target.alive):
        raise SyscallError(errno.ESRCH)


# -- memory ---------------------------------------------------------------------------------------
def _peek_memory(t, target, addr, data):
    word = tracing.read_forced(target.mm, addr, 8)
    if len(word) < 8:
        raise SyscallError(errno.EIO)
    t.copy_out(data, word)
    return 0


def _poke_memory(t, target, addr, data):
    """POKETEXT/POKEDATA write even read-only private pages, never a read-only shared mapping."""
    if tracing.write_forced(target.mm, addr, struct.pack("<Q", data)) < 8:
        raise SyscallError(errno.EIO)
    return 0


# -- registers ---------------------------------------------------------------------------------------
def _user_offset(addr):
    if addr & 7 or addr >= SIZEOF_USER:
        raise SyscallError(errno.EIO)
    return addr


def _peek_user(t, target, addr, data):
    offset = _user_offset(addr)
    value = _register_values(target)[offset // 8] if offset < USER_REGS_SIZE else 0
    t.copy_out_u64(data, value)
    return 0


def _poke_user(t, target, addr, data):
    offset = _user_offset(addr)
    if offset < USER_REGS_SIZE:
        _put_register(target.regs, REGISTERS[offset // 8], data & MASK64)
    elif offset >= USER_DEBUGREG_OFFSET and data != 0:
        raise SyscallError(errno.EIO)        # no hardware breakpoints in the sandbox
    return 0


def _put_register(regs, name, value):
    """putreg(): selectors must be user ones (and stay what the sandbox gave), bases user
    addresses, and eflags keeps its system bits."""
    if name in _SELECTORS_STRICT or name in _SELECTORS_LAX:
        if value & 3 != 3 and (value or name in _SELECTORS_STRICT):
            raise SyscallError(errno.EIO)
        return
    if name in ("fs_base", "gs_base") and value >= TASK_SIZE_MAX:
        raise SyscallError(errno.EIO)
    if name == "eflags":
        value = (regs.eflags & ~_TRACER_EFLAGS) | (value & _TRACER_EFLAGS)
    setattr(regs, name, value)


_SELECTORS_STRICT = ("cs", "ss")
_SELECTORS_LAX = ("ds", "es", "fs", "gs")


def _register_values(target):
    """The registers as the tracer sees them: without the trap flag PTRACE_SINGLESTEP set."""
    regs = target.regs
    values = [getattr(regs, name) for name in REGISTERS]
    if target.ptrace.stepping:
        values[_EFLAGS_INDEX] &= ~signals.EFLAGS_TF
    return values


_EFLAGS_INDEX = REGISTERS.index("eflags")


def _pack_registers(target):
    return struct.pack(f"<{len(REGISTERS)}Q", *_register_values(target))


def _unpack_registers(regs, raw):
    for name, value in zip(REGISTERS, struct.unpack(f"<{len(REGISTERS)}Q", raw)):
        _put_register(regs, name, value)


def _get_regs(t, target, addr, data):
    t.copy_out(data, _regset(target, NT_PRSTATUS))
    return 0


def _set_regs(t, target, addr, data):
    _unpack_registers(target.regs, t.copy_in(data, USER_REGS_SIZE))
    return 0


def _get_fpregs(t, target, addr, data):
    t.copy_out(data, _regset(target, NT_PRFPREG))
    return 0


def _set_fpregs(t, target, addr, data):
    _load_fpstate(target, t.copy_in(data, FXSAVE_SIZE))
    return 0


def _load_fpstate(target, image):
    """A new FXSAVE (or XSAVE) image; the rest of the XSAVE state is kept."""
    current = bytes(target.context.get_fpstate())
    merged = bytes(image) + current[len(image):] if len(current) > len(image) else bytes(image)
    if not target.context.set_fpstate(merged):
        raise SyscallError(errno.EINVAL)


def _regset(target, kind):
    if kind == NT_PRSTATUS:
        return _pack_registers(target)
    if kind == NT_PRFPREG:
        return bytes(target.context.get_fpstate()[:FXSAVE_SIZE])
    if kind == NT_X86_XSTATE:
        image = bytes(target.context.get_fpstate())
        if len(image) > FXSAVE_SIZE:
            return image
    raise SyscallError(errno.EINVAL)


def _get_regset(t, target, kind, iov):
    """PTRACE_GETREGSET: as much of the set as the iovec holds; iov_len becomes what was copied."""
    base, length = _IOVEC.unpack(t.copy_in(iov, _IOVEC.size))
    content = _regset(target, kind)[:length]
    t.copy_out(base, content)
    t.copy_out(iov, _IOVEC.pack(base, len(content)))
    return 0


def _set_regset(t, target, kind, iov):
    base, length = _IOVEC.unpack(t.copy_in(iov, _IOVEC.size))
    size = len(_regset(target, kind))
    length = min(length, size)
    if kind == NT_PRSTATUS:
        if length % 8:
            raise SyscallError(errno.EINVAL)
        raw = _pack_registers(target)
        raw = t.copy_in(base, length) + raw[length:]
        _unpack_registers(target.regs, raw)
    else:
        _load_fpstate(target, t.copy_in(base, length))
    t.copy_out(iov, _IOVEC.pack(base, length))
    return 0


# -- siginfo, options, events ---------------------------------------------------------------------------
def _get_siginfo(t, target, addr, data):
    siginfo = target.ptrace.stop.siginfo
    if siginfo is None:
        raise SyscallError(errno.EINVAL)
    t.copy_out(data, siginfo.pack())
    return 0


def _set_siginfo(t, target, addr, data):
    stop = target.ptrace.stop
    if stop.siginfo is None:
        raise SyscallError(errno.EINVAL)
    stop.siginfo = signals.SigInfo.unpack(t.copy_in(data, signals.SIGINFO_SIZE))
    return 0


def _set_options(t, target, addr, data):
    if data & ~PTRACE_O_MASK:
        raise SyscallError(errno.EINVAL)
    target.ptrace.options = data
    return 0


def _get_event_msg(t, target, addr, data):
    t.copy_out_u64(data, target.ptrace.event_msg)
    return 0


def _get_sigmask(t, target, size, data):
    if size != 8:
        raise SyscallError(errno.EINVAL)
    t.copy_out_u64(data, target.sigmask)
    return 0


def _set_sigmask(t, target, size, data):
    if size != 8:
        raise SyscallError(errno.EINVAL)
    target.sigmask = t.copy_in_u64(data) & ~signals.UNBLOCKABLE & signals.ALL_SIGNALS
    return 0


_SYSCALL_INFO_OP = {SYSCALL_ENTRY: PTRACE_SYSCALL_INFO_ENTRY, SYSCALL_EXIT: PTRACE_SYSCALL_INFO_EXIT,
                    SECCOMP: PTRACE_SYSCALL_INFO_SECCOMP}       # the op of each kind of syscall stop


def _get_syscall_info(t, target, size, data):
    """PTRACE_GET_SYSCALL_INFO: at a syscall stop, its number and arguments or its result (at
    PTRACE_EVENT_SECCOMP, the number, arguments and the filter's data). Copies at most `size`
    bytes; returns the size of the whole answer."""
    regs = target.regs
    state = target.ptrace
    op = _SYSCALL_INFO_OP.get(state.stop.kind, PTRACE_SYSCALL_INFO_NONE)
    info = _SYSCALL_INFO_HEADER.pack(op, AUDIT_ARCH_X86_64, regs.rip, regs.rsp)
    if op in (PTRACE_SYSCALL_INFO_ENTRY, PTRACE_SYSCALL_INFO_SECCOMP):
        info += struct.pack("<7Q", regs.orig_rax, regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9)
        if op == PTRACE_SYSCALL_INFO_SECCOMP:
            info += struct.pack("<I", state.event_msg & 0xFFFFFFFF)
    elif op == PTRACE_SYSCALL_INFO_EXIT:
        value = regs.rax
        is_error = value >= (-MAX_ERRNO) & MASK64
        info += struct.pack("<QB", value, is_error)
    if data and size:
        t.copy_out(data, info[:size])
    return len(info)


# -- resuming, detaching, killing --------------------------------------------------------------------------
def _valid_signal(signo):
    if not 0 <= signo <= signals.NSIG:
        raise SyscallError(errno.EIO)
    return signo


def _resume(request):
    def resume(t, target, addr, data):
        target.ptrace.resume_from_stop(request, _valid_signal(data))
        return 0
    return resume


def _detach(t, target, addr, data):
    tracing.detach(target, _valid_signal(data))
    return 0


def _kill(t, target, addr, data):
    if target.alive and not target.tg.exiting:
        signals.send_signal(target.tg, signals.SigInfo.kernel(signals.SIGKILL))
    return 0


def _interrupt(t, target, addr, data):
    state = target.ptrace
    if not state.seized:
        raise SyscallError(errno.EIO)
    if state.stop is None and target.alive:
        state.interrupt = True
        target.interrupted = True
        t.kernel.wake_for_signal(target)
    return 0


def _listen(t, target, addr, data):
    """PTRACE_LISTEN: only for a seized tracee stopped at PTRACE_EVENT_STOP, which stays stopped
    and traps again (PTRACE_EVENT_STOP, SIGTRAP) when its group-stop ends (ptrace.group_continued)."""
    state = target.ptrace
    siginfo = state.stop.siginfo
    if not state.seized or siginfo is None or siginfo.code >> 8 != PTRACE_EVENT_STOP:
        raise SyscallError(errno.EIO)
    state.listening = True
    return 0


_REQUESTS = {
    PTRACE_PEEKTEXT: _peek_memory, PTRACE_PEEKDATA: _peek_memory,
    PTRACE_POKETEXT: _poke_memory, PTRACE_POKEDATA: _poke_memory,
    PTRACE_PEEKUSER: _peek_user, PTRACE_POKEUSER: _poke_user,
    PTRACE_GETREGS: _get_regs, PTRACE_SETREGS: _set_regs,
    PTRACE_GETFPREGS: _get_fpregs, PTRACE_SETFPREGS: _set_fpregs,
    PTRACE_GETREGSET: _get_regset, PTRACE_SETREGSET: _set_regset,
    PTRACE_GETSIGINFO: _get_siginfo, PTRACE_SETSIGINFO: _set_siginfo,
    PTRACE_GETSIGMASK: _get_sigmask, PTRACE_SETSIGMASK: _set_sigmask,
    PTRACE_SETOPTIONS: _set_options, PTRACE_GETEVENTMSG: _get_event_msg,
    PTRACE_GET_SYSCALL_INFO: _get_syscall_info,
    PTRACE_CONT: _resume(PTRACE_CONT), PTRACE_SYSCALL: _resume(PTRACE_SYSCALL),
    PTRACE_SINGLESTEP: _resume(PTRACE_SINGLESTEP),
    PTRACE_DETACH: _detach, PTRACE_KILL: _kill, PTRACE_INTERRUPT: _interrupt, PTRACE_LISTEN: _listen,
}
