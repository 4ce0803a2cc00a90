"""Scheduling attributes: getpriority(2)/setpriority(2), the sched_*(2) policy calls and
ioprio_get(2)/ioprio_set(2).

Privilege is CAP_SYS_NICE in the caller's effective set. Nice values, policies and priorities are
kept per thread, as Linux keeps them; the host schedules the stubs as it sees fit.
"""
import errno
import os
import struct

from ..credentials import CAP_SYS_ADMIN, CAP_SYS_NICE, capable
from ..errors import SyscallError
from ..sched import (IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE, IOPRIO_CLASS_MASK, IOPRIO_CLASS_NONE,
                     IOPRIO_CLASS_RT, IOPRIO_CLASS_SHIFT, IOPRIO_LEVEL_MASK, MAX_NICE, MAX_RT_PRIORITY,
                     MIN_NICE, NORMAL_POLICIES, REALTIME_POLICIES, SCHED_DEADLINE, SCHED_FIFO, SCHED_IDLE,
                     SCHED_OTHER, SCHED_RESET_ON_FORK, SCHED_RR)
from ..task import RLIMIT_NICE, RLIMIT_RTPRIO
from ..vma import PAGE_SIZE

PRIO_PROCESS, PRIO_PGRP, PRIO_USER = 0, 1, 2
IOPRIO_WHO_PROCESS, IOPRIO_WHO_PGRP, IOPRIO_WHO_USER = 1, 2, 3
RR_TIMESLICE_NS = 100_000_000
_TIMESPEC = struct.Struct("<qq")
_SCHED_PARAM = struct.Struct("<i")


def _capable_sys_nice(t):
    return capable(t, CAP_SYS_NICE)


def _task(t, pid):
    """The thread `pid` names (0: the caller), for the sched_* calls; EINVAL for pid < 0."""
    if pid < 0:
        raise SyscallError(errno.EINVAL)
    if pid == 0:
        return t
    task = t.kernel.tasks.get(pid)
    if task is None or not task.alive:
        raise SyscallError(errno.ESRCH)
    return task


def _same_owner(t, target):
    """Linux's check_same_owner(): the caller's euid is the target's real or effective uid."""
    return t.creds.euid in (target.creds.uid, target.creds.euid)


def _can_nice(t, nice):
    """Lowering a nice value needs CAP_SYS_NICE or a high enough RLIMIT_NICE (20 - nice)."""
    return _capable_sys_nice(t) or 20 - nice <= t.tg.rlimits[RLIMIT_NICE][0]


def _tasks_for(t, which, who):
    """The live threads that getpriority/setpriority's (which, who) selects."""
    if which == PRIO_PROCESS:
        task = t if who == 0 else t.kernel.tasks.get(who)
        return [task] if task is not None and task.alive else []
    live = [task for task in t.kernel.tasks.values() if task.alive]
    if which == PRIO_PGRP:
        pgid = who or t.tg.pgid
        return [task for task in live if task.tg.pgid == pgid]
    uid = who or t.creds.uid
    return [task for task in live if task.creds.uid == uid]


def getpriority(t, which, who):
    """getpriority(2): the raw syscall returns 20 - nice (1..40), the highest of the matched threads."""
    if which not in (PRIO_PROCESS, PRIO_PGRP, PRIO_USER):
        raise SyscallError(errno.EINVAL)
    tasks = _tasks_for(t, which, who)
    if not tasks:
        raise SyscallError(errno.ESRCH)
    return max(20 - task.sched.nice for task in tasks)


def setpriority(t, which, who, prio):
    """setpriority(2): the value is clamped to -20..19; every matched thread is tried, and the
    last refusal (EPERM: not its owner, EACCES: lowering without privilege) is the result."""
    if which not in (PRIO_PROCESS, PRIO_PGRP, PRIO_USER):
        raise SyscallError(errno.EINVAL)
    nice = min(max(prio, MIN_NICE), MAX_NICE)
    error = errno.ESRCH
    for task in _tasks_for(t, which, who):
        if not _same_owner(t, task) and not _capable_sys_nice(t):
            error = errno.EPERM
        elif nice < task.sched.nice and not _can_nice(t, nice):
            error = errno.EACCES
        else:
            if error == errno.ESRCH:
                error = 0
            task.sched.nice = nice
    if error:
        raise SyscallError(error)
    return 0


def _priority_limits(policy):
    if policy in REALTIME_POLICIES:
        return 1, MAX_RT_PRIORITY
    if policy in NORMAL_POLICIES or policy == SCHED_DEADLINE:
        return 0, 0
    raise SyscallError(errno.EINVAL)


def sched_get_priority_max(t, policy):
    """sched_get_priority_max(2)."""
    return _priority_limits(policy)[1]


def sched_get_priority_min(t, policy):
    """sched_get_priority_min(2)."""
    return _priority_limits(policy)[0]


def _read_param(t, param):
    if param == 0:
        raise SyscallError(errno.EINVAL)
    return _SCHED_PARAM.unpack(t.copy_in(param, _SCHED_PARAM.size))[0]


def _set_scheduler(t, target, policy, priority, reset_on_fork, dry_run=False):
    """Linux's __sched_setscheduler() checks, then the change (none for a dry run); policy None
    keeps the current one."""
    if policy is None:
        policy = target.sched.policy
    elif policy not in REALTIME_POLICIES and policy not in NORMAL_POLICIES:
        raise SyscallError(errno.EINVAL)      # SCHED_DEADLINE needs sched_setattr(2)
    if priority < 0 or priority > MAX_RT_PRIORITY or (policy in REALTIME_POLICIES) != (priority != 0):
        raise SyscallError(errno.EINVAL)
    if not _capable_sys_nice(t):
        if policy in REALTIME_POLICIES:
            limit = t.tg.rlimits[RLIMIT_RTPRIO][0]
            if policy != target.sched.policy and limit == 0:
                raise SyscallError(errno.EPERM)
            if priority > target.sched.priority and priority > limit:
                raise SyscallError(errno.EPERM)
        if target.sched.policy == SCHED_IDLE and policy != SCHED_IDLE and not _can_nice(t, target.sched.nice):
            raise SyscallError(errno.EPERM)
        if not _same_owner(t, target):
            raise SyscallError(errno.EPERM)
        if target.sched.reset_on_fork and not reset_on_fork:
            raise SyscallError(errno.EPERM)
    if dry_run:
        return 0
    target.sched.policy = policy
    target.sched.priority = priority
    target.sched.reset_on_fork = reset_on_fork
    return 0


def sched_setscheduler(t, pid, policy, param):
    """sched_setscheduler(2)."""
    if pid < 0 or param == 0:
        raise SyscallError(errno.EINVAL)
    priority = _read_param(t, param)
    target = _task(t, pid)
    reset_on_fork = bool(policy & SCHED_RESET_ON_FORK)
    return _set_scheduler(t, target, policy & ~SCHED_RESET_ON_FORK, priority, reset_on_fork)


def sched_setparam(t, pid, param):
    """sched_setparam(2): sched_setscheduler keeping the policy."""
    if pid < 0 or param == 0:
        raise SyscallError(errno.EINVAL)
    priority = _read_param(t, param)
    target = _task(t, pid)
    return _set_scheduler(t, target, None, priority, target.sched.reset_on_fork)


def sched_getscheduler(t, pid):
    """sched_getscheduler(2): the policy, with SCHED_RESET_ON_FORK when it is set."""
    target = _task(t, pid)
    return target.sched.policy | (SCHED_RESET_ON_FORK if target.sched.reset_on_fork else 0)


def sched_getparam(t, pid, param):
    """sched_getparam(2)."""
    if pid < 0 or param == 0:
        raise SyscallError(errno.EINVAL)
    target = _task(t, pid)
    t.copy_out(param, _SCHED_PARAM.pack(target.sched.priority))
    return 0


# The normal policies' interval is what Linux 6.6 and later (EEVDF) report for a task with the
# default slice: under a jiffy, so 0. The sentry may not ask the host (its seccomp filter).
_FAIR_INTERVAL_NS = 0


def sched_rr_get_interval(t, pid, tp):
    """sched_rr_get_interval(2): 100 ms for SCHED_RR, 0 for SCHED_FIFO and the normal policies."""
    target = _task(t, pid)
    policy = target.sched.policy
    if policy == SCHED_RR:
        interval = RR_TIMESLICE_NS
    elif policy == SCHED_FIFO:
        interval = 0
    else:
        interval = _FAIR_INTERVAL_NS
    t.copy_out(tp, _TIMESPEC.pack(*divmod(interval, 1_000_000_000)))
    return 0


_IOPRIO_WHO = {IOPRIO_WHO_PROCESS: PRIO_PROCESS, IOPRIO_WHO_PGRP: PRIO_PGRP, IOPRIO_WHO_USER: PRIO_USER}


def _ioprio_tasks(t, which, who):
    if which not in _IOPRIO_WHO:
        raise SyscallError(errno.EINVAL)
    return _tasks_for(t, _IOPRIO_WHO[which], who)


def ioprio_set(t, which, who, ioprio):
    """ioprio_set(2): classes none (level 0 only), real-time (needs CAP_SYS_NICE or CAP_SYS_ADMIN),
    best-effort and idle; levels 0..7 (the level field is 3 bits wide)."""
    io_class, level = (ioprio >> IOPRIO_CLASS_SHIFT) & IOPRIO_CLASS_MASK, ioprio & IOPRIO_LEVEL_MASK
    if io_class == IOPRIO_CLASS_RT and not (_capable_sys_nice(t) or capable(t, CAP_SYS_ADMIN)):
        raise SyscallError(errno.EPERM)
    if io_class not in (IOPRIO_CLASS_NONE, IOPRIO_CLASS_RT, IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE) or \
            (io_class == IOPRIO_CLASS_NONE and level):
        raise SyscallError(errno.EINVAL)
    tasks = _ioprio_tasks(t, which, who)
    if not tasks:
        raise SyscallError(errno.ESRCH)
    for task in tasks:
        if not _same_owner(t, task) and not _capable_sys_nice(t):
            raise SyscallError(errno.EPERM)
        task.sched.ioprio = ioprio
    return 0


def ioprio_get(t, which, who):
    """ioprio_get(2): for several threads, the best (lowest class, then level)."""
    tasks = _ioprio_tasks(t, which, who)
    if not tasks:
        raise SyscallError(errno.ESRCH)
    return min(task.sched.ioprio for task in tasks)


def _host_cpu_of(host_tid):
    """The CPU a host thread last ran on (field 39 of /proc/TID/stat)."""
    from pysandbox.security.hostproc import read_proc
    try:
        return int(read_proc(f"{host_tid}/stat").rsplit(b")", 1)[1].split()[36])
    except (OSError, IndexError, ValueError):
        return 0


def _node_of(cpu):
    try:
        names = os.listdir(f"/sys/devices/system/cpu/cpu{cpu}")
    except OSError:
        return 0
    nodes = [int(name[4:]) for name in names if name.startswith("node") and name[4:].isdigit()]
    return nodes[0] if nodes else 0


def getcpu(t, cpu, node, tcache):
    """getcpu(2): the CPU the task's host thread runs on, and that CPU's NUMA node; tcache is unused."""
    host_tid = getattr(t.context, "tid", None) or os.getpid()
    where = _host_cpu_of(host_tid)
    if cpu:
        t.copy_out_u32(cpu, where)
    if node:
        t.copy_out_u32(node, _node_of(where))
    return 0


# struct sched_attr: size, policy, flags, nice, priority, runtime, deadline, period, util_min, util_max.
_SCHED_ATTR = struct.Struct("<IIQiIQQQII")
SCHED_ATTR_SIZE_VER0, SCHED_ATTR_SIZE_VER1 = 48, _SCHED_ATTR.size
SCHED_FLAG_RESET_ON_FORK, SCHED_FLAG_RECLAIM, SCHED_FLAG_DL_OVERRUN = 0x01, 0x02, 0x04
SCHED_FLAG_KEEP_POLICY, SCHED_FLAG_KEEP_PARAMS = 0x08, 0x10
SCHED_FLAG_UTIL_CLAMP_MIN, SCHED_FLAG_UTIL_CLAMP_MAX = 0x20, 0x40
SCHED_FLAG_UTIL_CLAMP = SCHED_FLAG_UTIL_CLAMP_MIN | SCHED_FLAG_UTIL_CLAMP_MAX
SCHED_FLAG_ALL = 0x7F
DL_RUNTIME_MIN_NS = 1 << 10
DL_PERIOD_MIN_NS, DL_PERIOD_MAX_NS = 100 * 1000, (1 << 22) * 1000
DL_BANDWIDTH_PER_CPU = 0.95


MIN_SLICE_NS, MAX_SLICE_NS = 100_000, 100_000_000
BASE_SLICE_NS = 700_000


def _default_slice_ns():
    """A fair task's time slice as Linux 6.12's EEVDF reports it in sched_runtime: the base slice
    scaled by 1 + log2 of the CPUs (at most 8), as sysctl_sched_base_slice is."""
    from .sys_process import _cpu_count
    return BASE_SLICE_NS * (1 + (min(_cpu_count(), 8).bit_length() - 1))


def _copy_sched_attr(t, uattr):
    """sched_copy_attr(): size 0 means the first version; a size the kernel can't take is E2BIG,
    with the size it can take written back; unknown trailing bytes must be zero."""
    size = t.copy_in_u32(uattr)
    if size == 0:
        size = SCHED_ATTR_SIZE_VER0
    if size < SCHED_ATTR_SIZE_VER0 or size > PAGE_SIZE:
        t.copy_out_u32(uattr, SCHED_ATTR_SIZE_VER1)
        raise SyscallError(errno.E2BIG)
    raw = t.copy_in(uattr, size)
    if size > SCHED_ATTR_SIZE_VER1 and any(raw[SCHED_ATTR_SIZE_VER1:]):
        t.copy_out_u32(uattr, SCHED_ATTR_SIZE_VER1)
        raise SyscallError(errno.E2BIG)
    fields = list(_SCHED_ATTR.unpack(raw[:SCHED_ATTR_SIZE_VER1].ljust(SCHED_ATTR_SIZE_VER1, b"\0")))
    if fields[2] & SCHED_FLAG_UTIL_CLAMP and size < SCHED_ATTR_SIZE_VER1:
        raise SyscallError(errno.EINVAL)
    fields[3] = min(max(fields[3], MIN_NICE), MAX_NICE)
    return fields


def _deadline_valid(runtime, deadline, period):
    """__checkparam_dl(): 1024 ns <= runtime <= deadline <= period (period 0: the deadline)."""
    if deadline == 0 or runtime < DL_RUNTIME_MIN_NS or (deadline | period) & (1 << 63):
        return False
    period = period or deadline
    return runtime <= deadline <= period and DL_PERIOD_MIN_NS <= period <= DL_PERIOD_MAX_NS


def _deadline_fits(t, target, runtime, period):
    """Admission control: the deadline tasks' bandwidth stays within 95% of each CPU."""
    from .sys_process import _cpu_count
    used = sum(task.sched.deadline_params[0] / (task.sched.deadline_params[2] or task.sched.deadline_params[1])
               for task in t.kernel.tasks.values()
               if task.alive and task is not target and task.sched.policy == SCHED_DEADLINE)
    return used + runtime / period <= DL_BANDWIDTH_PER_CPU * _cpu_count()


def sched_setattr(t, pid, uattr, flags):
    """sched_setattr(2): the policy calls' checks, plus SCHED_DEADLINE's parameters (which need
    CAP_SYS_NICE and pass admission control) and flags. Like a kernel built without
    CONFIG_UCLAMP_TASK, utilization clamps give EOPNOTSUPP and read back as 0."""
    if not uattr or pid < 0 or flags:
        raise SyscallError(errno.EINVAL)
    _, policy, sched_flags, nice, priority, runtime, deadline, period, _, _ = _copy_sched_attr(t, uattr)
    if policy >= 1 << 31:
        raise SyscallError(errno.EINVAL)
    target = _task(t, pid)
    params = target.sched
    reset_on_fork = bool(sched_flags & SCHED_FLAG_RESET_ON_FORK)
    if sched_flags & SCHED_FLAG_KEEP_POLICY:
        policy, reset_on_fork = params.policy, params.reset_on_fork
    if sched_flags & SCHED_FLAG_KEEP_PARAMS:
        nice, priority = params.nice, params.priority
        runtime, deadline, period = params.deadline_params if params.policy == SCHED_DEADLINE else \
            (params.custom_slice, 0, 0)
    if policy not in REALTIME_POLICIES and policy not in NORMAL_POLICIES and policy != SCHED_DEADLINE:
        raise SyscallError(errno.EINVAL)
    if sched_flags & ~SCHED_FLAG_ALL or priority > MAX_RT_PRIORITY:
        raise SyscallError(errno.EINVAL)
    if policy == SCHED_DEADLINE and not _deadline_valid(runtime, deadline, period):
        raise SyscallError(errno.EINVAL)
    if (policy in REALTIME_POLICIES) != (priority != 0):
        raise SyscallError(errno.EINVAL)
    if not _capable_sys_nice(t):
        if policy in NORMAL_POLICIES and nice < params.nice and not _can_nice(t, nice):
            raise SyscallError(errno.EPERM)
        if policy == SCHED_DEADLINE:
            raise SyscallError(errno.EPERM)
    _set_scheduler(t, target, policy if policy != SCHED_DEADLINE else SCHED_OTHER,
                   priority, reset_on_fork, dry_run=True)
    if sched_flags & SCHED_FLAG_UTIL_CLAMP:
        raise SyscallError(errno.EOPNOTSUPP)    # no utilization clamping (CONFIG_UCLAMP_TASK off)
    if policy == SCHED_DEADLINE and not _deadline_fits(t, target, runtime, period or deadline):
        raise SyscallError(errno.EBUSY)
    params.policy, params.priority, params.reset_on_fork = policy, priority, reset_on_fork
    if policy in NORMAL_POLICIES:
        params.nice = nice
    params.deadline_params = (runtime, deadline, period) if policy == SCHED_DEADLINE else (0, 0, 0)
    if policy in NORMAL_POLICIES:
        params.custom_slice = min(max(runtime, MIN_SLICE_NS), MAX_SLICE_NS) if runtime else 0
    params.flags = sched_flags & (SCHED_FLAG_RECLAIM | SCHED_FLAG_DL_OVERRUN) if policy == SCHED_DEADLINE else 0
    return 0


def sched_getattr(t, pid, uattr, size, flags):
    """sched_getattr(2): as much of struct sched_attr as `size` holds, its size field set to that."""
    if not uattr or pid < 0 or size > PAGE_SIZE or size < SCHED_ATTR_SIZE_VER0 or flags:
        raise SyscallError(errno.EINVAL)
    target = _task(t, pid)
    params = target.sched
    runtime, deadline, period = params.deadline_params
    if params.policy in NORMAL_POLICIES:
        runtime = params.custom_slice or _default_slice_ns()
    kernel_size = min(size, SCHED_ATTR_SIZE_VER1)
    sched_flags = params.flags | (SCHED_FLAG_RESET_ON_FORK if params.reset_on_fork else 0)
    data = _SCHED_ATTR.pack(kernel_size, params.policy, sched_flags,
                            params.nice if params.policy in NORMAL_POLICIES else 0,
                            params.priority, runtime, deadline, period, 0, 0)
    t.copy_out(uattr, data[:kernel_size])
    return 0
