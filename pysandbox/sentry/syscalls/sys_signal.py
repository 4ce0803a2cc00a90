"""Signals: rt_sigaction(2), rt_sigprocmask(2), rt_sigreturn(2), rt_sigpending(2),
rt_sigsuspend(2), rt_sigtimedwait(2), rt_sigqueueinfo(2), rt_tgsigqueueinfo(2),
sigaltstack(2), kill(2), tkill(2), tgkill(2), pause(2), alarm(2).

The signal machinery itself (queues, sending, delivery) is in sentry/signals.py.
"""
import errno
import struct

from pysandbox.sentry import sigframe, signals
from pysandbox.sentry.credentials import CAP_KILL, has_capability
from pysandbox.sentry.errors import KEEP_REGS, RESTART_ALWAYS, RESTART_NEVER, SyscallError, WouldBlock
from pysandbox.sentry.signals import SI_TKILL, SIGSEGV, SigAction, SigInfo

SIGSET_SIZE = 8
SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2
INT_MIN = -(1 << 31)
NSEC_PER_SEC = 1_000_000_000

_STACK_T = struct.Struct("<QI4xQ")        # ss_sp, ss_flags, ss_size
_TIMESPEC = struct.Struct("<qq")


def _copy_in_sigset(t, addr):
    return t.copy_in_u64(addr)


def _check_sigsetsize(sigsetsize):
    if sigsetsize != SIGSET_SIZE:
        raise SyscallError(errno.EINVAL)


# -- actions and masks -------------------------------------------------------------------
def rt_sigaction(t, signum, act, oldact, sigsetsize):
    """rt_sigaction(2)."""
    _check_sigsetsize(sigsetsize)
    new_action = SigAction.unpack(t.copy_in(act, SigAction.SIZE)) if act else None
    if not 1 <= signum <= signals.NSIG:
        raise SyscallError(errno.EINVAL)
    if new_action is not None and signum in (signals.SIGKILL, signals.SIGSTOP):
        raise SyscallError(errno.EINVAL)
    if new_action is None:
        old_action = t.tg.sighand[signum]
    else:
        old_action = signals.set_action(t.tg, signum, new_action)
    if oldact:
        t.copy_out(oldact, old_action.pack())
    return 0


def rt_sigprocmask(t, how, new_set, old_set, sigsetsize):
    """rt_sigprocmask(2)."""
    _check_sigsetsize(sigsetsize)
    old_mask = t.sigmask
    if new_set:
        change = _copy_in_sigset(t, new_set)
        if how == SIG_BLOCK:
            mask = old_mask | change
        elif how == SIG_UNBLOCK:
            mask = old_mask & ~change
        elif how == SIG_SETMASK:
            mask = change
        else:
            raise SyscallError(errno.EINVAL)
        signals.set_sigmask(t, mask)
    if old_set:
        t.copy_out_u64(old_set, old_mask)
    return 0


def rt_sigpending(t, pending_set, sigsetsize):
    """rt_sigpending(2)."""
    if sigsetsize > SIGSET_SIZE:
        raise SyscallError(errno.EINVAL)
    pending = signals.blocked_pending_signals(t)
    t.copy_out(pending_set, pending.to_bytes(SIGSET_SIZE, "little")[:sigsetsize])
    return 0


def sigaltstack(t, ss, old_ss):
    """sigaltstack(2)."""
    new_stack = _STACK_T.unpack(t.copy_in(ss, _STACK_T.size)) if ss else None
    sp = t.regs.rsp
    ss_sp, ss_flags, ss_size = t.sigaltstack
    old_stack = (ss_sp, signals.altstack_flags(t, sp) | (ss_flags & signals.SS_AUTODISARM), ss_size)
    if new_stack is not None:
        signals.set_altstack(t, *new_stack, sp=sp)
    if old_ss:
        t.copy_out(old_ss, _STACK_T.pack(*old_stack))
    return 0


def rt_sigreturn(t):
    """rt_sigreturn(2): back to the code a handler interrupted, from the frame the handler returned off."""
    frame_addr = (t.regs.rsp - sigframe.UCONTEXT_OFFSET) & sigframe.MASK64
    try:
        saved = sigframe.parse_rt_sigframe(t.copy_in(frame_addr, sigframe.RT_SIGFRAME_SIZE))
        fpstate = _fpstate_from_frame(t, saved)
    except SyscallError:
        fpstate = None
    if fpstate is None:
        signals.force_signal(t, SigInfo.kernel(SIGSEGV))
        return 0
    signals.restore_from_frame(t, saved, fpstate)
    return KEEP_REGS


def _fpstate_from_frame(t, saved):
    """The FPU state a frame holds: a whole XSAVE image when it is marked as one (UC_FP_XSTATE),
    its FXSAVE part otherwise; None when the XSAVE marking is broken."""
    if not saved.fpstate_addr:
        return sigframe.INIT_FPSTATE
    fxsave_area = t.copy_in(saved.fpstate_addr, sigframe.FXSAVE_SIZE)
    xstate_size = sigframe.xstate_size_in_frame(fxsave_area) if saved.uc_flags & sigframe.UC_FP_XSTATE else 0
    if not xstate_size:
        return fxsave_area
    image = t.copy_in(saved.fpstate_addr, xstate_size + sigframe.FP_XSTATE_MAGIC2_SIZE)
    cpu_xfeatures = int.from_bytes(t.context.get_fpstate()[464:472], "little")
    return sigframe.xstate_from_frame(image, cpu_xfeatures)


# -- waiting for signals -------------------------------------------------------------------
def pause(t):
    """pause(2): sleep until a signal handler has run."""
    raise WouldBlock(restart=RESTART_ALWAYS)


def rt_sigsuspend(t, mask, sigsetsize):
    """rt_sigsuspend(2): the caller's mask is restored when the handler returns (saved in its frame)."""
    _check_sigsetsize(sigsetsize)
    signals.set_temporary_sigmask(t, _copy_in_sigset(t, mask))
    raise WouldBlock(restart=RESTART_ALWAYS)


def rt_sigtimedwait(t, wanted_set, info, timeout, sigsetsize):
    """rt_sigtimedwait(2)."""
    _check_sigsetsize(sigsetsize)
    wanted = _copy_in_sigset(t, wanted_set) & ~signals.UNBLOCKABLE
    seconds = _copy_in_timeout(t, timeout) if timeout else None
    taken = signals.dequeue_signal(t, ~wanted)
    if taken is None:
        if seconds == 0 or t.timed_out():
            raise SyscallError(errno.EAGAIN)
        if "deadline" not in t.syscall_state:
            t.syscall_state["deadline"] = None if seconds is None else t.kernel.now() + seconds
        raise WouldBlock(t.pending.arrivals, t.tg.pending.arrivals,
                         deadline=t.syscall_state["deadline"], restart=RESTART_NEVER)
    if info:
        t.copy_out(info, taken.pack())
    return taken.signo


def _copy_in_timeout(t, addr):
    seconds, nanoseconds = _TIMESPEC.unpack(t.copy_in(addr, _TIMESPEC.size))
    if seconds < 0 or not 0 <= nanoseconds < NSEC_PER_SEC:
        raise SyscallError(errno.EINVAL)
    return seconds + nanoseconds / NSEC_PER_SEC


def alarm(t, seconds):
    """alarm(2): returns the seconds left on the previous alarm, rounded to the nearest (at least 1)."""
    remaining, _ = signals.real_timer(t.tg).set(seconds, 0.0)
    whole, fraction = divmod(remaining, 1)
    rounds_up = fraction >= 0.5 or (whole == 0 and fraction > 0)
    return int(whole) + rounds_up


# -- sending ------------------------------------------------------------------------------------------
def kill(t, pid, sig):
    """kill(2)."""
    info = SigInfo.user(sig, t)
    if pid > 0:
        return signal_process(t, _find_process(t.kernel, pid), info)
    if pid == INT_MIN:
        raise SyscallError(errno.ESRCH)
    if pid == -1:
        return _signal_all_processes(t, info)
    return signal_process_group(t, -pid if pid else t.tg.pgid, info)


def tkill(t, tid, sig):
    """tkill(2)."""
    if tid <= 0:
        raise SyscallError(errno.EINVAL)
    return signal_thread(t, 0, tid, SigInfo.user(sig, t, code=SI_TKILL))


def tgkill(t, tgid, tid, sig):
    """tgkill(2)."""
    if tid <= 0 or tgid <= 0:
        raise SyscallError(errno.EINVAL)
    return signal_thread(t, tgid, tid, SigInfo.user(sig, t, code=SI_TKILL))


def rt_sigqueueinfo(t, tgid, sig, info):
    """rt_sigqueueinfo(2)."""
    queued = SigInfo.unpack(t.copy_in(info, signals.SIGINFO_SIZE), signo=sig)
    check_not_impersonating(t, tgid, queued)
    return signal_process(t, _find_process(t.kernel, tgid), queued)


def rt_tgsigqueueinfo(t, tgid, tid, sig, info):
    """rt_tgsigqueueinfo(2)."""
    queued = SigInfo.unpack(t.copy_in(info, signals.SIGINFO_SIZE), signo=sig)
    if tid <= 0 or tgid <= 0:
        raise SyscallError(errno.EINVAL)
    check_not_impersonating(t, tid, queued)
    return signal_thread(t, tgid, tid, queued)


def check_not_impersonating(t, target_pid, info):
    """Only a signal to oneself may claim to come from the kernel, kill(2) or tkill(2)."""
    if (info.code >= 0 or info.code == SI_TKILL) and target_pid != t.tid:
        raise SyscallError(errno.EPERM)


def _find_process(kernel, pid):
    """The process with pid `pid`, or the process of thread `pid`."""
    task = kernel.tasks.get(pid)
    if task is not None:
        return task.tg
    tg = kernel.thread_groups.get(pid)
    if tg is None or tg.reaped:
        raise SyscallError(errno.ESRCH)
    return tg


def signal_process(t, tg, info):
    """group_send_sig_info(): signal 0 only checks that the process may be signalled."""
    target_creds = tg.leader.creds if tg.leader is not None else None
    _check_kill_permission(t, tg, target_creds, info.signo)
    if info.signo:
        signals.send_signal(tg, info)
    return 0


def signal_thread(t, tgid, tid, info):
    """do_send_specific(): thread `tid`, which must belong to `tgid` unless that is 0."""
    task = t.kernel.tasks.get(tid)
    if task is None or not task.alive or (tgid and task.tg.tgid != tgid):
        raise SyscallError(errno.ESRCH)
    _check_kill_permission(t, task.tg, task.creds, info.signo)
    if info.signo:
        signals.send_signal(task, info)
    return 0


def signal_process_group(t, pgid, info):
    """Every process of the group; fails only if none could be signalled, with the last error."""
    error = errno.ESRCH
    signalled = False
    for tg in _live_processes(t.kernel):
        if tg.pgid == pgid:
            try:
                signal_process(t, tg, info)
                signalled = True
            except SyscallError as failure:
                error = failure.errno
    if not signalled:
        raise SyscallError(error)
    return 0


def _signal_all_processes(t, info):
    """kill(-1): every process but init and the caller's; EPERM from some of them is no failure."""
    targets = [tg for tg in _live_processes(t.kernel) if tg.tgid > 1 and tg is not t.tg]
    if not targets:
        raise SyscallError(errno.ESRCH)
    error = 0
    for tg in targets:
        try:
            signal_process(t, tg, info)
            error = 0
        except SyscallError as failure:
            if failure.errno != errno.EPERM:
                error = failure.errno
    if error:
        raise SyscallError(error)
    return 0


def _live_processes(kernel):
    return [tg for tg in list(kernel.thread_groups.values()) if not tg.reaped]


def _check_kill_permission(t, tg, target_creds, sig):
    """check_kill_permission(): EINVAL for a bad signal number; EPERM for another user's
    process unless the caller has CAP_KILL, though SIGCONT may reach its own session."""
    if not 0 <= sig <= signals.NSIG:
        raise SyscallError(errno.EINVAL)
    if tg is t.tg or target_creds is None or _may_signal(t.creds, target_creds):
        return
    if sig == signals.SIGCONT and tg.sid == t.tg.sid:
        return
    raise SyscallError(errno.EPERM)


def _may_signal(sender, target):
    """kill_ok_by_cred(): the sender's real or effective uid is the target's real or saved uid."""
    return has_capability(sender, CAP_KILL) or bool({sender.uid, sender.euid} & {target.uid, target.suid})
