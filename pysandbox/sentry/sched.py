"""A task's scheduling attributes: policy, real-time priority, nice value and I/O priority.

The sandbox's tasks run as host processes the host kernel schedules, so these are the
values programs set and read back (sched(7), setpriority(2), ioprio_set(2)); Linux's
rules about who may set what are applied by the syscalls in sys_sched.py.
"""
import os

# The host's online CPUs, counted when the sandbox is built: once the sentry is pinned to one
# CPU and chrooted, glibc can read neither /sys/devices/system/cpu/online nor the affinity.
HOST_CPUS = os.cpu_count() or 1
SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE, SCHED_DEADLINE = 0, 1, 2, 3, 5, 6
SCHED_RESET_ON_FORK = 0x40000000
REALTIME_POLICIES = (SCHED_FIFO, SCHED_RR)
NORMAL_POLICIES = (SCHED_OTHER, SCHED_BATCH, SCHED_IDLE)
MAX_RT_PRIORITY = 99
MIN_NICE, MAX_NICE = -20, 19

IOPRIO_CLASS_SHIFT = 13
IOPRIO_CLASS_NONE, IOPRIO_CLASS_RT, IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE = 0, 1, 2, 3
IOPRIO_CLASS_MASK = 0x7
IOPRIO_LEVEL_MASK = 0x7          # bits 3..12 are hints (Linux 6.5 on), not checked
# What ioprio_get(2) reports for a task that never set one: class "none", level 0.
IOPRIO_DEFAULT = 0


class SchedParams:
    __slots__ = ("policy", "priority", "nice", "reset_on_fork", "ioprio", "deadline_params", "flags",
                 "custom_slice", "affinity")

    def __init__(self, policy=SCHED_OTHER, priority=0, nice=0, reset_on_fork=False, ioprio=IOPRIO_DEFAULT):
        self.policy = policy
        self.priority = priority
        self.nice = nice
        self.reset_on_fork = reset_on_fork
        self.ioprio = ioprio
        self.deadline_params = (0, 0, 0)        # SCHED_DEADLINE runtime, deadline, period (ns)
        self.flags = 0                          # SCHED_FLAG_RECLAIM / DL_OVERRUN, as set
        self.custom_slice = 0                   # a fair task's sched_runtime, 0 for the default
        self.affinity = None                    # sched_setaffinity's CPU mask; None: every CPU

    def forbids_fork(self):
        """A SCHED_DEADLINE task may not fork unless SCHED_RESET_ON_FORK is set (EAGAIN)."""
        return self.policy == SCHED_DEADLINE and not self.reset_on_fork

    def inherited(self):
        """A child's attributes (fork/clone): the same, unless SCHED_RESET_ON_FORK asks for
        a normal policy and a non-negative nice value."""
        if not self.reset_on_fork:
            child = SchedParams(self.policy, self.priority, self.nice, False, self.ioprio)
            child.deadline_params, child.flags = self.deadline_params, self.flags
            child.custom_slice, child.affinity = self.custom_slice, self.affinity
            return child
        policy = SCHED_OTHER if self.policy in REALTIME_POLICIES or self.policy == SCHED_DEADLINE else self.policy
        child = SchedParams(policy, 0, max(self.nice, 0), False, self.ioprio)
        child.affinity = self.affinity
        return child
