"""Task (one guest thread) and ThreadGroup (a process); Credentials live in credentials.py."""
import errno
import os
import struct

from pysandbox.sentry.credentials import Credentials  # noqa: F401  (re-exported: runner, ocishim)
from pysandbox.sentry.errors import SyscallError
from pysandbox.sentry.sched import SchedParams
from pysandbox.sentry.waiter import WaitQueue

PATH_MAX = 4096
ARG_MAX_POINTERS = 0x7FFFFFFF

RLIM_INFINITY = (1 << 64) - 1
RLIMIT_CPU, RLIMIT_FSIZE, RLIMIT_DATA, RLIMIT_STACK, RLIMIT_CORE, RLIMIT_RSS = 0, 1, 2, 3, 4, 5
RLIMIT_NPROC, RLIMIT_NOFILE, RLIMIT_MEMLOCK, RLIMIT_AS, RLIMIT_LOCKS = 6, 7, 8, 9, 10
RLIMIT_SIGPENDING, RLIMIT_MSGQUEUE, RLIMIT_NICE, RLIMIT_RTPRIO, RLIMIT_RTTIME = 11, 12, 13, 14, 15


def default_rlimits():
    limits = {resource: [RLIM_INFINITY, RLIM_INFINITY] for resource in range(16)}
    limits[RLIMIT_STACK] = [8 << 20, RLIM_INFINITY]
    limits[RLIMIT_CORE] = [0, RLIM_INFINITY]
    limits[RLIMIT_NOFILE] = [1024, 1048576]
    limits[RLIMIT_NPROC] = [63448, 63448]
    limits[RLIMIT_SIGPENDING] = [63448, 63448]
    limits[RLIMIT_MEMLOCK] = [8 << 20, 8 << 20]
    limits[RLIMIT_MSGQUEUE] = [819200, 819200]
    limits[RLIMIT_NICE] = [0, 0]
    limits[RLIMIT_RTPRIO] = [0, 0]
    return limits


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def host_cpu_times(pid):
    """(user, system) CPU seconds of host process `pid`, from /proc/PID/stat."""
    from pysandbox.security.hostproc import read_proc
    try:
        fields = read_proc(f"{pid}/stat").rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    return int(fields[11]) / _CLOCK_TICKS, int(fields[12]) / _CLOCK_TICKS


class ThreadGroup:
    """A process: the threads sharing a pid, signal handlers and exit status."""

    def __init__(self, kernel, tgid, parent, sighand, rlimits, pgid, sid):
        from pysandbox.sentry import signals
        self.kernel = kernel
        self.tgid = tgid
        self.parent = parent
        self.children = []
        self.tasks = []
        self.sighand = sighand
        self.pending = signals.SignalQueue()
        self.rlimits = rlimits
        self.pgid = pgid
        self.sid = sid
        self.exe = ""
        self.argv = []
        self.envp = []
        self.exit_signal = 17                # SIGCHLD
        self.forked_by = None                # the parent's thread that created it (PR_SET_PDEATHSIG)
        self.subreaper = False               # PR_SET_CHILD_SUBREAPER
        self.cgroup = None                   # None: the cgroup hierarchy's root (cgroupns.py)
        self.did_exec = False                # its parent may no longer change its process group
        self.exiting = False
        self.zombie = False
        self.reaped = False
        self.reaped_by_kernel = False        # init only: the sandbox is over
        self.wait_status = None              # wait(2) status once it exited
        self.stopped = False
        self.stop_signal = 0
        self.stop_reported = True
        self.continue_reported = True
        self.child_events = WaitQueue()      # a child changed state (for wait4/waitid)
        self.vfork_done = WaitQueue()
        self.pidfd_waiters = WaitQueue()     # it (or one of its threads) exited or was reaped: pidfds poll
        self.pidfs_ino = None                # st_ino of its pidfds, given on the first fstat
        self._past_cpu = (0.0, 0.0)          # user and system seconds of host processes gone by exec
        self.cutime = self.cstime = 0.0      # CPU time of reaped children (times(2), RUSAGE_CHILDREN)
        self.start_time = kernel.now()
        self.itimer_real = None              # kernel timer handle for alarm/ITIMER_REAL
        self.itimer_cpu = {}                 # ITIMER_VIRTUAL/ITIMER_PROF -> cputimer.CpuTimer
        self.posix_timers = {}               # timer id -> posix_timers.PosixTimer (timer_create)
        self.next_posix_timer_id = 0
        self.sem_undo = {}                   # (SemaphoreSet, index) -> SEM_UNDO adjustment, applied at exit
        self.tracees = []                    # Tasks its threads trace with ptrace(2) (sentry/ptrace.py)

    @property
    def leader(self):
        return self.tasks[0] if self.tasks else None

    def _live_cpu(self):
        leader = self.leader
        if leader is None or not leader.alive or leader.context is None:
            return 0.0, 0.0
        return leader.context.cpu_times()

    def cpu_times(self):
        """(user, system) CPU seconds: the time its stubs ran (the sentry's own work is not counted).
        One read of the host's accounting; use it where both are needed."""
        user, system = self._live_cpu()
        return self._past_cpu[0] + user, self._past_cpu[1] + system

    @property
    def utime(self):
        return self.cpu_times()[0]

    @property
    def stime(self):
        return self.cpu_times()[1]

    def settle_cpu_time(self):
        """Keep the CPU time of the current host process before it goes (exec, exit)."""
        user, system = self._live_cpu()
        self._past_cpu = (self._past_cpu[0] + user, self._past_cpu[1] + system)

    def __repr__(self):
        return f"<ThreadGroup {self.tgid} {self.exe}>"


class Task:
    """One guest thread."""

    def __init__(self, kernel, tid, tg, context, mm, fds, fs, creds):
        self.kernel = kernel
        self.tid = tid
        self.tg = tg
        self.context = context
        self.mm = mm
        self.fds = fds
        self.fs = fs
        self.creds = creds
        self.uts_ns = self.ipc_ns = None     # None: the sandbox's first ones (utsns.py, sysv_ipc.py)
        self.time_ns = self.time_ns_for_children = None   # None: the first one (timens.py)
        self.cgroup_ns = None                # None: the sandbox's first one (cgroupns.py)
        self.mempolicy = None                # None: the default policy, local allocation (sys_numa.py)
        self.sysvsem_undo = None             # CLONE_SYSVSEM: a token shared by the tasks that share undo lists
        from pysandbox.sentry import signals
        self.sigmask = 0
        self.saved_sigmask = None            # restored after rt_sigsuspend's handler
        self.pending = signals.SignalQueue()
        self.sigaltstack = (0, 0, 0)         # (ss_sp, raw ss_flags, ss_size): none set up
        self.syscall_state = {}
        self.comm = ""
        self.clear_child_tid = 0
        self.robust_list = (0, 0)
        self.pdeathsig = 0                   # signal to get when the parent thread exits (prctl)
        self.personality = 0                 # personality(2)'s execution domain and flags
        self.seccomp = None                  # seccomp_guest.SeccompState: the workload's own filters
        self.ptrace = None                   # ptrace.Tracee while a task of the sandbox traces it
        self.sched = SchedParams()           # policy, priorities and nice value (sys_sched)
        self.alive = True
        self.parked = None                   # the WouldBlock this task waits on
        self.timed_out_flag = False
        self.interrupted = False             # a signal ended a parked syscall: rax holds -ERESTART*
        self.queued = False                  # in the kernel's run queue
        self.restart_block = None
        self.vfork_parent = None             # the task this vfork child holds parked
        if context is not None:
            context.task = self

    @property
    def regs(self):
        return self.context.regs

    def timed_out(self):
        return self.timed_out_flag

    # -- guest memory -------------------------------------------------------
    def copy_in(self, addr, length):
        return self.mm.copy_in(addr, length)

    def accessible_length(self, addr, length, prot):
        """How much of a buffer of `length` bytes at `addr` the guest may access with `prot`."""
        return self.mm.accessible_length(addr, length, prot)

    def copy_out(self, addr, data):
        self.mm.copy_out(addr, data)
        return len(data)

    def copy_in_str(self, addr, limit=PATH_MAX, too_long=errno.ENAMETOOLONG):
        return self.mm.copy_in_str(addr, limit, too_long)

    def copy_in_u32(self, addr):
        return struct.unpack("<I", self.mm.copy_in(addr, 4))[0]

    def copy_in_u64(self, addr):
        return struct.unpack("<Q", self.mm.copy_in(addr, 8))[0]

    def copy_in_i32(self, addr):
        return struct.unpack("<i", self.mm.copy_in(addr, 4))[0]

    def copy_out_u32(self, addr, value):
        self.mm.copy_out(addr, struct.pack("<I", value & 0xFFFFFFFF))

    def copy_out_i32(self, addr, value):
        self.mm.copy_out(addr, struct.pack("<i", value))

    def copy_out_u64(self, addr, value):
        self.mm.copy_out(addr, struct.pack("<Q", value & 0xFFFFFFFFFFFFFFFF))

    def copy_in_ptr_array(self, addr, limit=ARG_MAX_POINTERS):
        """A NULL-terminated array of pointers (argv, envp) as a list of ints."""
        pointers = []
        while True:
            if len(pointers) >= limit:
                raise SyscallError(errno.E2BIG)
            pointer = self.copy_in_u64(addr)
            if pointer == 0:
                return pointers
            pointers.append(pointer)
            addr += 8

    def copy_in_str_array(self, addr):
        if addr == 0:
            return []
        return [self.copy_in_str(pointer, 1 << 17) for pointer in self.copy_in_ptr_array(addr, 1 << 16)]

    def __repr__(self):
        return f"<Task {self.tid} of {self.tg.tgid}>"
