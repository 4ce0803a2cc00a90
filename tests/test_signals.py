"""Signal semantics: queues, sending, delivery, syscall restart and the signal syscalls.

Real Task and ThreadGroup objects run against a fake kernel that records what
the signal code asks of it, a fake platform context and a sparse guest memory.
"""
import errno
import shutil
import struct
import subprocess
import types

import pytest
from helpers import assert_same, run_native, run_sandbox

from pysandbox.sentry import sigframe, signals
from pysandbox.sentry.errors import KEEP_REGS, RESTART_ALWAYS, RESTART_NEVER, SyscallError, WouldBlock
from pysandbox.sentry.signals import (
    SA_NODEFER, SA_ONSTACK, SA_RESETHAND, SA_RESTART, SA_RESTORER, SA_SIGINFO, SIG_DFL, SIG_IGN, SIGALRM,
    SIGCHLD, SIGCONT, SIGHUP, SIGINT, SIGKILL, SIGSEGV, SIGSTOP, SIGTERM, SIGTSTP, SIGUSR1, SIGUSR2,
    SigAction, SigInfo, SignalQueue, sigbit, sigset)
from pysandbox.sentry.syscalls import sys_signal
from pysandbox.sentry.task import RLIMIT_CORE, Credentials, Task, ThreadGroup, default_rlimits

MASK64 = (1 << 64) - 1
STACK_BASE, STACK_TOP = 0x7FF000000000, 0x7FF000100000
ALTSTACK_BASE, ALTSTACK_SIZE = 0x600000, 0x10000
DATA = 0x500000                  # a scratch page for syscall arguments
HANDLER, OTHER_HANDLER, RESTORER = 0x401000, 0x402000, 0x400F00
SYSCALL_RIP = 0x401234
EINTR = -errno.EINTR & MASK64


def neg(code):
    return -code & MASK64


class FakeKernel:
    """Records the calls the signal code makes on the kernel."""

    def __init__(self):
        self.tasks = {}
        self.thread_groups = {}
        self.init = None
        self.protect_init = True
        self.strace = None               # --strace off
        self.calls = []                  # exits, stops and continues
        self.woken = []
        self.clock = 1000.0
        self.timers = []

    def now(self):
        return self.clock

    def add_timer(self, deadline, callback):
        handle = [deadline, callback, True]
        self.timers.append(handle)
        return handle

    def cancel_timer(self, handle):
        if handle is not None:
            handle[2] = False

    def advance(self, seconds):
        self.clock += seconds
        for handle in list(self.timers):
            if handle[2] and handle[0] <= self.clock:
                handle[2] = False
                handle[1]()

    def exit_thread_group(self, tg, wait_status):
        self.calls.append(("exit", tg.tgid, wait_status))
        tg.exiting = True
        for task in tg.tasks:
            task.alive = False

    def group_stop(self, tg, signo):
        self.calls.append(("stop", tg.tgid, signo))
        tg.stopped = True

    def group_continue(self, tg):
        if tg.stopped:
            self.calls.append(("continue", tg.tgid))
            tg.stopped = False

    def wake_for_signal(self, task):
        self.woken.append(task.tid)


class FakeMemory:
    """Guest memory with only the given ranges mapped."""

    def __init__(self, *ranges):
        self.ranges = ranges
        self.bytes = {}

    def _check(self, addr, length):
        if not any(start <= addr and addr + length <= end for start, end in self.ranges):
            raise SyscallError(errno.EFAULT)

    def copy_in(self, addr, length):
        self._check(addr, length)
        return bytes(self.bytes.get(addr + i, 0) for i in range(length))

    def copy_out(self, addr, data):
        self._check(addr, len(data))
        for i, byte in enumerate(data):
            self.bytes[addr + i] = byte


class FakeContext:
    def __init__(self):
        self.pid = None                  # no host process: CPU times read 0
        names = sigframe.SIGCONTEXT_REGS + ("orig_rax", "cs", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs")
        self.regs = types.SimpleNamespace(**{name: 0 for name in names})
        self.regs.cs, self.regs.ss, self.regs.eflags = 0x33, 0x2B, 0x246
        self.regs.rip, self.regs.rsp, self.regs.orig_rax = SYSCALL_RIP, STACK_TOP - 0x1000, MASK64
        image = bytearray(range(256)) * 2
        image[24:28] = (0x1F80).to_bytes(4, "little")           # a valid MXCSR
        self.fpstate = bytes(image)
        self.task = None

    @staticmethod
    def cpu_times():
        return 0.0, 0.0

    def get_fpstate(self):
        return self.fpstate

    def set_fpstate(self, data):
        assert len(data) == 512
        self.fpstate = bytes(data)


@pytest.fixture
def kernel():
    return FakeKernel()


def new_process(kernel, tgid, uid=0, parent=None, pgid=None, sid=1):
    tg = ThreadGroup(kernel, tgid, parent, signals.new_sighand(), default_rlimits(), pgid or tgid, sid)
    kernel.thread_groups[tgid] = tg
    return new_thread(kernel, tg, tgid, uid)


def new_thread(kernel, tg, tid, uid=0):
    memory = FakeMemory((STACK_BASE, STACK_TOP), (ALTSTACK_BASE, ALTSTACK_BASE + ALTSTACK_SIZE), (DATA, DATA + 0x1000))
    task = Task(kernel, tid, tg, FakeContext(), memory, None, None, Credentials(uid))
    tg.tasks.append(task)
    kernel.tasks[tid] = task
    return task


@pytest.fixture
def t(kernel):
    kernel.init = new_process(kernel, 1).tg
    return new_process(kernel, 100)


def install(t, signo, handler=HANDLER, flags=SA_SIGINFO | SA_RESTORER, mask=0):
    signals.set_action(t.tg, signo, SigAction(handler, flags, RESTORER, mask))


def in_syscall(t, number, result):
    """t stopped at the end of syscall `number`, which left `result` in rax."""
    t.regs.orig_rax = number
    t.regs.rax = result & MASK64


def handler_returns(t):
    """The handler executes `ret` into the restorer, which calls rt_sigreturn."""
    t.regs.rsp += 8
    t.regs.orig_rax = 15
    return sys_signal.rt_sigreturn(t)


def saved_context(t):
    return sigframe.parse_rt_sigframe(t.copy_in(t.regs.rsp, sigframe.RT_SIGFRAME_SIZE))


# -- queues --------------------------------------------------------------------------------------------------
def test_standard_signals_coalesce_and_realtime_signals_queue_in_order():
    queue = SignalQueue()
    assert queue.enqueue(SigInfo(SIGUSR1, pid=1))
    assert not queue.enqueue(SigInfo(SIGUSR1, pid=2))
    for value in (1, 2, 3):
        assert queue.enqueue(SigInfo(40, signals.SI_QUEUE, value=value))
    assert queue.take(0).pid == 1
    assert queue.take(0) is not None and queue.take(0).value == 2
    assert queue.signals == sigbit(40)
    assert queue.take(0).value == 3
    assert queue.take(0) is None and queue.signals == 0


def test_synchronous_signals_first_then_lowest_number():
    queue = SignalQueue()
    for signo in (SIGTERM, SIGHUP, 40, SIGSEGV):
        queue.enqueue(SigInfo(signo))
    assert [queue.take(0).signo for _ in range(4)] == [SIGSEGV, SIGHUP, SIGTERM, 40]


def test_take_skips_blocked_signals_and_discard_forgets():
    queue = SignalQueue()
    queue.enqueue(SigInfo(SIGHUP))
    queue.enqueue(SigInfo(SIGINT))
    assert queue.take(sigbit(SIGHUP)).signo == SIGINT
    queue.discard(sigbit(SIGHUP))
    assert queue.signals == 0 and queue.take(0) is None


def test_arrivals_are_notified():
    queue = SignalQueue()
    woken = []
    queue.arrivals.add(lambda: woken.append(True))
    queue.enqueue(SigInfo(SIGUSR1))
    assert woken == [True]


def test_full_queue_refuses_sigqueue_but_not_kill(monkeypatch):
    monkeypatch.setattr(signals, "MAX_QUEUED_SIGNALS", 2)
    queue = SignalQueue()
    queue.enqueue(SigInfo(40, signals.SI_QUEUE))
    queue.enqueue(SigInfo(41, signals.SI_QUEUE))
    with pytest.raises(SyscallError) as failure:
        queue.enqueue(SigInfo(42, signals.SI_QUEUE))
    assert failure.value.errno == errno.EAGAIN
    assert queue.enqueue(SigInfo(42, signals.SI_USER))
    assert not queue.enqueue(SigInfo(42, signals.SI_USER))


# -- siginfo ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("info", [
    SigInfo(SIGUSR1, signals.SI_USER, pid=7, uid=1000),
    SigInfo(40, signals.SI_QUEUE, pid=7, uid=1000, value=0xDEADBEEF),
    SigInfo(SIGUSR2, signals.SI_TKILL, pid=7, uid=1000),
    SigInfo(SIGALRM, signals.SI_TIMER, timer_id=3, overrun=1, value=9),
    SigInfo(SIGCHLD, signals.CLD_KILLED, pid=8, uid=0, status=9, utime=3, stime=4),
    SigInfo(SIGSEGV, signals.SEGV_MAPERR, addr=0xDEAD0000),
    SigInfo(signals.SIGIO, 1, band=0x41, fd=5),
])
def test_siginfo_round_trip(info):
    packed = info.pack()
    assert len(packed) == 128
    assert SigInfo.unpack(packed) == info


def test_siginfo_child_takes_wait_status_or_signal(t, kernel):
    assert SigInfo.child(t.tg, signals.CLD_EXITED, 3 << 8).status == 3
    assert SigInfo.child(t.tg, signals.CLD_DUMPED, SIGSEGV | 0x80).status == SIGSEGV
    stopped = SigInfo.child(t.tg, signals.CLD_STOPPED, SIGTSTP)
    assert (stopped.signo, stopped.pid, stopped.status) == (SIGCHLD, 100, SIGTSTP)


# -- sending -------------------------------------------------------------------------------------------------
def test_ignored_signals_are_dropped_unless_blocked(t):
    signals.send_signal(t.tg, SigInfo(SIGCHLD))              # ignored by default
    assert t.tg.pending.signals == 0
    install(t, SIGUSR1, handler=SIG_IGN)
    signals.send_signal(t, SigInfo(SIGUSR1))
    assert t.pending.signals == 0
    t.sigmask = sigbit(SIGUSR1)
    signals.send_signal(t, SigInfo(SIGUSR1))
    assert t.pending.signals == sigbit(SIGUSR1)


def test_group_signal_wakes_a_thread_that_does_not_block_it(t, kernel):
    second = new_thread(kernel, t.tg, 101)
    t.sigmask = sigbit(SIGUSR1)
    signals.send_signal(t.tg, SigInfo(SIGUSR1))
    assert t.tg.pending.signals == sigbit(SIGUSR1)
    assert kernel.woken == [second.tid]


def test_no_wake_when_every_thread_blocks_it(t, kernel):
    t.sigmask = sigbit(SIGUSR1)
    signals.send_signal(t.tg, SigInfo(SIGUSR1))
    signals.send_signal(t, SigInfo(SIGUSR1))
    assert kernel.woken == []
    assert signals.blocked_pending_signals(t) == sigbit(SIGUSR1)
    assert not signals.has_deliverable_signal(t)


def test_sigkill_ends_the_process_at_once(t, kernel):
    t.sigmask = signals.ALL_SIGNALS
    signals.send_signal(t, SigInfo(SIGKILL))
    assert kernel.calls == [("exit", 100, SIGKILL)]
    signals.send_signal(t.tg, SigInfo(SIGTERM))                 # a dying process gets nothing more
    assert t.tg.pending.signals == 0


def test_sigcont_continues_and_discards_pending_stop_signals(t, kernel):
    t.sigmask = sigset(SIGTSTP, SIGCONT)
    signals.send_signal(t.tg, SigInfo(SIGTSTP))
    t.tg.stopped = True
    signals.send_signal(t.tg, SigInfo(SIGCONT))
    assert ("continue", 100) in kernel.calls
    assert t.tg.pending.signals == sigbit(SIGCONT)
    signals.send_signal(t, SigInfo(SIGSTOP))
    assert t.tg.pending.signals == 0


def test_sigcont_is_not_queued_when_its_action_is_default(t, kernel):
    signals.send_signal(t.tg, SigInfo(SIGCONT))
    assert t.tg.pending.signals == 0


def test_init_only_gets_signals_it_handles(kernel, t):
    init = kernel.tasks[1]
    signals.send_signal(init.tg, SigInfo(SIGTERM))
    signals.send_signal(init.tg, SigInfo(SIGKILL))
    assert init.tg.pending.signals == 0 and kernel.calls == []
    install(init, SIGTERM)
    signals.send_signal(init.tg, SigInfo(SIGTERM))
    assert init.tg.pending.signals == sigbit(SIGTERM)
    signals.send_signal(init.tg, SigInfo(SIGKILL, forced=True))      # from outside the sandbox
    assert kernel.calls[-1] == ("exit", 1, SIGKILL)


def test_init_without_protection_is_an_ordinary_process(kernel, t):
    kernel.protect_init = False
    signals.send_signal(kernel.init, SigInfo(SIGKILL))
    assert kernel.calls == [("exit", 1, SIGKILL)]


def test_force_signal_unblocks_and_resets_an_ignored_signal(t):
    install(t, SIGSEGV, handler=SIG_IGN)
    t.sigmask = sigbit(SIGSEGV)
    signals.force_signal(t, SigInfo.fault(SIGSEGV, signals.SEGV_MAPERR, 0x10))
    assert t.tg.sighand[SIGSEGV].handler == SIG_DFL
    assert t.sigmask == 0
    assert signals.has_deliverable_signal(t)


def test_masking_a_group_signal_hands_it_to_another_thread(t, kernel):
    second = new_thread(kernel, t.tg, 101)
    t.sigmask = sigbit(SIGUSR2)
    signals.send_signal(t.tg, SigInfo(SIGUSR1))
    kernel.woken.clear()
    signals.set_sigmask(t, sigset(SIGUSR1, SIGKILL, SIGSTOP))
    assert t.sigmask == sigbit(SIGUSR1)
    assert kernel.woken == [second.tid]


# -- default actions -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("signo, expected", [
    (SIGTERM, ("exit", 100, SIGTERM)),
    (SIGSEGV, ("exit", 100, SIGSEGV)),
    (SIGTSTP, ("stop", 100, SIGTSTP)),
    (SIGSTOP, ("stop", 100, SIGSTOP)),
])
def test_default_actions(t, kernel, signo, expected):
    t.pending.enqueue(SigInfo(signo))
    assert signals.deliver_pending_signals(t) is False
    assert kernel.calls == [expected]


def test_core_dump_flag_follows_rlimit_core(t, kernel):
    t.tg.rlimits[RLIMIT_CORE] = [1 << 20, 1 << 20]
    t.pending.enqueue(SigInfo(signals.SIGQUIT))
    signals.deliver_pending_signals(t)
    assert kernel.calls == [("exit", 100, signals.SIGQUIT | signals.WCOREFLAG)]


def test_ignored_and_blocked_signals_are_not_acted_on(t, kernel):
    t.pending.enqueue(SigInfo(signals.SIGWINCH))
    t.sigmask = sigbit(SIGTERM)
    t.pending.enqueue(SigInfo(SIGTERM))
    assert signals.deliver_pending_signals(t) is False
    assert kernel.calls == [] and t.pending.signals == sigbit(SIGTERM)


def test_init_ignores_default_actions_but_not_its_own_faults(kernel, t):
    init = kernel.tasks[1]
    init.sigmask = sigbit(SIGTERM)
    signals.send_signal(init.tg, SigInfo(SIGTERM))
    init.sigmask = 0
    signals.deliver_pending_signals(init)
    assert kernel.calls == []
    signals.force_signal(init, SigInfo.fault(SIGSEGV, signals.SEGV_MAPERR, 0))
    signals.deliver_pending_signals(init)
    assert kernel.calls == [("exit", 1, SIGSEGV)]


# -- handlers and frames ----------------------------------------------------------------------------------------
def test_handler_entry_registers_and_frame(t):
    install(t, SIGUSR1, mask=sigbit(SIGUSR2))
    before = vars(t.regs).copy()
    original_fpstate = t.context.fpstate
    t.sigmask = sigbit(SIGHUP)
    signals.send_signal(t, SigInfo.user(SIGUSR1, t))

    assert signals.deliver_pending_signals(t) is True
    regs = t.regs
    assert regs.rip == HANDLER and regs.rdi == SIGUSR1 and regs.rax == 0
    assert (regs.rsp + 8) % 16 == 0 and regs.rsp < before["rsp"] - sigframe.RED_ZONE
    assert regs.rsi == regs.rsp + sigframe.SIGINFO_OFFSET and regs.rdx == regs.rsp + 8
    assert t.sigmask == sigset(SIGHUP, SIGUSR1, SIGUSR2)
    assert t.context.fpstate == sigframe.INIT_FPSTATE

    saved = saved_context(t)
    assert struct.unpack("<Q", t.copy_in(regs.rsp, 8))[0] == RESTORER
    assert saved.regs == {name: before[name] for name in sigframe.SIGCONTEXT_REGS}
    assert saved.mask == sigbit(SIGHUP)
    assert t.copy_in(saved.fpstate_addr, 464) == original_fpstate[:464]
    info = SigInfo.unpack(t.copy_in(regs.rsi, 128))
    assert (info.signo, info.code, info.pid) == (SIGUSR1, signals.SI_USER, 100)


def test_sigreturn_restores_everything(t):
    install(t, SIGUSR1)
    before = vars(t.regs).copy()
    original_fpstate = t.context.fpstate
    t.sigmask = sigbit(SIGHUP)
    signals.send_signal(t, SigInfo(SIGUSR1))
    signals.deliver_pending_signals(t)
    t.regs.rbx, t.regs.eflags = 0x55, 0x202 | signals.EFLAGS_DF

    t.restart_block = ("nanosleep", (), {})
    assert handler_returns(t) is KEEP_REGS
    assert t.restart_block is None
    for name in sigframe.SIGCONTEXT_REGS:
        assert getattr(t.regs, name) == before[name], name
    assert t.regs.orig_rax == MASK64
    assert t.sigmask == sigbit(SIGHUP)
    assert t.context.fpstate[:464] == original_fpstate[:464]


def test_sigreturn_changes_only_the_flags_a_program_may_set(t):
    install(t, SIGUSR1)
    signals.send_signal(t, SigInfo(SIGUSR1))
    signals.deliver_pending_signals(t)
    eflags_offset = 8 + sigframe.UC_MCONTEXT_OFFSET + sigframe.SIGCONTEXT_REGS.index("eflags") * 8
    t.copy_out(t.regs.rsp + eflags_offset, struct.pack("<Q", 0xFFFFFFFF))
    handler_returns(t)
    assert t.regs.eflags == (0x246 & ~signals.RESTORABLE_EFLAGS) | signals.RESTORABLE_EFLAGS


def test_sigreturn_with_a_garbage_frame_raises_sigsegv(t, kernel):
    t.regs.rsp = 0x1000
    assert sys_signal.rt_sigreturn(t) == 0
    signals.deliver_pending_signals(t)
    assert kernel.calls == [("exit", 100, SIGSEGV)]


def test_nodefer_and_resethand(t):
    install(t, SIGUSR1, flags=SA_SIGINFO | SA_RESTORER | SA_NODEFER | SA_RESETHAND)
    signals.send_signal(t, SigInfo(SIGUSR1))
    signals.deliver_pending_signals(t)
    assert t.sigmask == 0
    assert t.tg.sighand[SIGUSR1] == SigAction(SIG_DFL, SA_SIGINFO | SA_RESTORER | SA_NODEFER | SA_RESETHAND,
                                               RESTORER)


def test_pending_handled_signals_stack_their_frames(t):
    install(t, SIGUSR1, handler=HANDLER)
    install(t, SIGUSR2, handler=OTHER_HANDLER)
    signals.send_signal(t, SigInfo(SIGUSR1))
    signals.send_signal(t, SigInfo(SIGUSR2))
    assert signals.deliver_pending_signals(t) is True
    assert t.regs.rip == OTHER_HANDLER
    assert saved_context(t).regs["rip"] == HANDLER
    assert t.sigmask == sigset(SIGUSR1, SIGUSR2)


def test_handler_without_sa_restorer_gets_sigsegv(t, kernel):
    install(t, SIGUSR1, flags=SA_SIGINFO)
    signals.send_signal(t, SigInfo(SIGUSR1))
    assert signals.deliver_pending_signals(t) is False
    assert kernel.calls == [("exit", 100, SIGSEGV)]


def test_unwritable_stack_kills_with_sigsegv_even_with_a_sigsegv_handler(t, kernel):
    install(t, SIGUSR1)
    install(t, SIGSEGV)
    t.regs.rsp = 0x2000
    signals.send_signal(t, SigInfo(SIGUSR1))
    assert signals.deliver_pending_signals(t) is False
    assert kernel.calls == [("exit", 100, SIGSEGV)]
    assert t.tg.sighand[SIGSEGV].handler == SIG_DFL


def test_sigsegv_handler_on_the_alternate_stack_survives_a_bad_stack(t):
    signals.set_altstack(t, ALTSTACK_BASE, 0, ALTSTACK_SIZE, sp=t.regs.rsp)
    install(t, SIGSEGV, flags=SA_SIGINFO | SA_RESTORER | SA_ONSTACK)
    t.regs.rsp = 0x2000
    signals.force_signal(t, SigInfo.fault(SIGSEGV, signals.SEGV_MAPERR, 0x1FF8, trapno=14, error_code=6))
    assert signals.deliver_pending_signals(t) is True
    assert ALTSTACK_BASE < t.regs.rsp < ALTSTACK_BASE + ALTSTACK_SIZE
    mcontext = t.regs.rsp + 8 + sigframe.UC_MCONTEXT_OFFSET
    err, trapno, _, cr2 = struct.unpack("<4Q", t.copy_in(mcontext + 18 * 8 + 8, 32))
    assert (err, trapno, cr2) == (6, 14, 0x1FF8)


def test_altstack_with_autodisarm(t):
    signals.set_altstack(t, ALTSTACK_BASE, signals.SS_AUTODISARM, ALTSTACK_SIZE, sp=t.regs.rsp)
    install(t, SIGUSR1, flags=SA_SIGINFO | SA_RESTORER | SA_ONSTACK)
    signals.send_signal(t, SigInfo(SIGUSR1))
    signals.deliver_pending_signals(t)
    assert ALTSTACK_BASE < t.regs.rsp < ALTSTACK_BASE + ALTSTACK_SIZE
    assert t.sigaltstack == (0, signals.SS_DISABLE, 0)
    assert saved_context(t).altstack == (ALTSTACK_BASE, signals.SS_AUTODISARM, ALTSTACK_SIZE)
    handler_returns(t)
    assert t.sigaltstack == (ALTSTACK_BASE, signals.SS_AUTODISARM, ALTSTACK_SIZE)


def test_nested_signal_on_the_alternate_stack_stays_on_it(t):
    signals.set_altstack(t, ALTSTACK_BASE, 0, ALTSTACK_SIZE, sp=t.regs.rsp)
    install(t, SIGUSR1, flags=SA_SIGINFO | SA_RESTORER | SA_ONSTACK | SA_NODEFER)
    signals.send_signal(t, SigInfo(SIGUSR1))
    signals.deliver_pending_signals(t)
    first_frame = t.regs.rsp
    signals.send_signal(t, SigInfo(SIGUSR1))
    signals.deliver_pending_signals(t)
    assert ALTSTACK_BASE < t.regs.rsp < first_frame - sigframe.RED_ZONE


def test_overflowing_the_alternate_stack_is_fatal(t, kernel):
    signals.set_altstack(t, ALTSTACK_BASE, 0, signals.MINSIGSTKSZ, sp=t.regs.rsp)
    install(t, SIGUSR1, flags=SA_SIGINFO | SA_RESTORER | SA_ONSTACK)
    t.regs.rsp = ALTSTACK_BASE + 0x200                   # already deep in it
    signals.send_signal(t, SigInfo(SIGUSR1))
    signals.deliver_pending_signals(t)
    assert kernel.calls == [("exit", 100, SIGSEGV)]


# -- restarting interrupted syscalls ------------------------------------------------------------------------------
@pytest.mark.parametrize("code, flags, restarts", [
    (signals.ERESTARTSYS, 0, False),
    (signals.ERESTARTSYS, SA_RESTART, True),
    (signals.ERESTARTNOINTR, 0, True),
    (signals.ERESTARTNOHAND, SA_RESTART, False),
    (signals.ERESTART_RESTARTBLOCK, SA_RESTART, False),
])
def test_restart_rules_with_a_handler(t, code, flags, restarts):
    install(t, SIGUSR1, flags=SA_SIGINFO | SA_RESTORER | flags)
    in_syscall(t, 0, -code)
    signals.send_signal(t, SigInfo(SIGUSR1))
    signals.deliver_pending_signals(t)
    saved = saved_context(t).regs
    if restarts:
        assert (saved["rax"], saved["rip"]) == (0, SYSCALL_RIP - 2)
    else:
        assert (saved["rax"], saved["rip"]) == (EINTR, SYSCALL_RIP)


@pytest.mark.parametrize("code, number", [
    (signals.ERESTARTSYS, 7),
    (signals.ERESTARTNOINTR, 7),
    (signals.ERESTARTNOHAND, 7),
    (signals.ERESTART_RESTARTBLOCK, signals.NR_RESTART_SYSCALL),
])
def test_everything_restarts_when_no_handler_runs(t, code, number):
    in_syscall(t, 7, -code)
    t.pending.enqueue(SigInfo(SIGCHLD))
    assert signals.deliver_pending_signals(t) is False
    assert (t.regs.rax, t.regs.rip) == (number, SYSCALL_RIP - 2)


def test_no_restart_outside_a_syscall(t):
    t.regs.rax = neg(signals.ERESTARTSYS)
    signals.deliver_pending_signals(t)
    assert (t.regs.rax, t.regs.rip) == (neg(signals.ERESTARTSYS), SYSCALL_RIP)


def test_a_syscall_interrupted_by_a_stop_restarts_when_continued(t, kernel):
    in_syscall(t, 0, -signals.ERESTARTSYS)
    signals.send_signal(t, SigInfo(SIGTSTP))
    signals.deliver_pending_signals(t)
    assert kernel.calls == [("stop", 100, SIGTSTP)]
    assert (t.regs.rax, t.regs.rip) == (0, SYSCALL_RIP - 2)


# -- the syscalls ---------------------------------------------------------------------------------------------------
def test_rt_sigaction_installs_and_reports(t):
    action = SigAction(HANDLER, SA_SIGINFO | SA_RESTORER | signals.SA_UNSUPPORTED, RESTORER, sigset(SIGKILL, SIGINT))
    t.copy_out(DATA, action.pack())
    assert sys_signal.rt_sigaction(t, SIGUSR1, DATA, DATA + 64, 8) == 0
    assert t.tg.sighand[SIGUSR1] == SigAction(HANDLER, SA_SIGINFO | SA_RESTORER, RESTORER, sigbit(SIGINT))
    assert SigAction.unpack(t.copy_in(DATA + 64, 32)) == SigAction()
    sys_signal.rt_sigaction(t, SIGUSR1, 0, DATA + 64, 8)
    assert SigAction.unpack(t.copy_in(DATA + 64, 32)) == t.tg.sighand[SIGUSR1]


@pytest.mark.parametrize("signum, act, sigsetsize, error", [
    (SIGUSR1, DATA, 16, errno.EINVAL),
    (SIGKILL, DATA, 8, errno.EINVAL),
    (SIGSTOP, DATA, 8, errno.EINVAL),
    (0, 0, 8, errno.EINVAL),
    (65, 0, 8, errno.EINVAL),
    (65, 0x10, 8, errno.EFAULT),
])
def test_rt_sigaction_errors(t, signum, act, sigsetsize, error):
    with pytest.raises(SyscallError) as failure:
        sys_signal.rt_sigaction(t, signum, act, 0, sigsetsize)
    assert failure.value.errno == error


def test_rt_sigaction_query_of_sigkill_is_allowed(t):
    assert sys_signal.rt_sigaction(t, SIGKILL, 0, DATA, 8) == 0


def test_ignoring_a_signal_discards_it_even_if_blocked(t):
    t.sigmask = sigbit(SIGUSR1)
    signals.send_signal(t, SigInfo(SIGUSR1))
    signals.send_signal(t.tg, SigInfo(SIGUSR1))
    t.copy_out(DATA, SigAction(SIG_IGN).pack())
    sys_signal.rt_sigaction(t, SIGUSR1, DATA, 0, 8)
    assert t.pending.signals == t.tg.pending.signals == 0


def test_rt_sigprocmask(t):
    t.copy_out_u64(DATA, sigset(SIGUSR1, SIGKILL, SIGSTOP))
    sys_signal.rt_sigprocmask(t, sys_signal.SIG_BLOCK, DATA, DATA + 8, 8)
    assert t.sigmask == sigbit(SIGUSR1) and t.copy_in_u64(DATA + 8) == 0
    t.copy_out_u64(DATA, sigbit(SIGUSR2))
    sys_signal.rt_sigprocmask(t, sys_signal.SIG_SETMASK, DATA, 0, 8)
    assert t.sigmask == sigbit(SIGUSR2)
    sys_signal.rt_sigprocmask(t, sys_signal.SIG_UNBLOCK, DATA, DATA + 8, 8)
    assert t.sigmask == 0 and t.copy_in_u64(DATA + 8) == sigbit(SIGUSR2)
    with pytest.raises(SyscallError) as failure:
        sys_signal.rt_sigprocmask(t, 7, DATA, 0, 8)
    assert failure.value.errno == errno.EINVAL
    assert sys_signal.rt_sigprocmask(t, 7, 0, DATA, 8) == 0          # how is only checked with a set


def test_rt_sigpending(t):
    t.sigmask = sigset(SIGUSR1, SIGUSR2)
    signals.send_signal(t, SigInfo(SIGUSR1))
    signals.send_signal(t.tg, SigInfo(SIGUSR2))
    sys_signal.rt_sigpending(t, DATA, 8)
    assert t.copy_in_u64(DATA) == sigset(SIGUSR1, SIGUSR2)
    with pytest.raises(SyscallError):
        sys_signal.rt_sigpending(t, DATA, 9)


def test_rt_sigsuspend_runs_the_handler_then_restores_the_mask(t, kernel):
    install(t, SIGUSR1)
    t.sigmask = sigset(SIGUSR1, SIGHUP)
    t.copy_out_u64(DATA, sigbit(SIGHUP))
    with pytest.raises(WouldBlock) as parked:
        sys_signal.rt_sigsuspend(t, DATA, 8)
    assert parked.value.restart == RESTART_ALWAYS
    assert t.sigmask == sigbit(SIGHUP)
    assert not signals.has_deliverable_signal(t)

    signals.send_signal(t, SigInfo(SIGUSR1))
    assert signals.has_deliverable_signal(t)
    in_syscall(t, 130, -signals.ERESTARTNOHAND)                   # the kernel ends the wait
    assert signals.deliver_pending_signals(t) is True
    assert saved_context(t).regs["rax"] == EINTR
    assert saved_context(t).mask == sigset(SIGUSR1, SIGHUP)
    handler_returns(t)
    assert t.sigmask == sigset(SIGUSR1, SIGHUP)
    assert t.regs.rax == EINTR


def test_rt_sigsuspend_restarts_with_the_old_mask_when_no_handler_runs(t, kernel):
    t.sigmask = sigbit(SIGHUP)
    t.copy_out_u64(DATA, 0)
    with pytest.raises(WouldBlock):
        sys_signal.rt_sigsuspend(t, DATA, 8)
    signals.send_signal(t, SigInfo(SIGTSTP))
    in_syscall(t, 130, -signals.ERESTARTNOHAND)
    assert signals.deliver_pending_signals(t) is False
    assert (t.regs.rax, t.regs.rip) == (130, SYSCALL_RIP - 2)
    assert t.sigmask == sigbit(SIGHUP) and t.saved_sigmask is None


def test_pause_waits_for_a_handler():
    with pytest.raises(WouldBlock) as parked:
        sys_signal.pause(None)
    assert parked.value.restart == RESTART_ALWAYS and parked.value.queues == ()


def test_rt_sigtimedwait_takes_a_blocked_signal(t):
    t.sigmask = sigset(SIGUSR1, 40)
    signals.send_signal(t.tg, SigInfo(40, signals.SI_QUEUE, pid=5, value=77))
    t.copy_out_u64(DATA, sigset(SIGUSR1, 40))
    assert sys_signal.rt_sigtimedwait(t, DATA, DATA + 16, 0, 8) == 40
    info = SigInfo.unpack(t.copy_in(DATA + 16, 128))
    assert (info.signo, info.code, info.pid, info.value) == (40, signals.SI_QUEUE, 5, 77)
    assert t.tg.pending.signals == 0


def test_rt_sigtimedwait_waits_then_times_out(t, kernel):
    t.copy_out_u64(DATA, sigbit(SIGUSR1))
    t.copy_out(DATA + 8, struct.pack("<qq", 1, 500_000_000))
    with pytest.raises(WouldBlock) as parked:
        sys_signal.rt_sigtimedwait(t, DATA, 0, DATA + 8, 8)
    assert parked.value.deadline == kernel.clock + 1.5
    assert parked.value.restart == RESTART_NEVER
    assert set(parked.value.queues) == {t.pending.arrivals, t.tg.pending.arrivals}
    t.timed_out_flag = True
    with pytest.raises(SyscallError) as failure:
        sys_signal.rt_sigtimedwait(t, DATA, 0, DATA + 8, 8)
    assert failure.value.errno == errno.EAGAIN


@pytest.mark.parametrize("timespec, error", [((0, 0), errno.EAGAIN), ((0, 10**9), errno.EINVAL),
                                             ((-1, 0), errno.EINVAL)])
def test_rt_sigtimedwait_timeout_errors(t, timespec, error):
    t.copy_out_u64(DATA, sigbit(SIGUSR1))
    t.copy_out(DATA + 8, struct.pack("<qq", *timespec))
    with pytest.raises(SyscallError) as failure:
        sys_signal.rt_sigtimedwait(t, DATA, 0, DATA + 8, 8)
    assert failure.value.errno == error


def test_rt_sigqueueinfo(t, kernel):
    other = new_process(kernel, 200)
    t.copy_out(DATA, SigInfo(0, signals.SI_QUEUE, pid=1, value=5).pack())
    assert sys_signal.rt_sigqueueinfo(t, 200, 40, DATA) == 0
    queued = other.tg.pending.take(0)
    assert (queued.signo, queued.code, queued.value) == (40, signals.SI_QUEUE, 5)
    t.copy_out(DATA, SigInfo(0, signals.SI_USER).pack())
    with pytest.raises(SyscallError) as failure:
        sys_signal.rt_sigqueueinfo(t, 200, 40, DATA)
    assert failure.value.errno == errno.EPERM
    assert sys_signal.rt_sigqueueinfo(t, 100, SIGUSR1, DATA) == 0   # to oneself, anything goes


def test_rt_tgsigqueueinfo(t, kernel):
    t.copy_out(DATA, SigInfo(0, signals.SI_QUEUE).pack())
    with pytest.raises(SyscallError) as failure:
        sys_signal.rt_tgsigqueueinfo(t, 100, 0, 40, DATA)
    assert failure.value.errno == errno.EINVAL
    assert sys_signal.rt_tgsigqueueinfo(t, 100, 100, 40, DATA) == 0
    assert t.pending.signals == sigbit(40)


def stack_t(sp, flags, size):
    return struct.pack("<QI4xQ", sp, flags, size)


def test_sigaltstack(t):
    t.copy_out(DATA, stack_t(ALTSTACK_BASE, signals.SS_AUTODISARM, ALTSTACK_SIZE))
    assert sys_signal.sigaltstack(t, DATA, DATA + 32) == 0
    assert t.copy_in(DATA + 32, 24) == stack_t(0, signals.SS_DISABLE, 0)
    sys_signal.sigaltstack(t, 0, DATA + 32)
    assert t.copy_in(DATA + 32, 24) == stack_t(ALTSTACK_BASE, signals.SS_AUTODISARM, ALTSTACK_SIZE)
    t.copy_out(DATA, stack_t(0, signals.SS_DISABLE, 0))
    sys_signal.sigaltstack(t, DATA, 0)
    assert t.sigaltstack == (0, signals.SS_DISABLE, 0)


@pytest.mark.parametrize("new, error", [
    (stack_t(ALTSTACK_BASE, 4, ALTSTACK_SIZE), errno.EINVAL),
    (stack_t(ALTSTACK_BASE, 0, signals.MINSIGSTKSZ - 1), errno.ENOMEM),
])
def test_sigaltstack_errors(t, new, error):
    t.copy_out(DATA, new)
    with pytest.raises(SyscallError) as failure:
        sys_signal.sigaltstack(t, DATA, 0)
    assert failure.value.errno == error


def test_sigaltstack_cannot_change_while_on_it(t):
    signals.set_altstack(t, ALTSTACK_BASE, 0, ALTSTACK_SIZE, sp=t.regs.rsp)
    t.regs.rsp = ALTSTACK_BASE + 0x100
    sys_signal.sigaltstack(t, 0, DATA + 32)
    assert t.copy_in(DATA + 32, 24) == stack_t(ALTSTACK_BASE, signals.SS_ONSTACK, ALTSTACK_SIZE)
    t.copy_out(DATA, stack_t(0, signals.SS_DISABLE, 0))
    with pytest.raises(SyscallError) as failure:
        sys_signal.sigaltstack(t, DATA, 0)
    assert failure.value.errno == errno.EPERM


def test_kill_a_process(t, kernel):
    other = new_process(kernel, 200)
    assert sys_signal.kill(t, 200, SIGUSR1) == 0
    info = other.tg.pending.take(0)
    assert (info.signo, info.code, info.pid, info.uid) == (SIGUSR1, signals.SI_USER, 100, 0)
    assert sys_signal.kill(t, 200, 0) == 0 and other.tg.pending.signals == 0


def test_kill_reaches_the_process_of_a_thread_id(t, kernel):
    new_thread(kernel, t.tg, 101)
    sys_signal.kill(t, 101, SIGUSR1)
    assert t.tg.pending.signals == sigbit(SIGUSR1)


@pytest.mark.parametrize("pid, sig, error", [
    (999, SIGUSR1, errno.ESRCH), (999, 99, errno.ESRCH), (100, 99, errno.EINVAL), (100, -1, errno.EINVAL),
    (-(1 << 31), SIGUSR1, errno.ESRCH), (-999, SIGUSR1, errno.ESRCH),
])
def test_kill_errors(t, pid, sig, error):
    with pytest.raises(SyscallError) as failure:
        sys_signal.kill(t, pid, sig)
    assert failure.value.errno == error


def test_kill_needs_a_matching_uid_unless_root(kernel):
    kernel.init = new_process(kernel, 1).tg
    user = new_process(kernel, 100, uid=1000, sid=5)
    other_user = new_process(kernel, 200, uid=2000, sid=5)
    new_process(kernel, 300, uid=1000)
    with pytest.raises(SyscallError) as failure:
        sys_signal.kill(user, 200, SIGUSR1)
    assert failure.value.errno == errno.EPERM
    assert sys_signal.kill(user, 200, SIGCONT) == 0                  # same session
    assert sys_signal.kill(user, 300, SIGUSR1) == 0
    with pytest.raises(SyscallError) as failure:
        sys_signal.kill(other_user, 100, 0)                          # existence and permission
    assert failure.value.errno == errno.EPERM
    assert sys_signal.kill(user, -1, SIGUSR1) == 0                   # EPERM from some is no failure
    assert kernel.tasks[300].tg.pending.signals == sigbit(SIGUSR1)


def test_kill_process_groups(t, kernel):
    member = new_process(kernel, 200, pgid=100)
    outsider = new_process(kernel, 300)
    assert sys_signal.kill(t, 0, SIGUSR1) == 0                       # the caller's own group
    assert sys_signal.kill(t, -300, SIGUSR2) == 0
    assert t.tg.pending.signals == member.tg.pending.signals == sigbit(SIGUSR1)
    assert outsider.tg.pending.signals == sigbit(SIGUSR2)


def test_kill_minus_one_spares_init_and_the_caller(t, kernel):
    other = new_process(kernel, 200)
    sys_signal.kill(t, -1, SIGUSR1)
    assert other.tg.pending.signals == sigbit(SIGUSR1)
    assert t.tg.pending.signals == kernel.init.pending.signals == 0


def test_tgkill_and_tkill(t, kernel):
    thread = new_thread(kernel, t.tg, 101)
    assert sys_signal.tgkill(t, 100, 101, SIGUSR1) == 0
    info = thread.pending.take(0)
    assert (info.signo, info.code, info.pid) == (SIGUSR1, signals.SI_TKILL, 100)
    assert sys_signal.tkill(t, 101, SIGUSR2) == 0 and thread.pending.signals == sigbit(SIGUSR2)
    for args, error in (((100, 0, SIGUSR1), errno.EINVAL), ((0, 101, SIGUSR1), errno.EINVAL),
                        ((1, 101, SIGUSR1), errno.ESRCH), ((100, 999, SIGUSR1), errno.ESRCH),
                        ((100, 101, 65), errno.EINVAL)):
        with pytest.raises(SyscallError) as failure:
            sys_signal.tgkill(t, *args)
        assert failure.value.errno == error


def test_alarm(t, kernel):
    assert sys_signal.alarm(t, 10) == 0
    kernel.advance(6.6)
    assert sys_signal.alarm(t, 5) == 3                               # 3.4 s left, rounded
    kernel.advance(4.9)
    assert sys_signal.alarm(t, 5) == 1                               # any time left reads as at least 1
    kernel.advance(5)
    assert t.tg.pending.signals == sigbit(SIGALRM)
    assert t.tg.pending.take(0).code == signals.SI_KERNEL
    assert sys_signal.alarm(t, 0) == 0


def test_interval_timer_rearms(t, kernel):
    install(t, SIGALRM)
    timer = signals.real_timer(t.tg)
    timer.set(1.0, 2.0)
    kernel.advance(1.0)
    assert timer.get() == (0.0, 2.0)          # expired: re-armed when its SIGALRM is taken, as in Linux
    assert signals.dequeue_signal(t, 0).signo == SIGALRM
    assert timer.get() == (2.0, 2.0)


# -- fork and exec ---------------------------------------------------------------------------------------------------
def test_exec_resets_handlers_but_keeps_ignored_signals_mask_and_pending(t):
    shared = t.tg.sighand
    install(t, SIGUSR1)
    install(t, SIGUSR2, handler=SIG_IGN)
    t.sigmask = sigset(SIGINT, SIGTERM)
    signals.send_signal(t, SigInfo(SIGTERM))
    t.sigaltstack = (ALTSTACK_BASE, signals.SS_AUTODISARM, ALTSTACK_SIZE)
    signals.reset_for_exec(t)
    assert t.tg.sighand is not shared
    assert t.tg.sighand[SIGUSR1] == SigAction()
    assert t.tg.sighand[SIGUSR2] == SigAction(SIG_IGN)
    assert shared[SIGUSR1].handler == HANDLER
    assert t.sigmask == sigset(SIGINT, SIGTERM) and t.pending.signals == sigbit(SIGTERM)
    assert t.sigaltstack == (0, signals.SS_AUTODISARM, 0)


def test_fork_copies_the_actions(t):
    install(t, SIGUSR1)
    child = signals.copy_sighand(t.tg.sighand)
    install(t, SIGUSR1, handler=OTHER_HANDLER)
    assert child[SIGUSR1].handler == HANDLER and len(child) == signals.NSIG + 1


# -- real programs, natively and in the sandbox ---------------------------------------------------------------------
SIGNALS_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fenv.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t hits;
static volatile int last_code, last_pid_is_me, mask_had_self, mask_had_extra, round_in_handler;
static sigjmp_buf recover;
static char altstack[65536];
static volatile int on_altstack, altstack_flags_inside;
static volatile pid_t handler_tid;
static volatile int *volatile bad_pointer = (int *)16;

static void note(int sig, siginfo_t *info, void *uc)
{
    sigset_t now;
    (void)uc;
    hits++;
    last_code = info->si_code;
    last_pid_is_me = info->si_pid == getpid();
    sigprocmask(SIG_BLOCK, NULL, &now);
    mask_had_self = sigismember(&now, sig);
    mask_had_extra = sigismember(&now, SIGWINCH);
    round_in_handler = fegetround() == FE_TONEAREST;
    handler_tid = (pid_t)syscall(SYS_gettid);
}

static void on_alt(int sig)
{
    char local;
    stack_t current;
    (void)sig;
    on_altstack = (uintptr_t)&local > (uintptr_t)altstack && (uintptr_t)&local < (uintptr_t)altstack + sizeof altstack;
    sigaltstack(NULL, &current);
    altstack_flags_inside = current.ss_flags;
}

static void segv(int sig)
{
    (void)sig;
    siglongjmp(recover, 1);
}

static void nested(int sig)
{
    if (hits++ == 0)
        raise(sig);
}

static void install(int sig, void (*handler)(int, siginfo_t *, void *), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | flags;
    sigaddset(&sa.sa_mask, SIGWINCH);
    if (sigaction(sig, &sa, NULL))
        perror("sigaction");
}

static void install_plain(int sig, void (*handler)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sa.sa_flags = flags;
    sigaction(sig, &sa, NULL);
}

static int blocked(int sig)
{
    sigset_t now;
    sigprocmask(SIG_BLOCK, NULL, &now);
    return sigismember(&now, sig);
}

static void read_interrupted_by_child(int flags)
{
    int fds[2];
    char c = 0;
    pipe(fds);
    install(SIGUSR2, note, flags);
    hits = 0;
    pid_t child = fork();
    if (child == 0) {
        struct timespec pause = { 0, 100 * 1000 * 1000 };
        nanosleep(&pause, NULL);
        kill(getppid(), SIGUSR2);
        nanosleep(&pause, NULL);
        write(fds[1], "x", 1);
        _exit(0);
    }
    ssize_t n = read(fds[0], &c, 1);
    int saved = errno;
    waitpid(child, NULL, 0);
    printf("read %s: n=%zd errno=%s c=%c hits=%d\n", flags & SA_RESTART ? "SA_RESTART" : "no SA_RESTART",
           n, n < 0 ? strerror(saved) : "-", n > 0 ? c : '-', hits);
    close(fds[0]);
    close(fds[1]);
}

static void *blocked_thread(void *arg)
{
    (void)arg;
    pause();
    return NULL;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction query;

    int r = sigaction(SIGKILL, &(struct sigaction){ 0 }, NULL);
    printf("sigaction(SIGKILL): %d %s\n", r, strerror(errno));
    sigaction(SIGKILL, NULL, &query);
    printf("query SIGKILL handler is default: %d\n", query.sa_handler == SIG_DFL);

    install(SIGUSR1, note, 0);
    fesetround(FE_DOWNWARD);
    raise(SIGUSR1);
    printf("raise: hits=%d code=%d pid_is_me=%d self_blocked=%d sa_mask_applied=%d handler_round_default=%d\n",
           hits, last_code, last_pid_is_me, mask_had_self, mask_had_extra, round_in_handler);
    printf("after handler: round still downward=%d usr1 blocked=%d\n", fegetround() == FE_DOWNWARD, blocked(SIGUSR1));
    fesetround(FE_TONEAREST);

    sigset_t set, pending;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    hits = 0;
    kill(getpid(), SIGUSR1);
    kill(getpid(), SIGUSR1);
    sigpending(&pending);
    printf("blocked: hits=%d pending=%d\n", hits, sigismember(&pending, SIGUSR1));
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    printf("unblocked: hits=%d code=%d\n", hits, last_code);

    read_interrupted_by_child(SA_RESTART);
    read_interrupted_by_child(0);

    sigprocmask(SIG_BLOCK, &set, NULL);
    hits = 0;
    pid_t child = fork();
    if (child == 0) {
        kill(getppid(), SIGUSR1);
        _exit(0);
    }
    sigset_t empty;
    sigemptyset(&empty);
    r = sigsuspend(&empty);
    printf("sigsuspend: r=%d errno=%s hits=%d usr1 blocked again=%d\n", r, strerror(errno), hits, blocked(SIGUSR1));
    waitpid(child, NULL, 0);
    sigprocmask(SIG_UNBLOCK, &set, NULL);

    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
    sigaltstack(&ss, NULL);
    install_plain(SIGHUP, on_alt, SA_ONSTACK);
    raise(SIGHUP);
    stack_t after;
    sigaltstack(NULL, &after);
    printf("altstack: handler on it=%d flags inside=%d flags after=%d\n", on_altstack, altstack_flags_inside,
           after.ss_flags);

    install_plain(SIGSEGV, segv, 0);
    for (int round = 0; round < 2; round++) {
        if (sigsetjmp(recover, 1) == 0)
            *bad_pointer = 1;
        else
            printf("recovered from SIGSEGV %d\n", round);
    }

    sigset_t rt;
    sigemptyset(&rt);
    sigaddset(&rt, SIGRTMIN + 1);
    sigprocmask(SIG_BLOCK, &rt, NULL);
    sigqueue(getpid(), SIGRTMIN + 1, (union sigval){ .sival_int = 42 });
    sigqueue(getpid(), SIGRTMIN + 1, (union sigval){ .sival_int = 43 });
    siginfo_t info;
    struct timespec zero = { 0, 0 };
    int first = sigtimedwait(&rt, &info, &zero);
    int first_value = info.si_value.sival_int;
    int second = sigtimedwait(&rt, &info, &zero);
    printf("sigtimedwait: %d %d value %d %d code %d\n", first - SIGRTMIN, second - SIGRTMIN, first_value,
           info.si_value.sival_int, info.si_code);
    r = sigtimedwait(&rt, &info, &zero);
    printf("sigtimedwait empty: %d %s\n", r, strerror(errno));

    hits = 0;
    install_plain(SIGUSR2, nested, SA_NODEFER);
    raise(SIGUSR2);
    printf("nodefer: hits=%d\n", hits);

    int status;
    child = fork();
    if (child == 0) {
        pause();
        _exit(1);
    }
    kill(child, SIGSTOP);
    waitpid(child, &status, WUNTRACED);
    printf("child stopped=%d by %d\n", WIFSTOPPED(status), WSTOPSIG(status));
    kill(child, SIGCONT);
    waitpid(child, &status, WCONTINUED);
    printf("child continued=%d\n", WIFCONTINUED(status));
    kill(child, SIGTERM);
    waitpid(child, &status, 0);
    printf("child signaled=%d by %d\n", WIFSIGNALED(status), WTERMSIG(status));

    pthread_t thread;
    install(SIGUSR1, note, 0);
    pthread_create(&thread, NULL, blocked_thread, NULL);
    struct timespec settle = { 0, 50 * 1000 * 1000 };
    nanosleep(&settle, NULL);
    handler_tid = 0;
    pthread_kill(thread, SIGUSR1);
    pthread_join(thread, NULL);
    printf("pthread_kill: ran in the other thread=%d\n", handler_tid != 0 && handler_tid != getpid());

    install(SIGALRM, note, 0);
    printf("alarm: %u\n", alarm(1));
    r = pause();
    printf("pause: r=%d errno=%s code=%d\n", r, strerror(errno), last_code);

    child = fork();
    if (child == 0) {
        raise(SIGTERM);
        _exit(1);
    }
    waitpid(child, &status, 0);
    printf("raise(SIGTERM): signaled=%d by %d\n", WIFSIGNALED(status), WTERMSIG(status));
    child = fork();
    if (child == 0) {
        install_plain(SIGSEGV, SIG_DFL, 0);
        *bad_pointer = 1;
        _exit(1);
    }
    waitpid(child, &status, 0);
    printf("SIGSEGV: signaled=%d by %d core=%d\n", WIFSIGNALED(status), WTERMSIG(status), WCOREDUMP(status));
    return 0;
}
"""


@pytest.fixture(scope="module", params=["dynamic", "static"])
def signals_program(request, tmp_path_factory):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is missing: run scripts/install.sh", pytrace=False)
    directory = tmp_path_factory.mktemp("signals-c")
    (directory / "signals.c").write_text(SIGNALS_C)
    binary = directory / f"signals-{request.param}"
    static = ["-static"] if request.param == "static" else []
    subprocess.run([gcc, *static, "-O2", "-pthread", "-Wall", "-o", str(binary), str(directory / "signals.c"), "-lm"],
                   check=True)
    return str(binary)


def test_c_program_signals_match_native(signals_program):
    native = run_native([signals_program])
    assert native.status == 0 and "recovered from SIGSEGV 1" in native.out, native
    assert_same(native, run_sandbox([signals_program]))


def test_python_signal_handlers_match_native(tmp_path):
    script = tmp_path / "signals.py"
    script.write_text(PYTHON_SIGNALS)
    native = run_native(["/usr/bin/python3", str(script)])
    assert native.out == ("got [10, 14]\npending {<Signals.SIGUSR2: 12>}\nwaited 12\nKeyboardInterrupt\n"), native
    assert_same(native, run_sandbox(["/usr/bin/python3", str(script)]))


PYTHON_SIGNALS = """
import os, signal, threading, time
got = []
signal.signal(signal.SIGUSR1, lambda signo, frame: got.append(signo))
os.kill(os.getpid(), signal.SIGUSR1)
signal.signal(signal.SIGALRM, lambda signo, frame: got.append(signo))
signal.alarm(1)
time.sleep(1.5)
print("got", got)
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR2])
os.kill(os.getpid(), signal.SIGUSR2)
print("pending", signal.sigpending())
print("waited", signal.sigwait([signal.SIGUSR2]))
def interrupt():
    time.sleep(0.2)
    os.kill(os.getpid(), signal.SIGINT)
threading.Thread(target=interrupt).start()
try:
    time.sleep(5)
except KeyboardInterrupt:
    print("KeyboardInterrupt")
"""

