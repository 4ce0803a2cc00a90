"""Points on the timeline of one start, for bench/start_timeline.py: with PYSANDBOX_START_TRACE=1
in the environment, mark(label) writes `pysandbox-start-trace NS PID FAULTS LABEL` to stderr:
CLOCK_MONOTONIC nanoseconds, and the minor page faults this process has taken so far (on these
VMs each costs 1-5 us), or -1 once a seccomp filter (which has no getrusage) holds this process.
Without it, mark() does nothing.

PYSANDBOX_START_PROFILE=tottime (or another pstats sort key) runs the sandbox process under
cProfile and writes its 60 most expensive functions to stderr as it ends."""
import os

ENABLED = os.environ.get("PYSANDBOX_START_TRACE") == "1"
PREFIX = b"pysandbox-start-trace"
faults_readable = True          # seccomp.install turns it off


def mark(label):
    if ENABLED:
        import resource
        import time
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt if faults_readable else -1
        os.write(2, b"%s %d %d %d %s\n" % (PREFIX, time.monotonic_ns(), os.getpid(), faults, label.encode()))


def profiled(body):
    """body(), under cProfile with PYSANDBOX_START_PROFILE (imported now: after the chroot no
    C module could be)."""
    sort_key = os.environ.get("PYSANDBOX_START_PROFILE")
    if not sort_key:
        return body()
    import cProfile
    import io
    import pstats
    profile = cProfile.Profile()
    profile.enable()
    try:
        return body()
    finally:
        profile.disable()
        report = io.StringIO()
        pstats.Stats(profile, stream=report).sort_stats(sort_key).print_stats(60)
        os.write(2, report.getvalue().encode())
