"""ptrace(2) inside the sandbox: tracer/tracee links and the stops a tracee makes.

Tracer and tracee are both sandbox tasks; nothing here reaches the host's ptrace. A tracee has
a `Tracee` in `task.ptrace` (None for every untraced task, so the kernel's hot path pays one
attribute test). A tracee in a ptrace-stop is parked on `TRACED` (non-interruptible: signals
queue, SIGKILL still ends it) and its registers are the saved ones of its context.

Where the kernel calls in (only for traced tasks):
  syscall_entry(t)        Kernel._dispatch_inline, before seccomp: the syscall-enter-stop.
  next_signal(t)          signals.deliver_pending_signals, on the way back to user mode: event
                          stops, the syscall-exit-stop, then a signal-delivery-stop per signal.
  group_stop(t, signo)    a stop signal's default action: a ptrace group-stop instead.
  exit_with_event(t, ws)  exit_group(2), or a fatal signal, with PTRACE_O_TRACEEXIT.
  forked(t, child, flags) clone(2): PTRACE_EVENT_FORK/VFORK/CLONE and the child's auto-attach.
  execed(t, former_tid)   execve(2): PTRACE_EVENT_EXEC or the legacy SIGTRAP.
  vfork_done(t, child)    the vfork child execed or exited: PTRACE_EVENT_VFORK_DONE.
  seccomp_trace(t, data)  a workload filter returned SECCOMP_RET_TRACE: PTRACE_EVENT_SECCOMP.
  exit_reported_to_tracer(tg), tracer_exited(tg), waitable_tracees(...)   wait(2) and exits.
"""
import collections
import errno

from pysandbox.sentry import signals
from pysandbox.sentry.errors import RESTART_SYS
from pysandbox.sentry.signals import CLD_TRAPPED, MASK64

PTRACE_TRACEME, PTRACE_PEEKTEXT, PTRACE_PEEKDATA, PTRACE_PEEKUSER = 0, 1, 2, 3
PTRACE_POKETEXT, PTRACE_POKEDATA, PTRACE_POKEUSER, PTRACE_CONT, PTRACE_KILL = 4, 5, 6, 7, 8
PTRACE_SINGLESTEP, PTRACE_GETREGS, PTRACE_SETREGS, PTRACE_GETFPREGS, PTRACE_SETFPREGS = 9, 12, 13, 14, 15
PTRACE_ATTACH, PTRACE_DETACH, PTRACE_SYSCALL = 16, 17, 24
PTRACE_SETOPTIONS, PTRACE_GETEVENTMSG, PTRACE_GETSIGINFO, PTRACE_SETSIGINFO = 0x4200, 0x4201, 0x4202, 0x4203
PTRACE_GETREGSET, PTRACE_SETREGSET, PTRACE_SEIZE, PTRACE_INTERRUPT = 0x4204, 0x4205, 0x4206, 0x4207
PTRACE_LISTEN, PTRACE_GETSIGMASK, PTRACE_SETSIGMASK = 0x4208, 0x420A, 0x420B
PTRACE_GET_SYSCALL_INFO = 0x420E

PTRACE_O_TRACESYSGOOD, PTRACE_O_TRACEFORK, PTRACE_O_TRACEVFORK = 0x1, 0x2, 0x4
PTRACE_O_TRACECLONE, PTRACE_O_TRACEEXEC, PTRACE_O_TRACEVFORKDONE = 0x8, 0x10, 0x20
PTRACE_O_TRACEEXIT, PTRACE_O_TRACESECCOMP = 0x40, 0x80
PTRACE_O_EXITKILL, PTRACE_O_SUSPEND_SECCOMP = 0x100000, 0x200000
PTRACE_O_MASK = 0xFF | PTRACE_O_EXITKILL | PTRACE_O_SUSPEND_SECCOMP

PTRACE_EVENT_FORK, PTRACE_EVENT_VFORK, PTRACE_EVENT_CLONE, PTRACE_EVENT_EXEC = 1, 2, 3, 4
PTRACE_EVENT_VFORK_DONE, PTRACE_EVENT_EXIT, PTRACE_EVENT_SECCOMP, PTRACE_EVENT_STOP = 5, 6, 7, 128
_EVENT_OPTION = {PTRACE_EVENT_FORK: PTRACE_O_TRACEFORK, PTRACE_EVENT_VFORK: PTRACE_O_TRACEVFORK,
                 PTRACE_EVENT_CLONE: PTRACE_O_TRACECLONE, PTRACE_EVENT_EXEC: PTRACE_O_TRACEEXEC,
                 PTRACE_EVENT_VFORK_DONE: PTRACE_O_TRACEVFORKDONE, PTRACE_EVENT_EXIT: PTRACE_O_TRACEEXIT}

PTRACE_SYSCALL_INFO_NONE, PTRACE_SYSCALL_INFO_ENTRY, PTRACE_SYSCALL_INFO_EXIT = 0, 1, 2
PTRACE_SYSCALL_INFO_SECCOMP = 3

# Kinds of ptrace-stop (man 2 ptrace, "Stopped states"). SECCOMP is PTRACE_EVENT_SECCOMP: an
# event stop at syscall entry, after which the call runs (as the tracer may have changed it).
SIGNAL_DELIVERY, GROUP, EVENT, SYSCALL_ENTRY, SYSCALL_EXIT = "signal", "group", "event", "entry", "exit"
SECCOMP = "seccomp"
_AT_SYSCALL_ENTRY = (SYSCALL_ENTRY, SECCOMP)

# The fields of struct user_regs_struct, in their order (PEEKUSER offsets are 8 * index).
REGISTERS = ("r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx",
             "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base",
             "ds", "es", "fs", "gs")
USER_REGS_SIZE = 8 * len(REGISTERS)
TASK_SIZE_MAX = (1 << 47) - 4096


class _TracedWait:
    """What a tracee in a ptrace-stop is parked on: no queue wakes it, only its tracer does."""
    queues = ()
    interruptible = False
    deadline = None
    restart = RESTART_SYS


TRACED = _TracedWait()
RESUMING = _TracedWait()     # left its syscall-enter-stop: the call runs at the kernel's next round
STOPPED = object()          # next_signal: the task entered a ptrace-stop


class Stop:
    """One ptrace-stop: what wait(2) tells the tracer ((code << 8) | 0x7f) and GETSIGINFO shows;
    an event stop's `message` becomes what PTRACE_GETEVENTMSG reads once the task stops there."""
    __slots__ = ("kind", "code", "siginfo", "reported", "message")

    def __init__(self, kind, code, siginfo=None, message=None):
        self.kind, self.code, self.siginfo, self.reported, self.message = kind, code, siginfo, False, message

    @property
    def wait_status(self):
        return (self.code << 8) | 0x7F


class Tracee:
    """The ptrace side of one traced task (Linux's task->ptrace and its tracer link)."""

    def __init__(self, task, tracer, seized, options=0):
        self.task = task
        self.tracer = tracer                 # the tracing Task (thread)
        self.seized = seized
        self.options = options
        self.stop = None                     # the current Stop while in a ptrace-stop
        self.pending = collections.deque()   # Stops, or callables, due before it returns to user mode
        self.resume = PTRACE_CONT            # the request that last resumed it
        self.in_syscall = False              # between syscall entry and the return to user mode
        self.entry_resumed = False           # resumed from its syscall-enter-stop: run the call now
        self.injected = None                 # the signal its tracer let through a signal-delivery-stop
        self.event_msg = 0
        self.interrupt = False               # PTRACE_INTERRUPT: trap at the next chance
        self.exit_pending = False            # it ended; its tracer hasn't waited for it yet
        self.exit_status = 0                 # the wait(2) status the tracer gets then
        self.listening = False               # PTRACE_LISTEN: stays in its group-stop until SIGCONT
        self.stepping = False                # PTRACE_SINGLESTEP set the trap flag (hidden from reads)
        self.seccomp_seen = False            # its tracer saw this call at PTRACE_EVENT_SECCOMP

    # -- stopping ---------------------------------------------------------------------------------
    def enter_stop(self, stop):
        """Park the task in `stop` and tell its tracer: wait(2) and a SIGCHLD (CLD_TRAPPED, or
        CLD_STOPPED for a group-stop)."""
        task = self.task
        if stop.message is not None:
            self.event_msg = stop.message
        if stop.siginfo is None and stop.kind != GROUP:
            stop.siginfo = signals.SigInfo(signals.SIGTRAP, stop.code, pid=task.tid, uid=task.creds.uid)
        self.stop = stop
        self.listening = False
        task.parked = TRACED
        self._notify_tracer(signals.CLD_STOPPED if stop.kind == GROUP else CLD_TRAPPED, stop.code & 0x7F)

    def _notify_tracer(self, cld_code, status):
        tracer_tg = self.tracer.tg
        tracer_tg.child_events.notify()      # first: a wait under way returns rather than restarts
        stops = cld_code in (CLD_TRAPPED, signals.CLD_STOPPED)
        if not (stops and tracer_tg.sighand[signals.SIGCHLD].flags & signals.SA_NOCLDSTOP):
            info = signals.SigInfo.child(self.task.tg, cld_code, status)
            info.pid = self.task.tid
            signals.send_signal(tracer_tg, info)

    def queue_event(self, event, message):
        """A PTRACE_EVENT stop before the task next returns to user mode, if the option asks."""
        if self.options & _EVENT_OPTION.get(event, 0):
            self.pending.append(Stop(EVENT, signals.SIGTRAP | (event << 8), message=message))
            self.task.interrupted = True
            return True
        return False

    def syscall_stop_code(self):
        return signals.SIGTRAP | (0x80 if self.options & PTRACE_O_TRACESYSGOOD else 0)

    # -- resuming ---------------------------------------------------------------------------------
    def resume_from_stop(self, request, signo):
        """PTRACE_CONT/SYSCALL/SINGLESTEP: leave the ptrace-stop; `signo` is the signal the
        tracer chose (delivered from a signal-delivery-stop, sent from a syscall stop)."""
        task, stop = self.task, self.stop
        self.stop = None
        self.resume = request
        if stop.kind == GROUP:
            task.tg.stopped = False          # the tracer lets it run on (its parent saw the stop)
        regs = task.context.regs
        self.stepping = request == PTRACE_SINGLESTEP
        if self.stepping:
            regs.eflags |= signals.EFLAGS_TF
        else:
            regs.eflags &= ~signals.EFLAGS_TF
        if stop.kind == SIGNAL_DELIVERY:
            self.injected = _chosen_signal(stop.siginfo, signo, self.tracer) if signo else None
        elif stop.kind in (SYSCALL_ENTRY, SYSCALL_EXIT) and signo:
            signals.send_signal(task, signals.SigInfo.kernel(signo))
        if stop.kind in _AT_SYSCALL_ENTRY:
            self.entry_resumed = True
        _leave_stop(task, stop)


def _chosen_signal(original, signo, tracer):
    """The signal a tracer resumes a signal-delivery-stop with (ptrace_signal)."""
    if original is not None and signo == original.signo:
        return original
    return signals.SigInfo(signo, signals.SI_USER, pid=tracer.tg.tgid, uid=tracer.creds.uid)


def _leave_stop(task, stop):
    """The task runs on from `stop`: the syscall it stopped at the entry of runs first."""
    if stop.kind in _AT_SYSCALL_ENTRY:
        _run_syscall_soon(task)
        return
    task.parked = None
    task.interrupted = True
    task.kernel.make_runnable(task)


def _run_syscall_soon(task):
    """Run the syscall `task` stopped at the entry of, from the kernel's loop (not inside the
    tracer's ptrace call); parked meanwhile, so that nothing resumes it before."""
    task.parked = RESUMING
    kernel = task.kernel

    def run():
        if task.alive and task.parked is RESUMING:
            task.parked = None
            kernel._dispatch(task)
    kernel.add_timer(kernel.now(), run)


# -- hooks the kernel calls for traced tasks ----------------------------------------------------------
def syscall_entry(task):
    """Before a syscall runs: None to run it, False when the task stopped at syscall-enter-stop,
    True when the tracer made it skip the call (orig_rax -1: rax stays as the tracer left it)."""
    state = task.ptrace
    regs = task.context.regs
    if state.entry_resumed:
        state.entry_resumed = False
        return True if regs.orig_rax == MASK64 else None
    state.seccomp_seen = False
    state.in_syscall = True
    task.interrupted = True                  # exit work: stops before it returns to user mode
    if state.interrupt:
        # PTRACE_INTERRUPT came while it ran on to this syscall: trap first, then run the call
        # again (as a call that a signal interrupted at once would be restarted).
        regs.rax = -signals.ERESTARTNOINTR & MASK64
        return True
    if state.resume == PTRACE_SYSCALL:
        regs.rax = -errno.ENOSYS & MASK64
        state.enter_stop(Stop(SYSCALL_ENTRY, state.syscall_stop_code()))
        return False
    return None


def next_signal(task):
    """The next signal to act on before `task` returns to user mode, None for none, or STOPPED
    when it entered a ptrace-stop first (event stops, syscall-exit-stop, signal-delivery-stop)."""
    state = task.ptrace
    while state.pending:
        item = state.pending.popleft()
        if isinstance(item, Stop):
            state.enter_stop(item)
            return STOPPED
        item()
        if not task.alive or task.parked is not None:
            return STOPPED
    if state.in_syscall:
        state.in_syscall = False
        if state.resume == PTRACE_SYSCALL:
            state.enter_stop(Stop(SYSCALL_EXIT, state.syscall_stop_code()))
            return STOPPED
    if state.interrupt:
        state.interrupt = False
        state.enter_stop(Stop(EVENT, signals.SIGTRAP | (PTRACE_EVENT_STOP << 8)))
        return STOPPED
    info = state.injected
    if info is not None:
        state.injected = None
        if not task.sigmask & signals.sigbit(info.signo):
            return info
        task.pending.enqueue(info)           # blocked now: it waits in the queue (and stops again)
    if not signals.has_deliverable_signal(task):
        return None
    info = signals.dequeue_signal(task, task.sigmask)
    if info is None:
        return None
    if task.kernel.strace:
        task.kernel.strace(f"[pid {task.tid}] --- {signals.signal_name(info.signo)} {info.describe()} "
                           f"(to the tracer) ---")
    state.enter_stop(Stop(SIGNAL_DELIVERY, info.signo, info))
    return STOPPED


def group_stop(task, signo):
    """A stop signal's default action in a tracee: a group-stop its tracer sees and may end with
    PTRACE_CONT (PTRACE_EVENT_STOP in the status after PTRACE_SEIZE)."""
    state = task.ptrace
    tg = task.tg
    if state.tracer.tg is not tg.parent:
        tg.kernel.group_stop(tg, signo)      # its parent hears of the stop as well
    tg.stop_signal = signo
    code = signo | (PTRACE_EVENT_STOP << 8 if state.seized else 0)
    siginfo = signals.SigInfo(signo, code, pid=task.tid, uid=task.creds.uid) if state.seized else None
    state.enter_stop(Stop(GROUP, code, siginfo))


def group_continued(task):
    """SIGCONT reached the process of a listening tracee: it traps again for its tracer."""
    state = task.ptrace
    if state.listening and state.stop is not None:
        state.stop = None
        state.enter_stop(Stop(EVENT, signals.SIGTRAP | (PTRACE_EVENT_STOP << 8)))


def exit_with_event(task, wait_status, finish=None):
    """The task's process is to end with `wait_status` (or `finish` ends the thread): with
    PTRACE_O_TRACEEXIT it first stops at PTRACE_EVENT_EXIT, where the tracer may still read it,
    and ends when resumed; True when it stopped."""
    state = task.ptrace
    if not state.options & PTRACE_O_TRACEEXIT:
        return False
    state.in_syscall = False
    state.pending.clear()
    state.pending.append(finish or (lambda: task.kernel.exit_thread_group(task.tg, wait_status=wait_status)))
    state.enter_stop(Stop(EVENT, signals.SIGTRAP | (PTRACE_EVENT_EXIT << 8), message=wait_status))
    return True


def forked(parent, child, clone_flags, exit_signal):
    """clone(2) by a tracee: the event its options ask for, and the child traced from birth
    (stopped by SIGSTOP, or by PTRACE_EVENT_STOP after PTRACE_SEIZE)."""
    from pysandbox.sentry.syscalls.sys_process import CLONE_PTRACE, CLONE_UNTRACED, CLONE_VFORK
    state = parent.ptrace
    if clone_flags & CLONE_VFORK:
        event = PTRACE_EVENT_VFORK
    elif exit_signal != signals.SIGCHLD:
        event = PTRACE_EVENT_CLONE
    else:
        event = PTRACE_EVENT_FORK
    wanted = state.options & _EVENT_OPTION[event]
    if clone_flags & CLONE_UNTRACED or not (wanted or clone_flags & CLONE_PTRACE):
        return
    link(child, state.tracer, state.seized, state.options)
    if state.seized:
        child.ptrace.interrupt = True
        child.interrupted = True
    else:
        child.pending.enqueue(signals.SigInfo(signals.SIGSTOP, signals.SI_USER))
    if wanted:
        state.queue_event(event, child.tid)


def execed(task, former_tid):
    """A successful execve(2): PTRACE_EVENT_EXEC, or the legacy SIGTRAP of PTRACE_TRACEME/ATTACH."""
    state = task.ptrace
    if state.queue_event(PTRACE_EVENT_EXEC, former_tid):
        return
    if not state.seized:
        signals.send_signal(task, signals.SigInfo(signals.SIGTRAP, signals.SI_USER, pid=task.tg.tgid,
                                                  uid=task.creds.uid))


def vfork_done(task, child_tid):
    """The child of vfork(2) (or clone(2) with CLONE_VFORK) by `task` execed or exited: with
    PTRACE_O_TRACEVFORKDONE, `task` stops before the call returns; the message is the child's pid."""
    task.ptrace.queue_event(PTRACE_EVENT_VFORK_DONE, child_tid)


NOT_ASKED = object()     # seccomp_trace: the tracer did not ask for PTRACE_EVENT_SECCOMP


def seccomp_trace(task, data):
    """A filter of `task` returned SECCOMP_RET_TRACE | data. With PTRACE_O_TRACESECCOMP the task
    stops at PTRACE_EVENT_SECCOMP (the message is `data`, rax -ENOSYS) and False is returned; the
    call, as the tracer left orig_rax, then goes through the filters again, where RET_TRACE lets
    it run (None). NOT_ASKED without the option: the caller answers ENOSYS, as Linux."""
    state = task.ptrace
    if state.seccomp_seen:
        return None
    if not state.options & PTRACE_O_TRACESECCOMP:
        return NOT_ASKED
    state.seccomp_seen = True
    task.context.regs.rax = -errno.ENOSYS & MASK64
    state.enter_stop(Stop(SECCOMP, signals.SIGTRAP | (PTRACE_EVENT_SECCOMP << 8), message=data))
    return False


# -- a debugger's access to memory -----------------------------------------------------------------------
def read_forced(mm, addr, length):
    """What a debugger reads at `addr` (FOLL_FORCE): up to the first unmapped page."""
    readable = mm.accessible_length(addr, length, 0)
    return mm.space.read(addr, readable) if readable else b""


def write_forced(mm, addr, data):
    """What a debugger writes at `addr` (FOLL_FORCE): read-only private pages too (breakpoints),
    up to the first unmapped page or read-only shared mapping; returns the count written."""
    end = addr + mm.accessible_length(addr, len(data), 0)
    for vma in mm.vmas.overlapping(addr, end):
        if vma.shared and not vma.prot & 2:       # PROT_WRITE
            end = max(addr, vma.start)
            break
    if end > addr:
        mm.copy_out(addr, data[:end - addr], force=True)
    return end - addr


# -- links ------------------------------------------------------------------------------------------------
def link(task, tracer, seized, options=0):
    task.ptrace = Tracee(task, tracer, seized, options)
    tracer.tg.tracees.append(task)


def unlink(task):
    state = task.ptrace
    if state is None:
        return
    task.ptrace = None
    tracees = state.tracer.tg.tracees
    if task in tracees:
        tracees.remove(task)


def detach(task, signo=0):
    """Let `task` go: it leaves its ptrace-stop (delivering `signo` from a signal-delivery-stop),
    and an exit its tracer didn't wait for goes to its parent now."""
    state = task.ptrace
    stop = state.stop
    unlink(task)
    task.context.regs.eflags &= ~signals.EFLAGS_TF
    if state.exit_pending:
        if task is task.tg.leader:
            task.kernel._notify_parent(task.tg)
        return
    if not task.alive or stop is None:
        return
    if stop.kind == SIGNAL_DELIVERY and signo:
        task.pending.enqueue(_chosen_signal(stop.siginfo, signo, state.tracer))
    _leave_stop(task, stop)


def exit_reported_to_tracer(tg):
    """`tg` just became a zombie and its leader is traced. A tracer that is its parent learns of
    it through its children; another one is told first, and the parent after that tracer's wait
    (or detach). True when the parent must not be told yet."""
    leader = tg.leader
    state = leader.ptrace
    if state.tracer.tg is tg.parent or state.tracer.tg.zombie:
        unlink(leader)
        return False
    _report_exit(state, tg.wait_status)
    return True


def thread_exited(task, wait_status):
    """A traced thread other than the leader ended: its tracer's wait(2) (with __WALL) gets it."""
    state = task.ptrace
    if task is task.tg.leader:
        return                               # the leader is reported with its process
    if state.tracer.tg.zombie:
        unlink(task)
        return
    _report_exit(state, wait_status)


def _report_exit(state, wait_status):
    state.exit_pending = True
    state.exit_status = wait_status
    state.stop = None
    state.pending.clear()
    state._notify_tracer(state.task.kernel._cld_code(wait_status), wait_status)


def tracer_exited(tracer_tg):
    """The tracer's process ended: its tracees are detached, or killed with PTRACE_O_EXITKILL."""
    for task in list(tracer_tg.tracees):
        state = task.ptrace
        if state is None:
            continue
        if state.options & PTRACE_O_EXITKILL and task.alive:
            unlink(task)
            signals.send_signal(task.tg, signals.SigInfo.kernel(signals.SIGKILL))
        else:
            detach(task)


def waitable_tracees(t, idtype, ident, options):
    """The tracees of `t`'s process a wait(2) with these arguments may report (eligible_child:
    a traced task is eligible whatever its exit signal)."""
    from pysandbox.sentry.syscalls.sys_process import P_PGID, P_PID, P_PIDFD, WNOTHREAD
    chosen = []
    for task in t.tg.tracees:
        if idtype == P_PID and task.tid != ident or idtype == P_PIDFD and task.tg is not ident:
            continue
        if idtype == P_PGID and task.tg.pgid != ident:
            continue
        if options & WNOTHREAD and task.ptrace.tracer is not t:
            continue
        chosen.append(task)
    return chosen


def has_report(task, options):
    from pysandbox.sentry.syscalls.sys_process import WEXITED
    state = task.ptrace
    if state.stop is not None and not state.stop.reported:
        return True
    return state.exit_pending and bool(options & WEXITED)


def report_to_tracer(task, options, report):
    """wait(2) by the tracer collects the stop or exit of `task`; returns its tid."""
    from pysandbox.sentry.syscalls.sys_process import WNOWAIT
    state = task.ptrace
    consume = not options & WNOWAIT
    if state.stop is not None and not state.stop.reported:
        if consume:
            state.stop.reported = True
        report(task.tg, "trapped", state.stop.wait_status)
        return task.tid
    report(task.tg, "exited", state.exit_status)
    if consume:
        state.exit_pending = False
        unlink(task)
        if task is task.tg.leader:
            task.kernel._notify_parent(task.tg)
    return task.tid

