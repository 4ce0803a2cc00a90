"""Signals: numbers, actions, pending queues, sending and delivery (signal(7)).

The host kernel never delivers a signal to the guest. The sentry keeps all
signal state here and, before a task returns to user mode, runs a handler by
writing an rt_sigframe on the guest stack (sigframe.py), as Linux's
kernel/signal.c and arch/x86/kernel/signal.c do.

What the kernel calls:

  deliver_pending_signals(t)   before t returns to user mode with a signal
                               deliverable, a syscall interrupted or a temporary
                               mask to restore. Runs handlers, default actions and
                               the restart of an interrupted syscall.
  send_signal(target, info)    target: a Task (thread-directed) or ThreadGroup.
  force_signal(t, info)        a fault of t's own: can't be blocked or ignored.
  has_deliverable_signal(t)    whether a parked wait must end.
  exit_signals(t)              a thread exits: others take the group's signals.
  copy_sighand / reset_handlers / reset_for_exec   fork, CLONE_CLEAR_SIGHAND, execve.

What they need from the kernel: kernel.exit_thread_group(tg, wait_status),
kernel.group_stop(tg, signo), kernel.group_continue(tg) (a no-op unless the
group is stopped), kernel.wake_for_signal(task), kernel.init (pid 1's group),
kernel.now/add_timer/cancel_timer; and Task.saved_sigmask, Task.alive.
"""
import errno
import struct
from collections import namedtuple

from pysandbox.sentry.errors import SyscallError
from pysandbox.sentry.task import RLIMIT_CORE, ThreadGroup
from pysandbox.sentry.waiter import WaitQueue

MASK64 = (1 << 64) - 1

# -- signal numbers and sets ------------------------------------------------------------
SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE = 1, 2, 3, 4, 5, 6, 7, 8
SIGKILL, SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGSTKFLT = 9, 10, 11, 12, 13, 14, 15, 16
SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGXCPU = 17, 18, 19, 20, 21, 22, 23, 24
SIGXFSZ, SIGVTALRM, SIGPROF, SIGWINCH, SIGIO, SIGPWR, SIGSYS = 25, 26, 27, 28, 29, 30, 31
SIGPOLL = SIGIO
SIGRTMIN, SIGRTMAX = 32, 64
NSIG = 64                             # the highest signal number; sighand has NSIG + 1 entries

_STANDARD_NAMES = (
    "SIGHUP SIGINT SIGQUIT SIGILL SIGTRAP SIGABRT SIGBUS SIGFPE SIGKILL SIGUSR1 SIGSEGV SIGUSR2 "
    "SIGPIPE SIGALRM SIGTERM SIGSTKFLT SIGCHLD SIGCONT SIGSTOP SIGTSTP SIGTTIN SIGTTOU SIGURG "
    "SIGXCPU SIGXFSZ SIGVTALRM SIGPROF SIGWINCH SIGIO SIGPWR SIGSYS").split()


def signal_name(signo):
    """'SIGINT', 'SIGRTMIN+3', or the number itself for anything else."""
    if 1 <= signo < SIGRTMIN:
        return _STANDARD_NAMES[signo - 1]
    if SIGRTMIN <= signo <= SIGRTMAX:
        return "SIGRTMIN" if signo == SIGRTMIN else f"SIGRTMIN+{signo - SIGRTMIN}"
    return str(signo)


def sigbit(signo):
    """The bit of `signo` in a signal set (sigset_t: bit signo-1)."""
    return 1 << (signo - 1)


def sigset(*signos):
    mask = 0
    for signo in signos:
        mask |= sigbit(signo)
    return mask


ALL_SIGNALS = (1 << NSIG) - 1
UNBLOCKABLE = sigset(SIGKILL, SIGSTOP)
STOP_SIGNALS = sigset(SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU)
# Raised by the task's own instructions: taken before any other pending signal.
SYNCHRONOUS_SIGNALS = sigset(SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE, SIGSYS)

# -- sigaction, sigaltstack and siginfo constants ------------------------------------------------
SIG_DFL, SIG_IGN = 0, 1

SA_NOCLDSTOP, SA_NOCLDWAIT, SA_SIGINFO = 0x1, 0x2, 0x4
SA_UNSUPPORTED, SA_EXPOSE_TAGBITS = 0x400, 0x800
SA_RESTORER, SA_ONSTACK, SA_RESTART = 0x04000000, 0x08000000, 0x10000000
SA_NODEFER, SA_RESETHAND = 0x40000000, 0x80000000
# The flags x86_64 Linux keeps; others are dropped so that programs can probe for support.
UAPI_SA_FLAGS = (SA_NOCLDSTOP | SA_NOCLDWAIT | SA_SIGINFO | SA_ONSTACK | SA_RESTART | SA_NODEFER
                 | SA_RESETHAND | SA_EXPOSE_TAGBITS | SA_RESTORER)

SS_ONSTACK, SS_DISABLE, SS_AUTODISARM = 1, 2, 1 << 31
MINSIGSTKSZ = 2048

SI_USER, SI_KERNEL = 0, 0x80
SI_QUEUE, SI_TIMER, SI_MESGQ, SI_ASYNCIO, SI_SIGIO, SI_TKILL = -1, -2, -3, -4, -5, -6
CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_TRAPPED, CLD_STOPPED, CLD_CONTINUED = 1, 2, 3, 4, 5, 6
SEGV_MAPERR, SEGV_ACCERR = 1, 2
NSIGPOLL = 6

WCOREFLAG = 0x80                      # in a wait(2) status: the process dumped core
USER_HZ = 100                         # clock ticks of SIGCHLD's si_utime/si_stime

# What an interrupted syscall leaves in rax (as -code) for the restart logic below.
ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK = 512, 513, 514, 516
RESTART_ERRORS = (ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK)
NR_RESTART_SYSCALL = 219
SYSCALL_INSN_SIZE = 2

# eflags bits a handler may change through its frame (FIX_EFLAGS), and those cleared on entry.
EFLAGS_CF, EFLAGS_PF, EFLAGS_AF, EFLAGS_ZF, EFLAGS_SF = 0x1, 0x4, 0x10, 0x40, 0x80
EFLAGS_TF, EFLAGS_DF, EFLAGS_OF, EFLAGS_RF, EFLAGS_AC = 0x100, 0x400, 0x800, 0x10000, 0x40000
RESTORABLE_EFLAGS = (EFLAGS_AC | EFLAGS_OF | EFLAGS_DF | EFLAGS_TF | EFLAGS_SF | EFLAGS_ZF | EFLAGS_AF
                     | EFLAGS_PF | EFLAGS_CF | EFLAGS_RF)
HANDLER_ENTRY_CLEARED_EFLAGS = EFLAGS_DF | EFLAGS_RF | EFLAGS_TF

# A cap on queued real-time signals per queue (Linux counts RLIMIT_SIGPENDING per user).
MAX_QUEUED_SIGNALS = 63448


# -- default actions ------------------------------------------------------------------------------
class Action:
    """A signal's default action (signal(7)). SIGCONT's "continue" happens when it is sent.
    (Plain constants: the enum module would cost every start ~1.5 ms.)"""
    TERMINATE = "term"
    CORE = "core"
    STOP = "stop"
    IGNORE = "ign"


_DUMPING_CORE = sigset(SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGXCPU, SIGXFSZ, SIGSYS)
_IGNORED_BY_DEFAULT = sigset(SIGCONT, SIGCHLD, SIGURG, SIGWINCH)


def default_action(signo):
    bit = sigbit(signo)
    if bit & _DUMPING_CORE:
        return Action.CORE
    if bit & STOP_SIGNALS:
        return Action.STOP
    if bit & _IGNORED_BY_DEFAULT:
        return Action.IGNORE
    return Action.TERMINATE


def _handler_ignores(handler, signo):
    return handler == SIG_IGN or (handler == SIG_DFL and default_action(signo) is Action.IGNORE)


# -- actions (sighand) ----------------------------------------------------------------------------
_KERNEL_SIGACTION = struct.Struct("<QQQQ")


class SigAction(namedtuple("SigAction", "handler flags restorer mask", defaults=(SIG_DFL, 0, 0, 0))):
    """What a process does with one signal: struct kernel_sigaction of rt_sigaction(2)."""
    __slots__ = ()

    SIZE = _KERNEL_SIGACTION.size

    def pack(self):
        return _KERNEL_SIGACTION.pack(self.handler, self.flags, self.restorer, self.mask)

    @classmethod
    def unpack(cls, data):
        return cls(*_KERNEL_SIGACTION.unpack(data))


def new_sighand():
    """The actions of a fresh process: SIG_DFL for every signal (index = signal number)."""
    return [SigAction()] * (NSIG + 1)


def copy_sighand(sighand):
    """fork(2) without CLONE_SIGHAND: the child starts with a copy of its parent's actions."""
    return list(sighand)


def reset_handlers(sighand):
    """Handled signals go back to SIG_DFL, ignored ones stay ignored (flush_signal_handlers)."""
    for signo, action in enumerate(sighand):
        sighand[signo] = SigAction(SIG_IGN) if action.handler == SIG_IGN else SigAction()


def reset_for_exec(t):
    """execve(2): handlers reset in a sighand no longer shared; the alternate stack is forgotten
    (its flags stay, as in Linux); the mask and pending signals are kept."""
    t.tg.sighand = copy_sighand(t.tg.sighand)
    reset_handlers(t.tg.sighand)
    t.sigaltstack = (0, t.sigaltstack[1], 0)


def set_action(tg, signo, action):
    """Install `action` for `signo` (do_sigaction); returns the previous action.

    Unknown flags are dropped and SIGKILL/SIGSTOP can't be in the mask. POSIX:
    once a signal is ignored, its pending instances are discarded even if blocked.
    """
    old = tg.sighand[signo]
    action = SigAction(action.handler, action.flags & UAPI_SA_FLAGS, action.restorer,
                       action.mask & ~UNBLOCKABLE & ALL_SIGNALS)
    tg.sighand[signo] = action
    if _handler_ignores(action.handler, signo):
        _discard_pending(tg, sigbit(signo))
    elif tg.posix_timers and _handler_ignores(old.handler, signo):
        from pysandbox.sentry.posix_timers import signal_unignored
        signal_unignored(tg, signo)
    return old


# -- siginfo --------------------------------------------------------------------------------------
_SIGINFO_HEADER = struct.Struct("<iii4x")
# The member of siginfo_t's union each layout uses, with the SigInfo fields packed into it.
_SIGINFO_UNIONS = {
    "kill": (struct.Struct("<iI"), ("pid", "uid")),
    "rt": (struct.Struct("<iIQ"), ("pid", "uid", "value")),
    "timer": (struct.Struct("<iiQ"), ("timer_id", "overrun", "value")),
    "chld": (struct.Struct("<iIi4xqq"), ("pid", "uid", "status", "utime", "stime")),
    "fault": (struct.Struct("<Q"), ("addr",)),
    "poll": (struct.Struct("<qi"), ("band", "fd")),
    "sys": (struct.Struct("<QiI"), ("addr", "syscall", "arch")),
}
_KERNEL_CODE_LAYOUTS = {SIGILL: "fault", SIGFPE: "fault", SIGSEGV: "fault", SIGBUS: "fault",
                        SIGTRAP: "fault", SIGCHLD: "chld", SIGPOLL: "poll", SIGSYS: "sys"}
SIGINFO_SIZE = 128                      # sizeof(siginfo_t)


class SigInfo:
    """siginfo_t: which signal, and why (sigaction(2), "The siginfo_t argument").

    Only the fields of the union member that `code` selects are packed (Linux's siginfo_layout).
    """
    __slots__ = ("signo", "code", "errno", "pid", "uid", "status", "utime", "stime", "value",
                 "timer_id", "overrun", "addr", "band", "fd", "trapno", "error_code", "forced", "timer",
                 "syscall", "arch")

    def __init__(self, signo, code=SI_USER, errno=0, *, pid=0, uid=0, status=0, utime=0, stime=0,
                 value=0, timer_id=0, overrun=0, addr=0, band=0, fd=0, trapno=0, error_code=0,
                 forced=False):
        self.signo, self.code, self.errno = signo, code, errno
        self.pid, self.uid = pid, uid              # kill, sigqueue, SIGCHLD: the sender, or the child
        self.status = status                       # SIGCHLD: exit code, or the signal that killed/stopped/continued it
        self.utime, self.stime = utime, stime      # SIGCHLD: clock ticks
        self.value = value                         # sigqueue and timers: the sigval
        self.timer_id, self.overrun = timer_id, overrun
        self.addr = addr                           # faults: the address
        self.band, self.fd = band, fd              # SIGPOLL
        # Not part of siginfo_t:
        self.trapno, self.error_code = trapno, error_code  # a fault's CPU exception, for the sigcontext
        self.forced = forced  # raised by a fault, or sent from outside the sandbox: acts even on init
        self.timer = None     # the POSIX timer this siginfo belongs to (Linux's preallocated sigqueue)
        self.syscall = self.arch = 0               # SIGSYS from a seccomp filter (addr: the call address)

    def __eq__(self, other):
        if type(other) is not SigInfo:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # mutable

    def __repr__(self):
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__ if getattr(self, name))
        return f"SigInfo({fields})"

    @property
    def layout(self):
        if SI_USER < self.code < SI_KERNEL:
            return _KERNEL_CODE_LAYOUTS.get(self.signo, "poll" if self.code <= NSIGPOLL else "kill")
        if self.code == SI_TIMER:
            return "timer"
        if self.code == SI_SIGIO:
            return "poll"
        return "rt" if self.code < 0 else "kill"

    def pack(self):
        layout, names = _SIGINFO_UNIONS[self.layout]
        union = layout.pack(*(getattr(self, name) for name in names))
        return (_SIGINFO_HEADER.pack(self.signo, self.errno, self.code) + union).ljust(SIGINFO_SIZE, b"\0")

    @classmethod
    def unpack(cls, data, signo=None):
        """A siginfo_t from guest memory; `signo` overrides its si_signo (as rt_sigqueueinfo does)."""
        data = bytes(data)
        raw_signo, error, code = _SIGINFO_HEADER.unpack_from(data)
        info = cls(raw_signo if signo is None else signo, code, error)
        layout, names = _SIGINFO_UNIONS[info.layout]
        for name, value in zip(names, layout.unpack_from(data, _SIGINFO_HEADER.size)):
            setattr(info, name, value)
        return info

    @classmethod
    def user(cls, signo, sender, code=SI_USER):
        """Sent by `sender` with kill(2) (or tkill/tgkill with SI_TKILL)."""
        return cls(signo, code, pid=sender.tg.tgid, uid=sender.creds.uid)

    @classmethod
    def kernel(cls, signo):
        """Sent by the kernel itself (timers, a bad signal frame)."""
        return cls(signo, SI_KERNEL)

    @classmethod
    def fault(cls, signo, code, addr, trapno=0, error_code=0):
        """A CPU fault: SIGSEGV, SIGBUS, SIGILL, SIGFPE or SIGTRAP with its si_code and address."""
        return cls(signo, code, addr=addr, trapno=trapno, error_code=error_code)

    @classmethod
    def child(cls, tg, code, status):
        """SIGCHLD about child process `tg`: `status` is its wait(2) status for CLD_EXITED,
        CLD_KILLED and CLD_DUMPED, and the signal that stopped or continued it otherwise."""
        if code == CLD_EXITED:
            status = (status >> 8) & 0xFF
        elif code in (CLD_KILLED, CLD_DUMPED):
            status &= 0x7F
        uid = tg.leader.creds.uid if tg.leader is not None else 0
        user, system = tg.cpu_times()
        return cls(SIGCHLD, code, pid=tg.tgid, uid=uid, status=status,
                   utime=int(user * USER_HZ), stime=int(system * USER_HZ))

    def describe(self):
        """The siginfo as strace shows it: {si_signo=SIGCHLD, si_code=1, si_pid=2, ...}."""
        layout, names = _SIGINFO_UNIONS[self.layout]
        fields = [f"si_signo={signal_name(self.signo)}", f"si_code={self.code}"]
        fields += [f"si_{name}={getattr(self, name):#x}" if name == "addr" else f"si_{name}={getattr(self, name)}"
                   for name in names]
        return "{" + ", ".join(fields) + "}"

    @property
    def fault_address_register(self):
        """cr2 for the frame: the address of a page fault."""
        return self.addr if self.signo in (SIGSEGV, SIGBUS) and self.layout == "fault" else 0


# -- pending queues ----------------------------------------------------------------------------------
class SignalQueue:
    """Pending signals of a task or of a thread group (Linux's struct sigpending).

    A standard signal is pending at most once: sending it again while pending
    changes nothing. Real-time signals queue, each with its own siginfo, and are
    taken in the order they were sent.
    """

    def __init__(self):
        self.signals = 0                  # the set of pending signal numbers
        self._queued = []                 # SigInfo, oldest first
        self.arrivals = WaitQueue()       # notified on each queued signal (sigtimedwait, signalfd)

    def holds(self, info):
        """Whether this very SigInfo is still queued (a POSIX timer's signal not yet taken)."""
        return any(queued is info for queued in self._queued)

    def enqueue(self, info):
        """Queue `info`; False if it merged into an already pending standard signal.

        Raises SyscallError(EAGAIN) when the queue is full and a real-time signal
        came from anything but kill(2), as Linux does for sigqueue(3). A POSIX timer's
        siginfo is its own, allocated with the timer: it is always queued, as Linux's
        send_sigqueue does, even next to a pending instance of a standard signal.
        """
        bit = sigbit(info.signo)
        if info.timer is None:
            if info.signo < SIGRTMIN and self.signals & bit:
                return False
            if len(self._queued) >= MAX_QUEUED_SIGNALS:
                if info.code != SI_USER:
                    raise SyscallError(errno.EAGAIN)
                if self.signals & bit:
                    return False
        self._queued.append(info)
        self.signals |= bit
        self.arrivals.notify()
        return True

    def next_signal(self, blocked):
        """The signal to take next, or 0: synchronous (fault) signals first, then the lowest number."""
        candidates = self.signals & ~blocked
        if candidates & SYNCHRONOUS_SIGNALS:
            candidates &= SYNCHRONOUS_SIGNALS
        return (candidates & -candidates).bit_length()

    def take(self, blocked):
        """Remove and return the next signal not in `blocked`, or None."""
        signo = self.next_signal(blocked)
        if not signo:
            return None
        index = next(i for i, info in enumerate(self._queued) if info.signo == signo)
        info = self._queued.pop(index)
        if not any(other.signo == signo for other in self._queued):
            self.signals &= ~sigbit(signo)
        return info

    def discard(self, mask):
        """Forget every pending signal in `mask`."""
        if self.signals & mask:
            kept = []
            for info in self._queued:
                if not sigbit(info.signo) & mask:
                    kept.append(info)
                elif info.timer is not None:
                    info.timer.signal_discarded()
            self._queued = kept
            self.signals &= ~mask


def dequeue_signal(t, blocked):
    """Take t's next pending signal not in `blocked`: its own queue first, then its group's.
    As Linux's dequeue_signal, taking a timer's signal re-arms the timer: a POSIX timer's
    (which may drop a signal of a timer changed since), and ITIMER_REAL on SIGALRM."""
    for queue in (t.pending, t.tg.pending):
        while True:
            info = queue.take(blocked)
            if info is None:
                break
            if info.timer is not None and not info.timer.signal_taken(info):
                continue
            if info.signo == SIGALRM and t.tg.itimer_real is not None:
                t.tg.itimer_real.signal_taken()
            return info
    return None


def has_deliverable_signal(t):
    """Whether t has a pending signal it doesn't block (signal_pending)."""
    return bool((t.pending.signals | t.tg.pending.signals) & ~t.sigmask)


def blocked_pending_signals(t):
    """sigpending(2): the pending signals t blocks."""
    return (t.pending.signals | t.tg.pending.signals) & t.sigmask


def _discard_pending(tg, mask):
    tg.pending.discard(mask)
    for task in tg.tasks:
        task.pending.discard(mask)


# -- masks ----------------------------------------------------------------------------------------------
def set_sigmask(t, mask):
    """Set t's blocked signals (set_current_blocked). SIGKILL and SIGSTOP can't be blocked;
    group signals t now blocks are handed to another thread that can take them."""
    mask &= ALL_SIGNALS & ~UNBLOCKABLE
    newly_blocked = mask & ~t.sigmask
    t.sigmask = mask
    _hand_over_group_signals(t.tg, t.tg.pending.signals & newly_blocked, leaving=t)


def set_temporary_sigmask(t, mask):
    """Block `mask` for the length of a syscall (sigsuspend, ppoll, pselect6, epoll_pwait).

    The caller's mask is kept in t.saved_sigmask: it comes back through the
    handler frame if a signal interrupts the call, or at restore_temporary_sigmask
    when the call ends normally. Re-runs of a parked call keep the first saved mask.
    """
    if t.saved_sigmask is None:
        t.saved_sigmask = t.sigmask
    set_sigmask(t, mask)


def restore_temporary_sigmask(t):
    if t.saved_sigmask is not None:
        set_sigmask(t, t.saved_sigmask)
        t.saved_sigmask = None


def exit_signals(t):
    """t is exiting: group signals it could have taken go to the other threads."""
    _hand_over_group_signals(t.tg, t.tg.pending.signals & ~t.sigmask, leaving=t)


def _hand_over_group_signals(tg, signals, leaving):
    for task in _live_tasks(tg):
        if not signals:
            return
        takeable = signals & ~task.sigmask
        if task is not leaving and takeable:
            signals &= ~takeable
            tg.kernel.wake_for_signal(task)


def _live_tasks(tg):
    return [task for task in tg.tasks if task.alive]


# -- sending ----------------------------------------------------------------------------------------------
def send_signal(target, info):
    """Send `info` to a Task (thread-directed) or a ThreadGroup (process-directed).

    As Linux's __send_signal_locked: a dying process gets nothing; stop signals
    and SIGCONT first cancel each other's pending instances and SIGCONT resumes
    a stopped group, even if SIGCONT itself is then ignored; an ignored signal
    is dropped unless blocked (its action may change before it is unblocked);
    SIGKILL ends the process at once; a standard signal already pending merges.
    Then a task that doesn't block the signal is woken to take it.
    Raises SyscallError(EAGAIN) when a queued real-time signal doesn't fit.
    Returns whether `info` itself was queued.
    """
    if isinstance(target, ThreadGroup):
        tg, thread = target, None
    else:
        tg, thread = target.tg, target
    if tg.exiting:
        return
    signo = info.signo
    _apply_job_control(tg, signo)
    if _ignored_when_sent(tg, thread, info):
        return
    if signo == SIGKILL:
        tg.kernel.exit_thread_group(tg, wait_status=SIGKILL)
        return
    queue = tg.pending if thread is None else thread.pending
    if not queue.enqueue(info):
        return False
    receiver = _group_receiver(tg, signo) if thread is None else thread
    if receiver is not None and not receiver.sigmask & sigbit(signo):
        tg.kernel.wake_for_signal(receiver)
    return True


def _apply_job_control(tg, signo):
    if sigbit(signo) & STOP_SIGNALS:
        _discard_pending(tg, sigbit(SIGCONT))
    elif signo == SIGCONT:
        _discard_pending(tg, STOP_SIGNALS)
        tg.kernel.group_continue(tg)


def _ignored_when_sent(tg, thread, info):
    signo = info.signo
    receivers = _live_tasks(tg) if thread is None else [thread]
    if any(task.sigmask & sigbit(signo) for task in receivers):
        return False
    if (thread or tg.leader).ptrace is not None and signo != SIGKILL:
        return False                      # a tracer sees even ignored signals (sig_ignored)
    handler = tg.sighand[signo].handler
    # A pid namespace's init gets only the signals it handles, and SIGKILL/SIGSTOP from outside.
    if _is_init(tg) and handler == SIG_DFL and not (info.forced and sigbit(signo) & UNBLOCKABLE):
        return True
    return _handler_ignores(handler, signo)


def _is_init(tg):
    """Whether tg gets a pid namespace init's protection (the kernel's protect_init setting)."""
    return tg is tg.kernel.init and tg.kernel.protect_init


def _group_receiver(tg, signo):
    """The thread to wake for a process-directed signal: the first that doesn't block it."""
    return next((task for task in _live_tasks(tg) if not task.sigmask & sigbit(signo)), None)


def force_signal(t, info, fatal=False):
    """Raise a signal caused by t's own execution: a fault, or a frame it couldn't take.

    As Linux's force_sig_info: the signal can't stay blocked or ignored; it is
    unblocked and its action reset to SIG_DFL (always, with `fatal`). No wake-up:
    the caller is about to return t to user mode, where it is delivered.
    """
    signo = info.signo
    action = t.tg.sighand[signo]
    if t.sigmask & sigbit(signo) or action.handler == SIG_IGN or fatal:
        t.tg.sighand[signo] = action._replace(handler=SIG_DFL)
        t.sigmask &= ~sigbit(signo)
    info.forced = True
    t.pending.enqueue(info)


# -- the alternate signal stack ---------------------------------------------------------------------------
def on_altstack(t, sp):
    """Whether sp is on t's alternate stack (on_sig_stack); never while SS_AUTODISARM disarms it."""
    if t.sigaltstack[1] & SS_AUTODISARM:
        return False
    return _within_altstack(t.sigaltstack, sp)


def _within_altstack(altstack, sp):
    ss_sp, _, ss_size = altstack
    return ss_sp < sp <= ss_sp + ss_size


def altstack_flags(t, sp):
    """SS_DISABLE, SS_ONSTACK or 0, as sigaltstack(2) reports them (sas_ss_flags)."""
    if t.sigaltstack[2] == 0:
        return SS_DISABLE
    return SS_ONSTACK if on_altstack(t, sp) else 0


def set_altstack(t, ss_sp, ss_flags, ss_size, sp):
    """Change t's alternate stack (do_sigaltstack); `sp` is t's current stack pointer."""
    if on_altstack(t, sp):
        raise SyscallError(errno.EPERM)
    mode = ss_flags & ~SS_AUTODISARM
    if mode not in (0, SS_ONSTACK, SS_DISABLE):
        raise SyscallError(errno.EINVAL)
    if (ss_sp, ss_flags, ss_size) == t.sigaltstack:
        return
    if mode == SS_DISABLE:
        ss_sp = ss_size = 0
    elif ss_size < MINSIGSTKSZ:
        raise SyscallError(errno.ENOMEM)
    t.sigaltstack = (ss_sp, ss_flags, ss_size)


# -- delivery -------------------------------------------------------------------------------------------------
def deliver_pending_signals(t):
    """Act on t's unblocked pending signals before it returns to user mode.

    Linux's get_signal and arch_do_signal_or_restart: each signal is ignored,
    given its default action, or gets a handler frame; frames stack, so the
    handler of the last signal taken runs first. An interrupted syscall (rax
    holding -ERESTART*) returns -EINTR or restarts. A stop or exit ends the
    pass; a syscall interrupted by a stop is set to restart when the group
    continues (Linux would give -EINTR instead if a SIGCONT handler without
    SA_RESTART ran first). Returns True if a handler frame was set up.
    """
    ran_handler = False
    while True:
        if t.ptrace is not None:         # traced: ptrace-stops come first, the tracer picks signals
            from pysandbox.sentry import ptrace
            info = ptrace.next_signal(t)
            if info is ptrace.STOPPED:
                return ran_handler
        elif has_deliverable_signal(t):
            info = dequeue_signal(t, t.sigmask)
        else:
            break
        if info is None:                 # only a dropped timer signal was pending
            break
        if t.kernel.strace:
            t.kernel.strace(f"[pid {t.tid}] --- {signal_name(info.signo)} {info.describe()} ---")
        action = t.tg.sighand[info.signo]
        if action.handler == SIG_IGN:
            continue
        if action.handler == SIG_DFL:
            if _take_default_action(t, info):
                break
            continue
        if action.flags & SA_RESETHAND:
            t.tg.sighand[info.signo] = action._replace(handler=SIG_DFL)
        ran_handler = _set_up_handler(t, info, action) or ran_handler
    if not ran_handler:
        _restart_without_handler(t.regs)
        restore_temporary_sigmask(t)
    return ran_handler


def _take_default_action(t, info):
    """A signal with SIG_DFL: True if the process stopped or ended."""
    signo = info.signo
    action = default_action(signo)
    if action is Action.IGNORE:
        return False
    if _is_init(t.tg) and not sigbit(signo) & UNBLOCKABLE and not info.forced:
        return False
    if t.ptrace is not None:             # traced: the tracer sees the stop, or the exit coming
        from pysandbox.sentry import ptrace
        if action is Action.STOP:
            ptrace.group_stop(t, signo)
            return True
        if ptrace.exit_with_event(t, termination_status(t.tg, signo, action)):
            return True
    if action is Action.STOP:
        t.kernel.group_stop(t.tg, signo)
        return True
    t.kernel.exit_thread_group(t.tg, wait_status=termination_status(t.tg, signo, action))
    return True


def termination_status(tg, signo, action):
    """Killed by `signo`; "core dumped" only where RLIMIT_CORE would allow a core file."""
    dumped = action is Action.CORE and tg.rlimits[RLIMIT_CORE][0] > 0
    return signo | (WCOREFLAG if dumped else 0)


def _set_up_handler(t, info, action):
    """Make t enter `action`'s handler (handle_signal); False if its frame couldn't be written,
    in which case SIGSEGV is forced, fatally if it was SIGSEGV's own frame."""
    from pysandbox.sentry import sigframe   # signal frames: imported once a handler runs
    regs = t.regs
    _restart_with_handler(regs, action)
    try:
        frame = _write_frame(t, info, action)
    except SyscallError:
        force_signal(t, SigInfo.kernel(SIGSEGV), fatal=info.signo == SIGSEGV)
        return False
    regs.rip = action.handler
    regs.rsp = frame.addr
    regs.rdi = info.signo
    regs.rsi = frame.siginfo_addr
    regs.rdx = frame.ucontext_addr
    regs.rax = 0
    regs.eflags &= ~HANDLER_ENTRY_CLEARED_EFLAGS
    t.context.set_fpstate(sigframe.INIT_FPSTATE)
    if t.sigaltstack[1] & SS_AUTODISARM:
        t.sigaltstack = (0, SS_DISABLE, 0)
    deferred = 0 if action.flags & SA_NODEFER else sigbit(info.signo)
    t.saved_sigmask = None
    set_sigmask(t, t.sigmask | action.mask | deferred)
    return True


def _write_frame(t, info, action):
    # x86_64 handlers always return through sa_restorer (glibc sets it); Linux refuses others.
    from pysandbox.sentry import sigframe   # signal frames: imported once a handler runs
    if not action.flags & SA_RESTORER:
        raise SyscallError(errno.EFAULT)
    top, uses_altstack = _frame_stack_top(t, action)
    saved_mask = t.sigmask if t.saved_sigmask is None else t.saved_sigmask
    frame = sigframe.build_rt_sigframe(
        top, t.regs, t.context.get_fpstate(), info.pack(), saved_mask, t.sigaltstack, action.restorer,
        trapno=info.trapno, error_code=info.error_code, cr2=info.fault_address_register)
    if uses_altstack and not _within_altstack(t.sigaltstack, frame.addr):
        raise SyscallError(errno.EFAULT)          # it would overflow the alternate stack
    t.copy_out(frame.addr, frame.data)
    return frame


def _frame_stack_top(t, action):
    """Where the frame goes (get_sigframe): (stack top, whether on the alternate stack).

    Below the interrupted code's red zone, or at the top of the alternate stack
    for an SA_ONSTACK handler when it is set up and not already in use.
    """
    from pysandbox.sentry import sigframe   # signal frames: imported once a handler runs
    rsp = t.regs.rsp
    below_red_zone = rsp - sigframe.RED_ZONE
    if action.flags & SA_ONSTACK and altstack_flags(t, below_red_zone) == 0:
        ss_sp, _, ss_size = t.sigaltstack
        return ss_sp + ss_size, True
    return below_red_zone, on_altstack(t, rsp)


def restore_from_frame(t, saved, fpstate):
    """rt_sigreturn's work: mask, registers, FPU state and alternate stack back from a frame."""
    from pysandbox.sentry import sigframe   # signal frames: imported once a handler runs
    set_sigmask(t, saved.mask)
    regs = t.regs
    for name, value in saved.regs.items():
        if name == "eflags":
            value = (regs.eflags & ~RESTORABLE_EFLAGS) | (value & RESTORABLE_EFLAGS)
        setattr(regs, name, value)
    regs.orig_rax = MASK64                # -1: no syscall to restart in the restored rax
    t.restart_block = None                # a pending restart_syscall(2) now gives EINTR
    if len(fpstate) > sigframe.FXSAVE_SIZE:
        if not t.context.set_fpstate(fpstate):      # the CPU refused the image
            t.context.set_fpstate(sigframe.fxsave_from_frame(fpstate[:sigframe.FXSAVE_SIZE]))
    else:
        t.context.set_fpstate(sigframe.fxsave_from_frame(fpstate))
    try:
        set_altstack(t, *saved.altstack, sp=regs.rsp)
    except SyscallError:
        pass                              # Linux ignores these too (restore_altstack)


# -- restarting interrupted syscalls ------------------------------------------------------------------------
_RESTART_RAX = {-code & MASK64: code for code in RESTART_ERRORS}


def _restart_error(regs):
    """The ERESTART* code an interrupted syscall left in rax, or 0."""
    error = _RESTART_RAX.get(regs.rax, 0)
    in_syscall = regs.orig_rax < 1 << 63           # orig_rax is -1 outside a syscall
    return error if in_syscall else 0


def _restart_with_handler(regs, action):
    error = _restart_error(regs)
    if error == ERESTARTNOINTR or (error == ERESTARTSYS and action.flags & SA_RESTART):
        _rewind_syscall(regs, regs.orig_rax)
    elif error:
        regs.rax = -errno.EINTR & MASK64


def _restart_without_handler(regs):
    error = _restart_error(regs)
    if error == ERESTART_RESTARTBLOCK:
        _rewind_syscall(regs, NR_RESTART_SYSCALL)
    elif error:
        _rewind_syscall(regs, regs.orig_rax)


def _rewind_syscall(regs, number):
    """Make the task execute its `syscall` instruction again, as syscall `number`."""
    regs.rax = number
    regs.rip = (regs.rip - SYSCALL_INSN_SIZE) & MASK64


# -- ITIMER_REAL ---------------------------------------------------------------------------------------------
class RealTimer:
    """A process's ITIMER_REAL (setitimer(2), alarm(2)): SIGALRM to the group on expiry.

    Times are in seconds (floats) on the kernel's monotonic clock. Created on
    first use by real_timer(tg); fork doesn't copy it, execve keeps it.
    """

    def __init__(self, tg):
        self.tg = tg
        self.interval = 0.0
        self._deadline = None
        self._handle = None

    def _now(self):
        """The timer's clock (cputimer.CpuTimer counts CPU time instead)."""
        return self.tg.kernel.now()

    def get(self):
        """(seconds left, interval); an armed timer never reads as 0 (itimer_get_remtime). An
        expired one waiting for its SIGALRM to be taken reads as 0, as in Linux."""
        if self._deadline is None or self._handle is None:
            return 0.0, self.interval
        return max(self._deadline - self._now(), 1e-6), self.interval

    def set(self, value, interval):
        """Arm for `value` seconds (0 disarms), then every `interval`; returns the old get()."""
        old = self.get()
        self.tg.kernel.cancel_timer(self._handle)
        self._handle = self._deadline = None
        self.interval = interval
        if value > 0:
            self._arm(self._now() + value)
        return old

    def _arm(self, deadline):
        self._deadline = deadline
        self._handle = self.tg.kernel.add_timer(deadline, self._expire)

    def _expire(self):
        """The deadline passed: SIGALRM. A periodic timer keeps its deadline and is re-armed
        when the signal is taken (signal_taken), so a tiny interval can't flood the sentry."""
        self._handle = None
        if self.tg.exiting:
            return
        if self.interval <= 0:
            self._deadline = None
        send_signal(self.tg, SigInfo.kernel(SIGALRM))

    def signal_taken(self):
        """A SIGALRM was taken: a periodic timer that expired is re-armed for its first period
        after now; the periods that passed meanwhile are skipped (dequeue_signal in Linux)."""
        if self._handle is not None or self._deadline is None or self.interval <= 0:
            return
        missed = max(0, int((self._now() - self._deadline) // self.interval))
        self._arm(self._deadline + (missed + 1) * self.interval)


def real_timer(tg):
    if tg.itimer_real is None:
        tg.itimer_real = RealTimer(tg)
    return tg.itimer_real
