"""Timers faster than the sandbox can keep up with: stress-ng's timer stressor, 1 us POSIX
timers, setitimer and timerfd (tests/cprogs/timer_storm.c). The workload ends as it does
natively, with Linux's overrun counts and re-arm-on-dequeue behaviour, and a signal sent to
`pysandbox do` from outside still ends it. Also the CPU tree stress-ng looks for in /sys.
"""
from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time

import hypothesis
import hypothesis.strategies as st
import pytest

import helpers
from helpers import assert_same, compare_with_native, run_native, run_sandbox

STRESS_NG = "/usr/bin/stress-ng"
CPU_DIR = "/sys/devices/system/cpu"


def _stress_ng():
    if not os.path.exists(STRESS_NG):
        pytest.fail(f"{STRESS_NG} is missing: run scripts/install.sh (apt-get install stress-ng)", pytrace=False)
    return STRESS_NG


@pytest.mark.usefixtures("each_platform")
def test_stress_ng_timer_stressor_at_1mhz_completes():
    argv = [_stress_ng(), "--timer", "1", "--timer-freq", "1000000", "--timeout", "2", "--metrics-brief"]
    native = run_native(argv)
    sandboxed = run_sandbox(argv, timeout=60)
    assert sandboxed.status == native.status == 0, f"=== native ===\n{native}\n=== sandbox ===\n{sandboxed}"
    for result in (native, sandboxed):
        assert re.search(r"successful run completed in [\d.]+s", result.err), result
    assert "no CPUs found" not in sandboxed.err, sandboxed
    bogo_ops = re.search(r"timer\s+(\d+)\s+[\d.]+", sandboxed.err)
    assert bogo_ops and int(bogo_ops.group(1)) > 0, sandboxed


@pytest.mark.usefixtures("each_platform")
@pytest.mark.parametrize("mode", ["posix", "itimer", "cputime", "timerfd", "none", "blocked", "stale", "ignored"])
def test_timer_storm_program_matches_native(cprog, mode):
    """posix: 1 us timer, si_overrun and timer_getoverrun > 0; itimer: setitimer every 1 us;
    cputime: a 1 us timer on the process's CPU clock; timerfd: a large expiration count; none: SIGEV_NONE timer_gettime; blocked: overruns of a
    blocked signal and the getters meanwhile; stale: a signal from before timer_settime or
    timer_delete is dropped; ignored: an ignored signal waits for a handler."""
    out = compare_with_native([cprog("timer_storm"), mode]).out
    assert "no" not in re.findall(r": (yes|no)", out), out


def _run_until_ready(argv, **popen_kw):
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                               **popen_kw)
    ready, _, _ = select.select([process.stdout], [], [], 30)
    line = process.stdout.readline() if ready else b""
    if line != b"ready\n":
        helpers.kill_tree({process.pid} | set(helpers.descendants(process.pid)))
        out, err = process.communicate()
        pytest.fail(f"{argv[-2:]} never got ready: {line + out!r} {err!r}")
    return process


def _terminate_during_storm(process):
    """SIGTERM while the 1 us timer runs; the exit status and how long the process took to end."""
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    try:
        process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        helpers.kill_tree({process.pid} | set(helpers.descendants(process.pid)))
        process.communicate()
        pytest.fail("SIGTERM did not end the timer storm: only SIGKILL did")
    return helpers._status(process.returncode), time.monotonic() - sent


@pytest.mark.usefixtures("each_platform")
def test_sigterm_from_outside_ends_timer_storm(cprog):
    program = cprog("timer_storm")
    native_status, _ = _terminate_during_storm(_run_until_ready([program, "spin"], env=helpers.TEST_ENV))
    argv = helpers.sandbox_argv([program, "spin"])
    status, took = _terminate_during_storm(_run_until_ready(argv, env=helpers.TEST_ENV, cwd="/"))
    assert status == native_status == 128 + signal.SIGTERM
    assert took < 10, f"SIGTERM took {took:.1f}s to end the sandbox"


@pytest.mark.usefixtures("each_platform")
def test_sysfs_cpu_tree_matches_host():
    script = (f"cd {CPU_DIR} && cat online && ls -d cpu[0-9]* && getconf _NPROCESSORS_CONF "
              "&& getconf _NPROCESSORS_ONLN && cat cpu0/topology/physical_package_id")
    native = run_native(["/bin/sh", "-c", script])
    sandboxed = run_sandbox(["/bin/sh", "-c", script])
    assert_same(native, sandboxed)


@pytest.mark.usefixtures("each_platform")
def test_sysfs_cpu_caches_read_as_linux_writes_them():
    """What stress-ng and lscpu read: each cache index's level, type, size, line size and ways."""
    script = (f"for d in {CPU_DIR}/cpu*/cache/index*; do "
              "echo $(cat $d/level $d/type $d/size $d/coherency_line_size $d/ways_of_associativity "
              "$d/shared_cpu_list); done; cat {dir}/kernel_max {dir}/offline {dir}/smt/control").format(dir=CPU_DIR)
    result = run_sandbox(["/bin/sh", "-c", script])
    assert result.status == 0, result
    *caches, kernel_max, offline, smt = result.out.split("\n")[:-1]
    assert len(caches) == 4 * os.cpu_count()
    for line in caches:
        assert re.fullmatch(r"[123] (Data|Instruction|Unified) \d+K 64 \d+ [0-9,-]+", line), line
    assert int(kernel_max) >= os.cpu_count() - 1
    assert (offline, smt) == ("", "notsupported")


def test_cpu_lists_and_masks_in_linux_format():
    from pysandbox.sentry.vfs.sysfs import cpu_list, cpu_mask
    assert cpu_list([0]) == "0"
    assert cpu_list([0, 1, 2, 3]) == "0-3"
    assert cpu_list([0, 1, 4, 6, 7]) == "0-1,4,6-7"
    assert cpu_mask([0, 1], 2) == "3"
    assert cpu_mask([0], 8) == "01"
    assert cpu_mask([0, 1], 64) == "00000000,00000003"
    assert cpu_mask([33, 0], 40) == "02,00000001"


def test_a_timer_due_again_at_once_waits_for_the_next_round():
    """A callback that re-arms its timer in the past runs once per round: _fire_timers ends."""
    from pysandbox.sentry.kernel import Kernel
    kernel = Kernel(platform=None)
    calls = []

    def rearm():
        calls.append(1)
        if len(calls) > 100:
            raise AssertionError("the timer kept firing within one round")
        kernel.add_timer(0.0, rearm)

    kernel.add_timer(0.0, rearm)
    kernel._fire_timers()
    assert len(calls) == 1
    kernel._fire_timers()
    assert len(calls) == 2


@hypothesis.settings(max_examples=150, deadline=None)
@hypothesis.given(interval=st.integers(1, 5_000), first=st.integers(1, 20_000),
                  steps=st.lists(st.one_of(st.integers(0, 50_000), st.just("take")), max_size=40))
def test_overruns_account_for_every_period(interval, first, steps):
    """A periodic POSIX timer against a model that counts every period: once its signal is
    taken at time D, the signals taken so far stand for (1 + si_overrun each) exactly the
    expiries up to D; at most one signal is queued, and no kernel timer runs meanwhile."""
    from test_signals import FakeKernel, new_process
    from pysandbox.sentry import signals
    from pysandbox.sentry.posix_timers import SIGEV_SIGNAL, PosixTimer

    kernel = FakeKernel()
    task = new_process(kernel, 100)
    now_ns = [1_000 * 10**9]
    kernel.clock = now_ns[0] / 1e9
    timer = PosixTimer(task.tg, 0, lambda: now_ns[0], False, SIGEV_SIGNAL, signals.SIGRTMIN, 0, None)
    task.tg.posix_timers[0] = timer
    start = now_ns[0]
    timer.set(first, interval, absolute=False)
    accounted = 0
    for step in steps + ["take"]:
        if step == "take":
            info = signals.dequeue_signal(task, 0)
            if info is not None:
                accounted += 1 + info.overrun
                expired = (now_ns[0] - (start + first)) // interval + 1
                assert accounted == expired
        else:
            now_ns[0] += step
            kernel.advance(step / 1e9)
        assert len([i for i in task.tg.pending._queued if i.timer is timer]) <= 1
        if timer._requeue_pending:
            assert timer._handle is None
