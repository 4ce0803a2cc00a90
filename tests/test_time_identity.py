"""Handlers of sys_time, sys_identity and sys_rlimit, run on a fake task and compared with
what the host kernel does for the same raw syscall (through ctypes, or in a child
process for credentials and limits)."""
import ctypes
import errno
import json
import os
import struct
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest

from pysandbox.sentry.errors import RESTART_ALWAYS, RESTART_BLOCK, SyscallError, WouldBlock
from pysandbox.sentry.syscalls import sys_identity, sys_time, table
from pysandbox.sentry.task import RLIM_INFINITY, RLIMIT_NOFILE, Credentials, default_rlimits
from test_strace import GuestMemory

LIBC = ctypes.CDLL(None, use_errno=True)
MASK64 = (1 << 64) - 1
ENTRIES = {entry.name: entry for entry in table.SYSCALLS.values()}
NSEC = 1_000_000_000


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class Utsname(ctypes.Structure):
    _fields_ = [(field, ctypes.c_char * 65)
                for field in ("sysname", "nodename", "release", "version", "machine", "domainname")]


class Sysinfo(ctypes.Structure):
    _fields_ = [("uptime", ctypes.c_long), ("loads", ctypes.c_ulong * 3), ("totalram", ctypes.c_ulong),
                ("freeram", ctypes.c_ulong), ("sharedram", ctypes.c_ulong), ("bufferram", ctypes.c_ulong),
                ("totalswap", ctypes.c_ulong), ("freeswap", ctypes.c_ulong), ("procs", ctypes.c_ushort),
                ("pad", ctypes.c_ushort), ("totalhigh", ctypes.c_ulong), ("freehigh", ctypes.c_ulong),
                ("mem_unit", ctypes.c_uint), ("_f", ctypes.c_char * 0)]


class FakeTask(GuestMemory):
    """The parts of a Task the handlers use, with guest memory in a bytearray."""

    def __init__(self, kernel, tid, creds=None, tg=None):
        super().__init__()
        self.kernel = kernel
        self.tid = tid
        self.creds = creds or Credentials()
        if tg is None:
            tg = SimpleNamespace(tgid=tid, rlimits=default_rlimits(), utime=1.5, stime=0.5, cutime=0.25, cstime=0.125)
            tg.cpu_times = lambda: (tg.utime, tg.stime)
        self.tg = tg
        self.syscall_state = {}
        self.personality = 0
        self.time_ns = None
        self.mempolicy = None
        kernel.tasks[tid] = self
        kernel.thread_groups.setdefault(self.tg.tgid, self.tg)


@pytest.fixture
def kernel():
    return SimpleNamespace(hostname="sandbox", domainname="(none)", boot_time=time.monotonic(),
                           tasks={}, thread_groups={})


@pytest.fixture
def t(kernel):
    return FakeTask(kernel, 1)


def syscall(task, name, *raw):
    """Call the table's handler for `name` with raw register values; -errno on failure."""
    entry = ENTRIES[name]
    try:
        return entry.handler(task, *entry.decode(tuple(value & MASK64 for value in raw) + (0,) * (6 - len(raw))))
    except SyscallError as error:
        return -error.errno


def host_syscall(nr, *args):
    """The host kernel's answer to the same raw syscall; -errno on failure."""
    result = LIBC.syscall(ctypes.c_long(nr), *(ctypes.c_long(arg) for arg in args))
    return -ctypes.get_errno() if result == -1 else result


def bytes_the_host_writes(fill):
    """How many bytes the host kernel writes into a buffer: the size of its struct."""
    canary = 0xA5
    buffer = (ctypes.c_ubyte * 1024)(*[canary] * 1024)
    fill(buffer)
    return max(index for index, byte in enumerate(buffer) if byte != canary) + 1


def timespec_ns(task, addr):
    seconds, nanoseconds = struct.unpack("<qq", task.copy_in(addr, 16))
    return seconds * NSEC + nanoseconds


def put_timespec(task, seconds, nanoseconds):
    return task.put(struct.pack("<qq", seconds, nanoseconds))


# -- clocks ----------------------------------------------------------------------------------

def test_clock_gettime_realtime_is_the_hosts_in_the_hosts_layout(t):
    assert bytes_the_host_writes(lambda buffer: LIBC.clock_gettime(0, buffer)) == ctypes.sizeof(Timespec) == 16
    tp = t.put(bytes(16))
    before = time.time_ns()
    assert syscall(t, "clock_gettime", sys_time.CLOCK_REALTIME, tp) == 0
    ours = Timespec.from_buffer_copy(t.copy_in(tp, 16))
    assert before <= ours.tv_sec * NSEC + ours.tv_nsec <= time.time_ns()
    assert 0 <= ours.tv_nsec < NSEC


def test_monotonic_counts_from_the_sandbox_boot_and_never_goes_back(t):
    tp = t.put(bytes(16))
    readings = []
    for clock in (sys_time.CLOCK_MONOTONIC, sys_time.CLOCK_BOOTTIME, sys_time.CLOCK_MONOTONIC_COARSE,
                  sys_time.CLOCK_MONOTONIC_RAW, sys_time.CLOCK_MONOTONIC):
        assert syscall(t, "clock_gettime", clock, tp) == 0
        readings.append(timespec_ns(t, tp))
    assert readings == sorted(readings)
    uptime = readings[0] - sys_time.UPTIME_AT_BOOT_NS
    assert 0 <= uptime < NSEC


def test_monotonic_advances_with_the_host_clock(t):
    tp = t.put(bytes(16))
    syscall(t, "clock_gettime", sys_time.CLOCK_MONOTONIC, tp)
    host_before, ours_before = time.monotonic_ns(), timespec_ns(t, tp)
    time.sleep(0.05)
    syscall(t, "clock_gettime", sys_time.CLOCK_MONOTONIC, tp)
    host_elapsed, ours_elapsed = time.monotonic_ns() - host_before, timespec_ns(t, tp) - ours_before
    assert abs(host_elapsed - ours_elapsed) < 5_000_000


def test_cpu_time_clocks_read_the_process_accounting(kernel, t):
    tp = t.put(bytes(16))
    for clock in (sys_time.CLOCK_PROCESS_CPUTIME_ID, sys_time.CLOCK_THREAD_CPUTIME_ID):
        assert syscall(t, "clock_gettime", clock, tp) == 0
        assert timespec_ns(t, tp) == 2 * NSEC            # utime 1.5 + stime 0.5


def test_dynamic_cpu_clock_ids_are_decoded_like_the_hosts(kernel, t):
    # The host's own encoding, from pthread_getcpuclockid(3), names this thread's tid.
    host_clock = time.pthread_getcpuclockid(threading.get_ident())
    assert ~(host_clock >> 3) == threading.get_native_id()
    other_process = FakeTask(kernel, 7)
    other_process.tg.utime, other_process.tg.stime = 3.0, 1.0
    tp = t.put(bytes(16))

    def cpu_clock(pid, per_thread=False, which=2):        # 2 = CPUCLOCK_SCHED, 1 = CPUCLOCK_VIRT
        clock = (~pid << 3) | (4 if per_thread else 0) | which
        result = syscall(t, "clock_gettime", clock, tp)
        return timespec_ns(t, tp) if result == 0 else result

    assert cpu_clock(0) == 2 * NSEC
    assert cpu_clock(7) == 4 * NSEC
    assert cpu_clock(7, which=1) == 3 * NSEC
    assert cpu_clock(1, per_thread=True) == 2 * NSEC
    assert cpu_clock(7, per_thread=True) == -errno.EINVAL     # a thread of another process
    assert cpu_clock(99) == -errno.EINVAL
    assert cpu_clock(0, which=3) == -errno.EINVAL              # a clock fd


def test_unknown_clocks_are_einval_as_on_the_host(t):
    tp = t.put(bytes(16))
    for clock in (8, 9, 10, 12, 100):
        with pytest.raises(OSError) as host_error:
            time.clock_gettime(clock)
        assert syscall(t, "clock_gettime", clock, tp) == -host_error.value.errno == -errno.EINVAL


def test_clock_getres(t):
    res = t.put(bytes(16))
    assert syscall(t, "clock_getres", sys_time.CLOCK_MONOTONIC, res) == 0
    assert timespec_ns(t, res) == round(time.clock_getres(time.CLOCK_MONOTONIC) * NSEC) == 1
    assert syscall(t, "clock_getres", sys_time.CLOCK_REALTIME_COARSE, res) == 0
    assert timespec_ns(t, res) == sys_time.COARSE_RESOLUTION_NS
    assert syscall(t, "clock_getres", sys_time.CLOCK_REALTIME, 0) == 0
    assert syscall(t, "clock_getres", 12, res) == -errno.EINVAL


def test_bad_pointers_are_efault(t):
    for name, args in (("clock_gettime", (0, 0x10)), ("gettimeofday", (0x10, 0)), ("time", (0x10,)),
                       ("times", (0x10,)), ("nanosleep", (0x10, 0)), ("uname", (0x10,)), ("sysinfo", (0x10,)),
                       ("getrlimit", (7, 0x10)), ("getrusage", (0, 0x10)), ("getrandom", (0x10, 8, 0))):
        assert syscall(t, name, *args) == -errno.EFAULT, name


def test_gettimeofday_and_time(t):
    tv, tz, tloc = t.put(bytes(16)), t.put(b"\xff" * 8), t.put(bytes(8))
    before = time.time()
    assert syscall(t, "gettimeofday", tv, tz) == 0
    seconds, microseconds = struct.unpack("<qq", t.copy_in(tv, 16))
    assert int(before) <= seconds <= time.time() and 0 <= microseconds < 1_000_000
    assert t.copy_in(tz, 8) == bytes(8)                        # UTC, no DST
    assert syscall(t, "gettimeofday", 0, 0) == 0
    now = syscall(t, "time", tloc)
    assert abs(now - time.time()) <= 1 and struct.unpack("<q", t.copy_in(tloc, 8))[0] == now
    assert abs(syscall(t, "time", 0) - now) <= 1


def test_times_reports_ticks(t):
    buf = t.put(bytes(32))
    uptime_ticks = syscall(t, "times", buf)
    assert struct.unpack("<4q", t.copy_in(buf, 32)) == (150, 50, 25, 12)
    assert sys_time.UPTIME_AT_BOOT_NS * 100 // NSEC <= uptime_ticks < sys_time.UPTIME_AT_BOOT_NS * 100 // NSEC + 100
    assert syscall(t, "times", 0) >= uptime_ticks


def test_setting_the_time_is_refused_after_the_argument_checks(t):
    assert syscall(t, "settimeofday", t.put(struct.pack("<qq", 1, 1_000_000)), 0) == -errno.EINVAL
    assert syscall(t, "settimeofday", t.put(struct.pack("<qq", 1, 0)), 0) == -errno.EPERM
    assert syscall(t, "settimeofday", 0, 0x10) == -errno.EFAULT
    assert syscall(t, "clock_settime", sys_time.CLOCK_MONOTONIC, put_timespec(t, 1, 0)) == -errno.EINVAL
    assert syscall(t, "clock_settime", sys_time.CLOCK_REALTIME, put_timespec(t, 0, NSEC)) == -errno.EINVAL
    assert syscall(t, "clock_settime", sys_time.CLOCK_REALTIME, put_timespec(t, 1, 0)) == -errno.EPERM


# -- sleeping ----------------------------------------------------------------------------------

def test_nanosleep_waits_for_its_deadline(t):
    req = put_timespec(t, 0, 50_000_000)
    with pytest.raises(WouldBlock) as first:
        syscall(t, "nanosleep", req, 0)
    assert first.value.restart == RESTART_BLOCK and first.value.queues == ()
    assert abs(first.value.deadline - (time.monotonic() + 0.05)) < 0.01
    with pytest.raises(WouldBlock) as again:                  # woken early: same deadline
        syscall(t, "nanosleep", req, 0)
    assert again.value.deadline == first.value.deadline
    time.sleep(max(0.0, first.value.deadline - time.monotonic()))
    assert syscall(t, "nanosleep", req, 0) == 0


def test_nanosleep_rejects_what_the_host_rejects(t):
    for seconds, nanoseconds in ((0, NSEC), (0, -1), (-1, 0)):
        host = LIBC.nanosleep(ctypes.byref(Timespec(seconds, nanoseconds)), None)
        assert host == -1 and ctypes.get_errno() == errno.EINVAL
        assert syscall(t, "nanosleep", put_timespec(t, seconds, nanoseconds), 0) == -errno.EINVAL
    assert syscall(t, "nanosleep", 0x10, 0) == -errno.EFAULT
    assert syscall(t, "nanosleep", put_timespec(t, 0, 0), 0) == 0


def test_an_interrupted_sleep_reports_the_time_left(t):
    rem = t.put(bytes(16))
    with pytest.raises(WouldBlock):
        syscall(t, "nanosleep", put_timespec(t, 10, 0), rem)
    t.syscall_state["on_cancel"]()
    assert 9 * NSEC < timespec_ns(t, rem) <= 10 * NSEC


def test_clock_nanosleep_relative_and_absolute(t):
    rem, now = t.put(bytes(16)), t.put(bytes(16))
    with pytest.raises(WouldBlock) as relative:
        syscall(t, "clock_nanosleep", sys_time.CLOCK_MONOTONIC, 0, put_timespec(t, 5, 0), rem)
    assert relative.value.restart == RESTART_BLOCK and t.syscall_state["rem_ptr"] == rem
    t.syscall_state.clear()

    syscall(t, "clock_gettime", sys_time.CLOCK_REALTIME, now)
    deadline_ns = timespec_ns(t, now) + 2 * NSEC
    with pytest.raises(WouldBlock) as absolute:
        syscall(t, "clock_nanosleep", sys_time.CLOCK_REALTIME, sys_time.TIMER_ABSTIME,
                put_timespec(t, *divmod(deadline_ns, NSEC)), rem)
    assert absolute.value.restart == RESTART_ALWAYS
    assert abs(absolute.value.deadline - (time.monotonic() + 2)) < 0.05
    t.syscall_state["on_cancel"]()                             # rem is not used with TIMER_ABSTIME
    assert timespec_ns(t, rem) == 0
    t.syscall_state.clear()

    syscall(t, "clock_gettime", sys_time.CLOCK_MONOTONIC, now)
    past = put_timespec(t, *divmod(timespec_ns(t, now) - NSEC, NSEC))
    assert syscall(t, "clock_nanosleep", sys_time.CLOCK_MONOTONIC, sys_time.TIMER_ABSTIME, past, 0) == 0


def test_clock_nanosleep_refuses_the_clocks_the_host_refuses(t):
    zero = put_timespec(t, 0, 0)
    for clock in (4, 5, 6, 8, 9, 10, 12, 3):
        host = LIBC.clock_nanosleep(clock, 0, ctypes.byref(Timespec(0, 0)), None)
        assert syscall(t, "clock_nanosleep", clock, 0, zero, 0) == -host != 0, clock


# -- uname, hostnames ------------------------------------------------------------------------

def test_uname_has_the_hosts_layout(kernel, t):
    assert bytes_the_host_writes(LIBC.uname) == ctypes.sizeof(Utsname) == 390
    host = Utsname()
    LIBC.uname(ctypes.byref(host))
    assert (host.sysname.decode(), host.machine.decode()) == (os.uname().sysname, os.uname().machine)
    buf = t.put(bytes(390))
    assert syscall(t, "uname", buf) == 0
    ours = Utsname.from_buffer_copy(t.copy_in(buf, 390))
    assert (ours.sysname, ours.nodename, ours.release, ours.machine, ours.domainname) == (
        b"Linux", b"sandbox", sys_identity.UTS_RELEASE.encode(), host.machine, b"(none)")
    assert ours.version == sys_identity.UTS_VERSION.encode()


def test_sethostname(kernel, t):
    name = t.put(b"x" * 64 + b"y")
    assert syscall(t, "sethostname", name, 65) == -errno.EINVAL
    assert syscall(t, "sethostname", name, -1) == -errno.EINVAL
    assert syscall(t, "sethostname", 0x10, 3) == -errno.EFAULT
    assert syscall(t, "sethostname", name, 64) == 0 and kernel.hostname == "x" * 64
    assert syscall(t, "setdomainname", t.put(b"lan\xff"), 4) == 0
    buf = t.put(bytes(390))
    syscall(t, "uname", buf)
    ours = Utsname.from_buffer_copy(t.copy_in(buf, 390))
    assert (ours.nodename, ours.domainname) == (b"x" * 64, b"lan\xff")
    t.creds = Credentials(uid=1000)
    assert syscall(t, "sethostname", name, 3) == -errno.EPERM


# -- credentials, compared with the host -------------------------------------------------------

CREDENTIAL_SCENARIOS = [
    [("setresuid", 1000, 1000, 0), ("setuid", 0), ("setuid", 1000), ("setuid", 0)],
    [("setreuid", 1000, -1), ("setreuid", -1, 1000), ("setreuid", -1, 0), ("setreuid", 2000, -1),
     ("setreuid", 0, 0)],
    [("setresuid", -1, 2000, -1), ("setresuid", 3000, -1, -1), ("setresuid", 2000, 2000, 2000),
     ("setresuid", -1, -1, 0)],
    [("setfsuid", 5000), ("setfsuid", -1), ("setresuid", 1000, 1000, 1000), ("setfsuid", 7), ("setfsuid", 1000)],
    [("setgroups", 5, 3, 3), ("setresgid", 100, 100, 100), ("setregid", 200, -1), ("setgid", 100),
     ("setresuid", 1000, 1000, 1000), ("setgid", 0), ("setgid", 100), ("setregid", -1, 200), ("setfsgid", 100),
     ("setgroups",)],
    [("setuid", -1), ("setgid", -1), ("setgroups", -1)],
]

NATIVE_CREDENTIALS = r"""
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
NR = {"setuid": 105, "setgid": 106, "setreuid": 113, "setregid": 114, "setresuid": 117, "setresgid": 119,
      "setfsuid": 122, "setfsgid": 123, "setgroups": 116}
def call(name, *args):
    if name == "setgroups":
        array = (ctypes.c_uint32 * max(1, len(args)))(*args)
        result = libc.syscall(116, len(args) if args != (-1,) else -1, array)
    else:
        result = libc.syscall(NR[name], *(ctypes.c_long(arg) for arg in args))
    return -ctypes.get_errno() if result == -1 else result
def state():
    return [os.getresuid(), os.getresgid(), libc.syscall(122, -1), libc.syscall(123, -1), os.getgroups()]
call("setgroups")
print(json.dumps([[call(op[0], *op[1:]), state()] for op in json.loads(sys.argv[1])]))
"""


def emulated_credentials(scenario, kernel):
    t = FakeTask(kernel, 1)
    results = []
    for name, *args in scenario:
        if name == "setgroups":
            array = t.put(struct.pack(f"<{len(args)}I", *args)) if args and args != [-1] else 0
            result = syscall(t, name, len(args) if args != [-1] else -1, array)
        else:
            result = syscall(t, name, *args)
        c = t.creds
        results.append([result, [[c.uid, c.euid, c.suid], [c.gid, c.egid, c.sgid], c.fsuid, c.fsgid,
                                 sorted(c.groups)]])
    return results


@pytest.mark.parametrize("scenario", CREDENTIAL_SCENARIOS, ids=lambda s: "-".join(op[0] for op in s))
def test_credential_changes_follow_the_host_rules(scenario, kernel):
    if os.geteuid() != 0:
        pytest.skip("the native run needs root (CAP_SETUID, CAP_SETGID)")
    native = subprocess.run([sys.executable, "-c", NATIVE_CREDENTIALS, json.dumps(scenario)],
                            capture_output=True, text=True, check=True)
    expected = [[result, [list(ids) for ids in state[:2]] + state[2:4] + [sorted(state[4])]]
                for result, state in json.loads(native.stdout)]
    assert emulated_credentials(scenario, kernel) == expected


def test_getters(t):
    t.creds = Credentials(uid=1000, gid=100, groups=[4, 27])
    t.creds.euid, t.creds.suid, t.creds.egid, t.creds.sgid = 1001, 1002, 101, 102
    assert [syscall(t, name) for name in ("getuid", "geteuid", "getgid", "getegid")] == [1000, 1001, 100, 101]
    ids = [t.put(bytes(4)) for _ in range(3)]
    assert syscall(t, "getresuid", *ids) == 0
    assert [struct.unpack("<I", t.copy_in(addr, 4))[0] for addr in ids] == [1000, 1001, 1002]
    assert syscall(t, "getresgid", *ids) == 0
    assert [struct.unpack("<I", t.copy_in(addr, 4))[0] for addr in ids] == [100, 101, 102]
    assert syscall(t, "getresuid", ids[0], 0x10, ids[2]) == -errno.EFAULT


def test_getgroups(t):
    t.creds = Credentials(groups=[4, 27, 100])
    groups = t.put(bytes(16))
    assert syscall(t, "getgroups", 0, 0) == 3
    assert syscall(t, "getgroups", 2, groups) == -errno.EINVAL
    assert syscall(t, "getgroups", -1, groups) == -errno.EINVAL
    assert syscall(t, "getgroups", 4, groups) == 3
    assert struct.unpack("<3I", t.copy_in(groups, 12)) == (4, 27, 100)


def test_changing_credentials_leaves_a_shared_object_alone(kernel):
    shared = Credentials()
    first, second = FakeTask(kernel, 1, creds=shared), FakeTask(kernel, 2, creds=shared)
    assert syscall(first, "setuid", 1000) == 0
    assert (first.creds.uid, second.creds.uid, shared.uid) == (1000, 0, 0)


# -- capabilities ------------------------------------------------------------------------------

V1, V3 = 0x19980330, 0x20080522
ALL_CAPS = (1 << 41) - 1


def test_capget_answers_an_unknown_version_like_the_host(t):
    host_header = (ctypes.c_uint32 * 2)(0x12345678, 0)
    assert host_syscall(125, ctypes.addressof(host_header), 0) == 0
    header = t.put(struct.pack("<Ii", 0x12345678, 0))
    assert syscall(t, "capget", header, 0) == 0
    assert struct.unpack("<I", t.copy_in(header, 4))[0] == host_header[0] == V3
    header = t.put(struct.pack("<Ii", 0x12345678, 0))
    host_header[0] = 0x12345678
    host_data = (ctypes.c_uint32 * 6)()
    assert host_syscall(125, ctypes.addressof(host_header), ctypes.addressof(host_data)) == -errno.EINVAL
    assert syscall(t, "capget", header, t.put(bytes(24))) == -errno.EINVAL


def test_capget_derives_the_sets_from_the_euid(kernel, t):
    data = t.put(bytes(24))
    assert syscall(t, "capget", t.put(struct.pack("<Ii", V3, 0)), data) == 0
    assert struct.unpack("<6I", t.copy_in(data, 24)) == (
        ALL_CAPS & 0xFFFFFFFF, ALL_CAPS & 0xFFFFFFFF, 0, ALL_CAPS >> 32, ALL_CAPS >> 32, 0)
    FakeTask(kernel, 5, creds=Credentials(uid=1000))
    assert syscall(t, "capget", t.put(struct.pack("<Ii", V1, 5)), data) == 0
    assert t.copy_in(data, 12) == bytes(12)
    assert syscall(t, "capget", t.put(struct.pack("<Ii", V3, 99)), data) == -errno.ESRCH
    assert syscall(t, "capget", t.put(struct.pack("<Ii", V3, -1)), data) == -errno.EINVAL


def test_capset_allows_only_dropping(kernel, t):
    header = t.put(struct.pack("<Ii", V3, 0))
    assert syscall(t, "capset", header, t.put(struct.pack("<6I", 1, 3, 0, 0, 0, 0))) == 0
    assert syscall(t, "capset", header, t.put(struct.pack("<6I", 3, 1, 0, 0, 0, 0))) == -errno.EPERM
    assert syscall(t, "capset", t.put(struct.pack("<Ii", V3, 7)), header) == -errno.EPERM
    user = FakeTask(kernel, 2, creds=Credentials(uid=1000))
    user_header = user.put(struct.pack("<Ii", V3, 0))
    assert syscall(user, "capset", user_header, user.put(bytes(24))) == 0
    assert syscall(user, "capset", user_header, user.put(struct.pack("<6I", 0, 1, 0, 0, 0, 0))) == -errno.EPERM


# -- getrandom, sysinfo --------------------------------------------------------------------------

def test_getrandom_checks_flags_like_the_host(t):
    buf = t.put(bytes(64))
    for flags in range(9):
        try:
            os.getrandom(1, flags)
            host = 1
        except OSError as error:
            host = -error.errno
        assert syscall(t, "getrandom", buf, 1, flags) == host, flags
    assert syscall(t, "getrandom", buf, 64, 0) == 64 and t.copy_in(buf, 64) != bytes(64)
    assert syscall(t, "getrandom", 0, 0, 0) == 0


def test_getrandom_caps_huge_requests(monkeypatch, t):
    monkeypatch.setattr(sys_identity, "GETRANDOM_MAX", 32)
    assert syscall(t, "getrandom", t.put(bytes(64)), 1 << 40, 0) == 32


def test_sysinfo_has_the_hosts_layout_and_memory(kernel, t):
    assert bytes_the_host_writes(LIBC.sysinfo) == ctypes.sizeof(Sysinfo) == 112
    host = Sysinfo()
    LIBC.sysinfo(ctypes.byref(host))
    FakeTask(kernel, 2)
    info = t.put(bytes(112))
    assert syscall(t, "sysinfo", info) == 0
    ours = Sysinfo.from_buffer_copy(t.copy_in(info, 112))
    assert ours.mem_unit == 1 and ours.procs == 2
    assert ours.totalram == host.totalram * host.mem_unit
    assert 0 < ours.freeram <= ours.totalram
    assert ours.uptime == 1 + (sys_time.UPTIME_AT_BOOT_NS // NSEC)   # rounded up, like Linux


# -- resource limits -----------------------------------------------------------------------------

NR_OPEN = 1 << 20
MISSING_PID = 4194303
RLIMIT_SCENARIO = [
    ("setrlimit", RLIMIT_NOFILE, 512, 1024), ("getrlimit", RLIMIT_NOFILE),
    ("setrlimit", RLIMIT_NOFILE, 600, 512),               # soft above hard
    ("setrlimit", RLIMIT_NOFILE, 256, NR_OPEN + 1),       # above fs.nr_open
    ("setrlimit", 16, 1, 1), ("getrlimit", 16), ("prlimit", 0, 16, None),
    ("prlimit", MISSING_PID, RLIMIT_NOFILE, None),
    ("setresuid", 65534, 65534, 65534),
    ("setrlimit", RLIMIT_NOFILE, 100, 2048),              # raising the hard limit
    ("setrlimit", RLIMIT_NOFILE, 100, 1000), ("setrlimit", RLIMIT_NOFILE, 1000, 1000),
    ("setrlimit", RLIMIT_NOFILE, 100, 1024),
    ("prlimit", 0, RLIMIT_NOFILE, (50, 900)), ("prlimit", 0, RLIMIT_NOFILE, None),
]

NATIVE_RLIMITS = r"""
import ctypes, json, sys
libc = ctypes.CDLL(None, use_errno=True)
def raw(nr, *args):
    result = libc.syscall(ctypes.c_long(nr), *(ctypes.c_long(arg) for arg in args))
    return -ctypes.get_errno() if result == -1 else result
def limits(pair=None):
    return (ctypes.c_uint64 * 2)(*(pair or (0, 0)))
def call(name, *args):
    if name == "setrlimit":
        new = limits(args[1:])
        return raw(160, args[0], ctypes.addressof(new))
    old = limits()
    if name == "getrlimit":
        return raw(97, args[0], ctypes.addressof(old))
    if name == "prlimit":
        new = limits(args[2]) if args[2] else None
        return raw(302, args[0], args[1], ctypes.addressof(new) if new else 0, ctypes.addressof(old))
    return raw(117, *args)
def nofile():
    old = limits()
    raw(97, 7, ctypes.addressof(old))
    return list(old)
print(json.dumps([[call(op[0], *op[1:]), nofile()] for op in json.loads(sys.argv[1])]))
"""


def emulated_rlimits(scenario, kernel):
    t = FakeTask(kernel, 1)
    results = []
    for name, *args in scenario:
        if name == "setrlimit":
            result = syscall(t, name, args[0], t.put(struct.pack("<QQ", *args[1:])))
        elif name == "getrlimit":
            result = syscall(t, name, args[0], t.put(bytes(16)))
        elif name == "prlimit":
            new = t.put(struct.pack("<QQ", *args[2])) if args[2] else 0
            result = syscall(t, "prlimit64", args[0], args[1], new, t.put(bytes(16)))
        else:
            result = syscall(t, name, *args)
        results.append([result, list(t.tg.rlimits[RLIMIT_NOFILE])])
    return results


def test_rlimit_rules_follow_the_host(kernel):
    if os.geteuid() != 0:
        pytest.skip("the native run needs root to drop to nobody")
    native = subprocess.run([sys.executable, "-c", NATIVE_RLIMITS, json.dumps(RLIMIT_SCENARIO)],
                            capture_output=True, text=True, check=True)
    assert emulated_rlimits(RLIMIT_SCENARIO, kernel) == json.loads(native.stdout)


def test_the_privileged_may_raise_hard_limits(t):
    # Not compared with the host: its root may lack CAP_SYS_RESOURCE (containers drop it).
    assert syscall(t, "setrlimit", RLIMIT_NOFILE, t.put(struct.pack("<QQ", 10, 20))) == 0
    assert syscall(t, "setrlimit", RLIMIT_NOFILE, t.put(struct.pack("<QQ", 10, NR_OPEN))) == 0
    assert t.tg.rlimits[RLIMIT_NOFILE] == [10, NR_OPEN]


def test_getrlimit_reports_the_defaults(t):
    rlim = t.put(bytes(16))
    for resource, limits in default_rlimits().items():
        assert syscall(t, "getrlimit", resource, rlim) == 0
        assert list(struct.unpack("<QQ", t.copy_in(rlim, 16))) == limits
    assert syscall(t, "getrlimit", 3, rlim) == 0 and struct.unpack("<QQ", t.copy_in(rlim, 16))[1] == RLIM_INFINITY


def test_prlimit_on_another_process(kernel, t):
    other = FakeTask(kernel, 9, creds=Credentials(uid=1000, gid=1000))
    stranger = FakeTask(kernel, 10, creds=Credentials(uid=2000, gid=2000))
    new, old = t.put(struct.pack("<QQ", 64, 128)), t.put(bytes(16))
    assert syscall(t, "prlimit64", 9, RLIMIT_NOFILE, new, old) == 0
    assert other.tg.rlimits[RLIMIT_NOFILE] == [64, 128]
    assert list(struct.unpack("<QQ", t.copy_in(old, 16))) == default_rlimits()[RLIMIT_NOFILE]
    user = FakeTask(kernel, 11, creds=Credentials(uid=1000, gid=1000))
    assert syscall(user, "prlimit64", 9, RLIMIT_NOFILE, 0, user.put(bytes(16))) == 0
    assert syscall(user, "prlimit64", 10, RLIMIT_NOFILE, 0, user.put(bytes(16))) == -errno.EPERM
    assert stranger.tg.rlimits[RLIMIT_NOFILE] == default_rlimits()[RLIMIT_NOFILE]
    assert syscall(t, "prlimit64", 9, RLIMIT_NOFILE, 0x10, old) == -errno.EFAULT


def test_getrusage(t):
    usage = t.put(bytes(144))
    assert bytes_the_host_writes(lambda buffer: LIBC.getrusage(0, buffer)) == 144
    assert syscall(t, "getrusage", 0, usage) == 0
    assert struct.unpack("<4q", t.copy_in(usage, 32)) == (1, 500_000, 0, 500_000)
    assert syscall(t, "getrusage", -1, usage) == 0
    assert struct.unpack("<4q", t.copy_in(usage, 32)) == (0, 250_000, 0, 125_000)
    assert syscall(t, "getrusage", 1, usage) == 0
    assert syscall(t, "getrusage", 2, usage) == -errno.EINVAL
    with pytest.raises(ValueError):
        __import__("resource").getrusage(2)
