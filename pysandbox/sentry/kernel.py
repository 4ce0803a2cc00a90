"""The Kernel: pid table, the event loop, syscall dispatch, exits and stops.

One host thread runs everything. Tasks are in one of four places: running
guest code on the platform, queued to be resumed (`_runnable`), parked on a
WaitQueue (`task.parked`), or gone. Handlers run to completion inside the loop.
"""
import collections
import errno
import gc
import itertools
import os
import sys
import time
from _heapq import heappop, heappush  # the C functions; heapq.py adds nothing used here

from pysandbox.platform import Exited, Fault, Interrupted, Syscall
from pysandbox.sentry import signals
from pysandbox.sentry.errors import (KEEP_REGS, RESTART_ALWAYS, RESTART_BLOCK, RESTART_NEVER,
                                     RESTART_SYS, SandboxError, SyscallError, WouldBlock)
from pysandbox.sentry.syscalls import table
from pysandbox.sentry.sysctl import Sysctls
from pysandbox.sentry.waiter import WaitQueue

PID_MAX = 4194304
SYSCALL_STOP_STATUS = ((0x80 | 5) << 8) | 0x7F     # WIFSTOPPED with SIGTRAP|0x80 (PTRACE_O_TRACESYSGOOD)
MASK64 = (1 << 64) - 1
NR_RT_SIGRETURN = 15
TIMER_SLICE = 0.001        # seconds a task runs on before a timer already due fires (Kernel._run_alone)
_RESTART_CODES = {
    RESTART_NEVER: -errno.EINTR,
    RESTART_SYS: -signals.ERESTARTSYS,
    RESTART_ALWAYS: -signals.ERESTARTNOHAND,
    RESTART_BLOCK: -signals.ERESTART_RESTARTBLOCK,
}

CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_STOPPED, CLD_CONTINUED = 1, 2, 3, 5, 6


class Kernel:
    def __init__(self, platform, vfs=None, hostname="pysandbox", strace=None, log=None, protect_init=True):
        self.platform = platform
        self.vfs = vfs
        self.hostname = hostname
        self.domainname = "(none)"
        self.sysctls = Sysctls(self)         # the sandbox's /proc/sys values
        self.boot_time = time.monotonic()
        self.tasks = {}                      # tid -> Task
        self.thread_groups = {}              # tgid -> ThreadGroup
        self.init = None
        self.controlling_terminals = {}      # session id -> its pty (vfs/devpts.py)
        # Like a pid namespace, pid 1 ignores signals it has no handler for (except SIGKILL/SIGSTOP
        # from outside). `pysandbox do` turns this off so that pid 1 behaves as the program would natively.
        self.protect_init = protect_init
        self.strace = strace                 # a callable(line) or None
        self.log = log or (lambda message: print(f"pysandbox: {message}", file=sys.stderr))
        self._last_pid = 0
        self._runnable = collections.deque()
        self._woken = collections.deque()
        self._timers = []                    # heap of [deadline, seq, callback, alive]
        self._timer_seq = itertools.count()
        self._host_fd_queues = {}            # fd -> (events, WaitQueue)
        self._unimplemented_reported = set()
        self.exit_status = None
        self.pids_limit = None               # at most this many tasks (a pids cgroup's limit), or None
        self.on_orphan_exit = None           # callback(tg) when a process with no parent (an OCI exec) ends
        self.syscall_profile = None          # a coverage.profile.SyscallProfile, or None

    # -- time and timers -----------------------------------------------------
    @staticmethod
    def now():
        return time.monotonic()

    def add_timer(self, deadline, callback):
        entry = [deadline, next(self._timer_seq), callback, True]
        heappush(self._timers, entry)
        return entry

    @staticmethod
    def cancel_timer(handle):
        if handle is not None:
            handle[3] = False

    def _fire_timers(self):
        """Run the callbacks of the timers due now. A timer a callback arms that is due at once
        waits for the next round: the work per round is bounded, so tasks, and the signals
        forwarded from outside, always get their turn between two rounds."""
        now = time.monotonic()
        due = []
        while self._timers and (not self._timers[0][3] or self._timers[0][0] <= now):
            entry = heappop(self._timers)
            if entry[3]:
                due.append(entry)
        for entry in due:
            if entry[3]:                     # an earlier callback may have cancelled it
                entry[3] = False
                entry[2]()

    def _next_timeout(self):
        while self._timers and not self._timers[0][3]:
            heappop(self._timers)
        if not self._timers:
            return None
        return max(0.0, self._timers[0][0] - time.monotonic())

    # -- host fds --------------------------------------------------------------
    def host_fd_queue(self, fd, events):
        """A WaitQueue notified once when host fd `fd` is ready for `events`."""
        known = self._host_fd_queues.get(fd)
        if known is not None:
            old_events, queue = known
            if old_events | events != old_events:
                self._host_fd_queues[fd] = (old_events | events, queue)
                self.platform.watch_fd(fd, old_events | events)
            return queue
        queue = WaitQueue()
        self._host_fd_queues[fd] = (events, queue)
        self.platform.watch_fd(fd, events)
        return queue

    def _host_fds_ready(self, fds):
        for fd in fds:
            known = self._host_fd_queues.pop(fd, None)
            self.platform.unwatch_fd(fd)
            if known is not None:
                known[1].notify()

    # -- pids ----------------------------------------------------------------------
    def allocate_pid(self):
        if self.pids_limit is not None and len(self.tasks) >= self.pids_limit:
            raise SyscallError(errno.EAGAIN)
        for _ in range(PID_MAX):
            self._last_pid = self._last_pid + 1 if self._last_pid + 1 < PID_MAX else 300
            if self._last_pid not in self.tasks and self._last_pid not in self.thread_groups:
                return self._last_pid
        raise SyscallError(errno.EAGAIN)

    def add_task(self, task):
        self.tasks[task.tid] = task
        task.tg.tasks.append(task)
        self.thread_groups.setdefault(task.tg.tgid, task.tg)

    # -- the loop ------------------------------------------------------------------
    def make_runnable(self, task):
        if not task.queued:
            task.queued = True
            self._runnable.append(task)

    def run(self):
        """Run until init exits; returns its wait status."""
        if not gc.isenabled():
            # The command turned the collector off for its start-up (cli.run). What exists now lives
            # as long as the sandbox: keep it out of every later collection, and collect from here on.
            gc.freeze()
            gc.enable()
        platform = self.platform
        while self.init is not None and not self.init.reaped_by_kernel:
            self._fire_timers()
            while self._woken:
                self._rerun_parked(self._woken.popleft())
            task = self._next_to_resume()
            if task is not None and self._alone():
                events, ready = self._run_alone(task), ()
            else:
                while task is not None:
                    task.context.resume()
                    task = self._next_to_resume()
                if self._woken:
                    continue
                if self.init.reaped_by_kernel:
                    break
                timeout = self._next_timeout()
                if timeout is None and not self._host_fd_queues and not self._any_running():
                    timeout = 0.5            # all parked: only a signal from outside can help
                events, ready = platform.wait(timeout)
            if ready:
                self._host_fds_ready(ready)
            for context, event in events:
                if context is not None and context.task is not None:
                    self._handle_event(context.task, event)
        return self.exit_status

    def _alone(self):
        """No other task is waiting to run: live timers and watched host fds don't count, the
        hot path's wait ends at the next deadline or when a watched fd is ready."""
        return not (self._runnable or self._woken)

    def _run_alone(self, task):
        """The hot path: with one task to run, syscalls that complete at once are answered
        here, without a trip round the general loop. The platform's wait ends early at the
        next timer or when a watched host fd is ready, even when the guest makes no syscall;
        the general loop then takes over. Returns the (context, event) pairs it must handle."""
        platform = self.platform
        context = task.context
        tid = context.tid
        while True:
            timeout = self._next_timeout() if self._timers else None
            # A timer already due (a timer storm) fires only once the task ran on to its next
            # stop, or for a slice, and the code a signal handler returns to runs before it does:
            # guest code and timers take turns, as user code runs between timer interrupts natively.
            timer_due = timeout == 0.0
            stopped_tid, status = platform.resume_and_wait_raw(context, TIMER_SLICE if timer_due else timeout)
            if stopped_tid != tid or status != SYSCALL_STOP_STATUS:
                return [platform.event_for(stopped_tid, status)] if stopped_tid > 0 else []
            number = context.regs.orig_rax if timer_due else 0       # read only when a timer waits
            if not self._dispatch_inline(task):
                return []
            # (_alone() and signals.has_deliverable_signal(), written out: this runs per syscall)
            if task.interrupted or self._runnable or self._woken or task.context is not context:
                self.make_runnable(task)                      # (execve gives it a new context)
                return []
            # Signals are delivered here, before timers fire: one that is only dropped (a timer's,
            # from before the timer was set again) must not cost the task its turn.
            if (task.pending.signals | task.tg.pending.signals) & ~task.sigmask:
                if not self._deliver_signals(task):
                    return []
                if not self._alone():                        # delivery may have woken another task
                    self.make_runnable(task)
                    return []
            if timer_due and number != NR_RT_SIGRETURN:
                self.make_runnable(task)
                return []

    def _any_running(self):
        return any(not t.context.stopped for t in self.tasks.values())

    def _next_to_resume(self):
        """Pop the next task that should run guest code, delivering its signals first."""
        while self._runnable:
            task = self._runnable.popleft()
            task.queued = False
            if not task.alive or task.parked is not None:
                continue
            if task.context.exited:
                self._context_lost(task)
                continue
            if task.interrupted or signals.has_deliverable_signal(task) or task.saved_sigmask is not None:
                if not self._deliver_signals(task):
                    continue
            elif task.tg.stopped:
                continue
            return task
        return None

    def _deliver_signals(self, task):
        """Act on the task's pending signals before it returns to guest code; False when it may
        not run now (it ended, is parked, or its process stopped)."""
        task.interrupted = False
        signals.deliver_pending_signals(task)
        return task.alive and task.parked is None and not task.tg.stopped

    def _handle_event(self, task, event):
        if isinstance(event, Syscall):
            self._dispatch(task)
        elif isinstance(event, Fault):
            signo, code = task.mm.classify_fault(event.signo, event.code, event.addr)
            signals.force_signal(task, signals.SigInfo.fault(signo, code, event.addr, event.trapno,
                                                             event.error_code))
            self.make_runnable(task)
        elif isinstance(event, Interrupted):
            self.make_runnable(task)
        elif isinstance(event, Exited):
            if task.alive:
                status = event.status
                signo = os.WTERMSIG(status) if os.WIFSIGNALED(status) else signals.SIGKILL
                self.log(f"host thread of task {task.tid} died unexpectedly (signal {signo})")
                self.exit_thread_group(task.tg, wait_status=signo)

    # -- syscalls ------------------------------------------------------------------
    def _dispatch(self, task):
        if self._dispatch_inline(task):
            self.make_runnable(task)

    def _dispatch_inline(self, task):
        """Run the syscall `task` stopped at; True when it completed and the task may resume."""
        if task.ptrace is not None:                  # traced by the workload: syscall-enter-stop
            from pysandbox.sentry import ptrace
            verdict = ptrace.syscall_entry(task)
            if verdict is not None:
                return verdict
        if task.seccomp is not None:
            verdict = task.seccomp.check(task)       # the workload's own filters (seccomp_guest.py)
            if verdict is not None:
                return verdict
        regs = task.context.regs
        number = regs.orig_rax
        entry = table.entries.get(number) or table.lookup(number)
        if entry is None or entry.handler is None:
            self._report_unimplemented(task, number, entry)
            regs.rax = (-errno.ENOSYS) & MASK64
            return True
        args = entry.decode_regs(regs)
        task.syscall_entry = entry
        task.syscall_args = args
        if self.strace:
            from pysandbox.sentry import strace
            task.syscall_started = time.perf_counter()
            task.traced_call = strace.begin(task.tid, entry, args, task)
        return self._complete(task, entry, args)

    def _run_handler(self, task, entry, args):
        if self._complete(task, entry, args):
            self.make_runnable(task)

    def _complete(self, task, entry, args):
        """Run a handler; True when the syscall completed and the task may resume."""
        try:
            result = entry.handler(task, *args)
        except SyscallError as error:
            result = -error.errno
        except WouldBlock as block:
            self._park(task, block)
            return False
        except SandboxError:
            raise
        except Exception as exc:  # a sentry bug must not kill the sandbox
            self._report_internal_error(task, entry, exc)
            result = -errno.EINVAL
        if not task.alive:
            return False
        if task.context.exited:
            self._context_lost(task)
            return False
        if task.syscall_state:
            task.syscall_state.clear()
        task.timed_out_flag = False
        if result is not KEEP_REGS:
            task.context.regs.rax = result & MASK64
        if self.strace:
            self._trace(task, entry, args, result)
        return not task.tg.stopped

    def _trace(self, task, entry, args, result):
        elapsed = time.perf_counter() - task.syscall_started
        value = task.context.regs.rax if result is KEEP_REGS else result
        if value >= 1 << 63:
            value -= 1 << 64
        self.strace(task.traced_call.finish(value, elapsed))

    def _context_lost(self, task):
        """The host side of a task vanished under the sentry: its process dies as if SIGKILLed."""
        self.log(f"the host process of task {task.tid} died (a stub making a forbidden host syscall "
                 f"is killed by its seccomp filter); ending process {task.tg.tgid}")
        self.exit_thread_group(task.tg, wait_status=signals.SIGKILL)

    def _report_unimplemented(self, task, number, entry):
        name = entry.name if entry is not None else f"syscall_{number}"
        if self.syscall_profile is not None:
            regs = task.context.regs
            self.syscall_profile.record_unimplemented(number, entry, (regs.rdi, regs.rsi, regs.rdx, regs.r10,
                                                                      regs.r8, regs.r9))
        if self.strace:
            from pysandbox.sentry import strace
            regs = task.context.regs
            raw = (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9)
            self.strace(strace.format_unknown(task.tid, number, raw) if entry is None else
                        strace.format_call(task.tid, entry, entry.decode(raw), -errno.ENOSYS, 0.0, task))
        if name not in self._unimplemented_reported:
            self._unimplemented_reported.add(name)
            self.log(f"unimplemented syscall {name} ({number}) returns ENOSYS")

    def _report_internal_error(self, task, entry, exc):
        import traceback
        key = (entry.name, type(exc).__name__)
        if key not in self._unimplemented_reported:
            self._unimplemented_reported.add(key)
            detail = traceback.format_exc(limit=-3) if os.environ.get("PYSANDBOX_DEBUG") else repr(exc)
            self.log(f"internal error in {entry.name}: {detail.strip()}")

    # -- blocking --------------------------------------------------------------------
    def _park(self, task, block):
        task.parked = block
        if self.strace and not task.traced_call.shown_unfinished:
            self.strace(task.traced_call.unfinished())
        waker = task.syscall_state.get("_waker")
        if waker is None:
            waker = task.syscall_state["_waker"] = lambda: self._wake(task)
        for queue in block.queues:
            queue.add(waker)
        if block.deadline is not None:
            task.syscall_state["_timer"] = self.add_timer(block.deadline, lambda: self._wake(task, timed_out=True))
        if signals.has_deliverable_signal(task):
            self.wake_for_signal(task)

    def _unpark(self, task):
        block = task.parked
        task.parked = None
        waker = task.syscall_state.get("_waker")
        for queue in block.queues:
            queue.remove(waker)
        self.cancel_timer(task.syscall_state.pop("_timer", None))
        return block

    def _wake(self, task, timed_out=False):
        if task.parked is None or not task.alive:
            return
        self._unpark(task)
        task.timed_out_flag = timed_out
        self._woken.append(task)

    def _rerun_parked(self, task):
        if task.alive and task.parked is None:
            self._run_handler(task, task.syscall_entry, task.syscall_args)

    def wake_for_signal(self, task):
        """A signal is pending for `task`: end its wait, or stop it running guest code."""
        if not task.alive:
            return
        if task.parked is not None:
            if not task.parked.interruptible:
                return
            block = self._unpark(task)
            cancel = task.syscall_state.get("on_cancel")
            if cancel is not None:
                cancel()
            # A call that did part of its work (a pipe write) returns that instead of restarting.
            result = task.syscall_state.get("interrupted_result")
            if result is None:
                result = _RESTART_CODES[block.restart]
                if block.restart == RESTART_BLOCK:
                    kept = {k: v for k, v in task.syscall_state.items()
                            if k not in ("_waker", "_timer", "on_cancel")}
                    task.restart_block = (task.syscall_entry, task.syscall_args, kept)
            task.syscall_state.clear()
            task.context.regs.rax = result & MASK64
            task.interrupted = True
            if self.strace:
                self.strace(task.traced_call.finish(result, time.perf_counter() - task.syscall_started))
            self.make_runnable(task)
        elif not task.context.stopped:
            task.context.interrupt()
        elif task in self._woken:
            pass          # its woken syscall completes first; the signal is taken when it returns
        elif not task.tg.stopped:
            self.make_runnable(task)

    # -- exits -------------------------------------------------------------------------
    def exit_task(self, task, code):
        """exit(2) of one thread; the last thread out ends the process with `code`."""
        tg = task.tg
        if len([t for t in tg.tasks if t.alive]) <= 1:
            self.exit_thread_group(tg, wait_status=(code & 0xFF) << 8)
            return
        self._release_task(task, exit_context=True)
        if task.ptrace is not None:                  # its tracer waits for the thread's exit too
            from pysandbox.sentry import ptrace
            ptrace.thread_exited(task, (code & 0xFF) << 8)

    def exit_thread_group(self, tg, wait_status):
        """The whole process exits with `wait_status` (as wait(2) reports it)."""
        if tg.exiting:
            return
        tg.exiting = True
        tg.wait_status = wait_status
        terminal = self.controlling_terminals.get(tg.sid) if tg.sid == tg.tgid else None
        if terminal is not None:
            terminal.session_leader_exited()
        if tg.sem_undo:
            from pysandbox.sentry.syscalls.sys_sem import apply_undo
            apply_undo(tg)
        if self.strace:
            outcome = (f"exited with {os.WEXITSTATUS(wait_status)}" if os.WIFEXITED(wait_status) else
                       f"killed by {signals.signal_name(os.WTERMSIG(wait_status))}"
                       + (" (core dumped)" if wait_status & 0x80 else ""))
            self.strace(f"[pid {tg.tgid}] +++ {outcome} +++")
        tasks = [t for t in tg.tasks if t.alive]
        tg.settle_cpu_time()
        if tasks:
            tasks[0].context.kill_process()
        for task in tasks:
            self._release_task(task, exit_context=False)
            if task.ptrace is not None:              # the leader is reported with its process
                from pysandbox.sentry import ptrace
                ptrace.thread_exited(task, wait_status)
        self._become_zombie(tg)

    def _release_task(self, task, exit_context):
        if task.parked is not None:
            self._unpark(task)
            cancel = task.syscall_state.get("on_cancel")
            if cancel is not None:
                cancel()
        task.alive = False
        self._orphan_forked_children(task)
        if task.clear_child_tid and task.mm.users > 1 or (task.clear_child_tid and exit_context):
            try:
                task.copy_out_u32(task.clear_child_tid, 0)
                from pysandbox.sentry import futex
                futex.wake_address(task, task.clear_child_tid, 1)
            except SyscallError:
                pass
        if exit_context:
            task.context.exit()
        self._finish_vfork(task)
        task.mm.release()
        task.fds.release()
        self.tasks.pop(task.tid, None)
        if task in task.tg.tasks and task is not task.tg.tasks[0]:
            task.tg.tasks.remove(task)
        task.tg.pidfd_waiters.notify()

    def _finish_vfork(self, task):
        parent = task.vfork_parent
        if parent is not None:
            task.vfork_parent = None
            task.tg.vfork_done.notify()

    def _orphan_forked_children(self, task):
        """`task` is exiting: the children it forked pass to another thread of its process (or,
        when the whole process goes, are reparented with it), and each thread of theirs that
        asked for PR_SET_PDEATHSIG gets its signal, as Linux's forget_original_parent does."""
        heir = None if task.tg.exiting else _live_thread(task.tg)
        for child in task.tg.children:
            if child.forked_by is not task:
                continue
            child.forked_by = heir
            for thread in child.tasks:
                if thread.alive and thread.pdeathsig:
                    signals.send_signal(child, signals.SigInfo.user(thread.pdeathsig, task))

    def _become_zombie(self, tg):
        if tg.tracees:                               # it traced tasks with ptrace(2): they go free
            from pysandbox.sentry import ptrace
            ptrace.tracer_exited(tg)
        reaper = self._new_reaper(tg)
        for child in list(tg.children):
            self._reparent(child, reaper)
        tg.children = [c for c in tg.children if c.parent is tg]
        tg.zombie = True
        tg.pidfd_waiters.notify()
        if tg is self.init:
            self._init_exited(tg)
            return
        self._notify_parent(tg)

    def _notify_parent(self, tg):
        """`tg` is a zombie now (do_notify_parent): its exit signal goes to the parent, whose
        wait(2) wakes up; a parent that ignores SIGCHLD or set SA_NOCLDWAIT reaps it at once,
        and only SIG_IGN suppresses the signal. A tracer other than the parent is told first."""
        leader = tg.leader
        if leader is not None and leader.ptrace is not None:
            from pysandbox.sentry import ptrace
            if ptrace.exit_reported_to_tracer(tg):
                return
        parent = tg.parent
        if parent is None:
            if self.on_orphan_exit is not None:
                self.on_orphan_exit(tg)
            return
        action = parent.sighand[signals.SIGCHLD]
        ignored = action.handler == signals.SIG_IGN
        reaps_automatically = tg.exit_signal == signals.SIGCHLD and (ignored or action.flags & signals.SA_NOCLDWAIT)
        # The wait(2) under way is woken before the signal comes: it returns the child, as in Linux,
        # rather than being interrupted by the SIGCHLD (its re-run waits for the next round).
        parent.child_events.notify()
        if tg.exit_signal and not (reaps_automatically and ignored):
            info = signals.SigInfo.child(tg, self._cld_code(tg.wait_status), tg.wait_status)
            info.signo = tg.exit_signal
            signals.send_signal(parent, info)
        if reaps_automatically:
            self._reap(tg)

    @staticmethod
    def _cld_code(status):
        if status & 0x7F == 0:
            return CLD_EXITED
        return CLD_DUMPED if status & 0x80 else CLD_KILLED

    def _new_reaper(self, tg):
        """Who adopts the children of exiting `tg`: its nearest living PR_SET_CHILD_SUBREAPER
        ancestor, else init (None once init itself is going)."""
        ancestor = tg.parent
        while ancestor is not None:
            if ancestor.subreaper and not ancestor.exiting:
                return ancestor
            ancestor = ancestor.parent
        return self.init if self.init is not None and not self.init.exiting else None

    def _reparent(self, child, reaper):
        child.parent = reaper
        child.forked_by = _live_thread(reaper) if reaper is not None else None
        child.exit_signal = signals.SIGCHLD        # whatever it was, the adopter gets SIGCHLD
        if reaper is not None:
            reaper.children.append(child)
            if child.zombie:
                self._notify_parent(child)

    def _reap(self, tg):
        """Forget a zombie after wait(2) collected it."""
        tg.reaped = True
        tg.pidfd_waiters.notify()
        if tg.parent is not None and tg in tg.parent.children:
            tg.parent.children.remove(tg)
            user, system = tg.cpu_times()
            tg.parent.cutime += user + tg.cutime
            tg.parent.cstime += system + tg.cstime
        self.thread_groups.pop(tg.tgid, None)
        for task in tg.tasks:
            self.tasks.pop(task.tid, None)

    reap = _reap

    def _init_exited(self, init):
        """Pid 1 is gone: like a pid namespace, everything else is killed."""
        self.exit_status = init.wait_status
        for tg in list(self.thread_groups.values()):
            if tg is not init and not tg.zombie:
                self.exit_thread_group(tg, wait_status=signals.SIGKILL)
        init.reaped_by_kernel = True

    # -- job control -------------------------------------------------------------
    def group_stop(self, tg, signo):
        if tg.stopped or tg.exiting:
            return
        tg.stopped = True
        tg.stop_signal = signo
        tg.stop_reported = False
        for task in tg.tasks:
            if task.alive and not task.context.stopped:
                task.context.interrupt()
        parent = tg.parent
        if parent is not None:
            action = parent.sighand[signals.SIGCHLD]
            if not action.flags & signals.SA_NOCLDSTOP:
                signals.send_signal(parent, signals.SigInfo.child(tg, CLD_STOPPED, signo))
            parent.child_events.notify()

    def group_continue(self, tg):
        for task in tg.tasks:
            if task.ptrace is not None:              # a tracee left listening traps again
                from pysandbox.sentry import ptrace
                ptrace.group_continued(task)
        if not tg.stopped:
            return
        tg.stopped = False
        tg.continue_reported = False
        for task in tg.tasks:
            if task.alive and task.parked is None and task.context.stopped:
                self.make_runnable(task)
        parent = tg.parent
        if parent is not None:
            action = parent.sighand[signals.SIGCHLD]
            if not action.flags & signals.SA_NOCLDSTOP:
                signals.send_signal(parent, signals.SigInfo.child(tg, CLD_CONTINUED, signals.SIGCONT))
            parent.child_events.notify()

    def shutdown(self):
        """Kill every host process of the sandbox (on exit or on a fatal error)."""
        for tg in list(self.thread_groups.values()):
            for task in tg.tasks:
                if task.alive:
                    task.context.kill_process()
                    task.alive = False


def _live_thread(tg):
    return next((task for task in tg.tasks if task.alive), None)
