"""Review findings of session 5, against native Linux: madvise(2) and process_madvise(2)
refuse to drop or age mlock()ed memory alike (MemoryManager.madvise), and the sandbox's
boot-time clock reads the same through /proc/uptime, clock_gettime(CLOCK_BOOTTIME),
sysinfo(2), btime in /proc/stat and the starttime of /proc/PID/stat.
"""

from __future__ import annotations

from helpers import compare_program_output, run_native, run_sandbox


def test_advice_on_locked_memory_matches_linux(cprog):
    out = compare_program_output([cprog("madvise_locked")])
    for advice in ("MADV_COLD", "MADV_PAGEOUT", "MADV_DONTNEED", "MADV_FREE"):
        assert f"{advice} of the locked page: -1 EINVAL\n" in out
        assert f"{advice} of an unlocked page: 0 \n" in out
        assert f"{advice} of unlocked, locked, unlocked: -1 EINVAL\n" in out
    for line in [
        "MADV_WILLNEED of unlocked, locked, unlocked: 0 ",
        "  page before dropped: yes, locked page kept: yes, page after kept: yes",
        "MADV_PAGEOUT of a page locked on fault: -1 EINVAL",
        "MADV_PAGEOUT after munlock: 0 ",
        "MADV_COLD over a hole and then a locked page: -1 EINVAL",
        "MADV_COLD over a hole only: -1 ENOMEM",
        "process_madvise MADV_COLD of the locked page: -1 EINVAL",
        "process_madvise MADV_PAGEOUT of unlocked, locked: 4096 ",
        "process_madvise MADV_PAGEOUT of locked, unlocked: -1 EINVAL",
    ]:
        assert line + "\n" in out


def _clock_readings(result):
    assert result.status == 0, result
    return {name: float(value) for name, value in (line.split() for line in result.out.splitlines())}


def _assert_boot_clocks_agree(readings, where):
    """Read in this order: /proc/uptime (truncated to hundredths), CLOCK_BOOTTIME, sysinfo's
    uptime (rounded up to a second), btime and time(2) (whole seconds)."""
    uptime, boottime = readings["proc_uptime"], readings["boottime"]
    assert 0 <= boottime - uptime < 0.5, (where, readings)
    assert 0 <= readings["sysinfo"] - boottime < 1.5, (where, readings)
    assert abs(readings["now"] - (readings["btime"] + boottime)) < 1.1, (where, readings)
    assert 0 < readings["pid1_start"] <= uptime, (where, readings)


def test_boot_time_clocks_agree(cprog):
    program = cprog("uptime_clocks")
    _assert_boot_clocks_agree(_clock_readings(run_native([program])), "native")
    readings = _clock_readings(run_sandbox([program]))
    _assert_boot_clocks_agree(readings, "sandbox")
    # The sandbox's first process starts as it boots, at CLOCK_BOOTTIME 1 s (UPTIME_AT_BOOT_NS).
    assert readings["pid1_start"] >= 1.0, readings
