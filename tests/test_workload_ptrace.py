"""ptrace(2) by the workload (docs/PTRACE.md): tracer and tracee are both sandbox tasks.

A C program exercises the requests and stops and must print what it prints natively; then
the real tracers, strace and gdb, run inside the sandbox and are compared with native runs.
"""
import os
import re
import shutil

import pytest

from tests.helpers import assert_same, no_traceback, run_native, run_sandbox

pytestmark = pytest.mark.usefixtures("each_platform")

STRACE = "/usr/bin/strace"
GDB = "/usr/bin/gdb"


def _needs(path):
    if not os.path.exists(path):
        pytest.skip(f"{path} is not installed on this host (scripts/install.sh installs it)")


def _same_as_native(program):
    """Run `program` natively (it must succeed) and in the sandbox: the same output and status."""
    native = run_native([program])
    assert native.status == 0, native
    sandboxed = run_sandbox([program])
    assert_same(native, sandboxed, os.path.basename(program))
    return sandboxed


def test_ptrace_program_matches_native(build):
    """TRACEME + raise(SIGSTOP), PEEK/POKE of memory and user area, GETREGS/SETREGS/REGSET,
    GETFPREGS, GETSIGINFO, syscall stops (counting, changing orig_rax, skipping with -1,
    GET_SYSCALL_INFO), fork/exec/exit events with auto-attach and the real parent told after
    the tracer, signals the tracer suppresses, changes or rewrites (SETSIGINFO), group-stops,
    single-stepping, /proc/PID/mem, TracerPid, ATTACH/SEIZE/INTERRUPT/DETACH/KILL, EXITKILL,
    and the errnos of misuse."""
    sandboxed = _same_as_native(build("ptrace_basic"))
    assert "stopped sig 5 event 4 (exec, former pid 1)" in sandboxed.out


def test_vfork_done_and_seccomp_events_match_native(build):
    """PTRACE_EVENT_VFORK_DONE after a vfork child's exit and exec (message: its pid, with and
    without PTRACE_O_TRACEVFORK, none without the option), and PTRACE_EVENT_SECCOMP for a filter's
    SECCOMP_RET_TRACE: its data in GETEVENTMSG and GET_SYSCALL_INFO, the call run, changed
    (re-checked by the filter), or skipped; its place between syscall-enter and exit stops; ENOSYS
    without PTRACE_O_TRACESECCOMP or without a tracer."""
    sandboxed = _same_as_native(build("ptrace_events"))
    assert "event 5 (vfork done, same pid as the vfork event: 1" in sandboxed.out
    assert "seccomp stop: data 0x42, nr 110, rax -38" in sandboxed.out
    assert "getsid, changed to getegid (the filter's ERRNO): errno 13" in sandboxed.out


def _strace_here_and_native(args, status=0):
    """Run strace ARGS natively and in the sandbox: same exit status and stdout; returns both."""
    _needs(STRACE)
    native = run_native([STRACE, *args])
    sandboxed = run_sandbox([STRACE, *args])
    no_traceback(sandboxed)
    assert native.status == status, native
    assert sandboxed.status == status and sandboxed.out == native.out, sandboxed
    return native, sandboxed


def _without_addresses(text):
    return re.sub(r"0x[0-9a-f]+", "ADDR", text)


def test_strace_follows_a_shell():
    """The issue's command: strace -f -qq -e trace=write,exit_group sh -c 'echo hi'."""
    native, sandboxed = _strace_here_and_native(["-f", "-qq", "-e", "trace=write,exit_group",
                                                 "sh", "-c", "echo hi"])
    assert_same(native, sandboxed, "strace of sh -c 'echo hi'")
    assert 'write(1, "hi\\n", 3)' in sandboxed.err


def test_strace_seccomp_bpf_follows_a_shell():
    """strace --seccomp-bpf: its filter returns SECCOMP_RET_TRACE for the traced calls and it
    waits for PTRACE_EVENT_SECCOMP stops instead of stopping at every syscall."""
    native, sandboxed = _strace_here_and_native(["-f", "--seccomp-bpf", "-qq", "-e", "trace=write,exit_group",
                                                 "sh", "-c", "echo hi"])
    assert_same(native, sandboxed, "strace --seccomp-bpf of sh -c 'echo hi'")
    assert 'write(1, "hi\\n", 3)' in sandboxed.err
    assert "seccomp" not in sandboxed.err            # no "seccomp filter is unavailable" warning


def test_strace_decodes_file_calls_of_one_process():
    """Syscall entry and exit stops with arguments read from the tracee's memory."""
    native, sandboxed = _strace_here_and_native(["-e", "trace=openat,read,close,write", "-e", "signal=none",
                                                 "cat", "/etc/hostname"])
    assert _without_addresses(sandboxed.err) == _without_addresses(native.err)


def _complete_lines(err):
    """strace -f output as the sorted list of its calls, each joined from its <unfinished ...>
    and <... resumed> halves, without pids and addresses: how the calls of several processes
    interleave depends on scheduling."""
    lines, unfinished = [], {}
    err = re.sub(r"(/usr/bin/)?strace: Process \d+ attached\n", "", err)    # may cut a call's line in two
    for line in err.splitlines():
        match = re.match(r"\[pid +(\d+)\] (.*)", line)
        pid, text = (match.group(1), match.group(2)) if match else (None, line)
        if text.endswith(" <unfinished ...>"):
            unfinished[pid] = text[:-len(" <unfinished ...>")]
            continue
        resumed = re.match(r"<\.\.\. (\w+) resumed>(.*)", text)
        if resumed:
            name = resumed.group(1)
            if pid not in unfinished:        # no [pid N] while one process is traced
                pid = next((p for p, call in unfinished.items() if call.startswith(name + "(")), None)
            text = unfinished.pop(pid, "?") + resumed.group(2)
        lines.append(re.sub(r"= \d+$", "= N", re.sub(r" +", " ", _without_addresses(text))))
    return sorted(lines)


def test_strace_follows_forks_execs_and_exits():
    """-f: each new process is auto-attached (PTRACE_O_TRACEFORK/CLONE/VFORK), its execve and
    exit are seen (PTRACE_EVENT_EXEC/EXIT), and wait4 returns children in the tracee."""
    native, sandboxed = _strace_here_and_native(["-f", "-e", "trace=execve,exit_group,wait4",
                                                 "-e", "signal=none", "sh", "-c",
                                                 "/bin/true; echo a | cat; exit 3"], status=3)
    assert _complete_lines(sandboxed.err) == _complete_lines(native.err)
    assert sandboxed.err.count("+++ exited with 0 +++") == 3


CRASHER = r"""
#include <stdio.h>
static void __attribute__((noinline)) inner(int *p) { *p = 42; }
static void __attribute__((noinline)) outer(int *p) { inner(p); }
int main(void) { puts("about to crash"); fflush(stdout); outer(0); return 0; }
"""


def test_gdb_backtrace_of_a_crash(tmp_path):
    """gdb -batch -ex run -ex bt: breakpoints in ld.so (int3 written through /proc/PID/mem),
    the SIGSEGV as a signal-delivery-stop, registers and stack read back for the backtrace,
    the PIE relocated from /proc/PID/auxv."""
    _needs(GDB)
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.fail("gcc is missing: run scripts/install.sh", pytrace=False)
    source, program = tmp_path / "crash.c", tmp_path / "crash"
    source.write_text(CRASHER)
    os.system(f"{gcc} -g -O0 -o {program} {source}")
    os.chmod(tmp_path, 0o755)
    argv = [GDB, "-q", "-nx", "-batch", "-ex", "run", "-ex", "bt", str(program)]
    native = run_native(argv, timeout=120)
    sandboxed = run_sandbox(argv, timeout=120)
    no_traceback(sandboxed)
    assert "in inner (p=0x0)" in native.out, native
    assert_same(native, sandboxed, "gdb -batch -ex run -ex bt")


THREADS = """
import os, threading
def work():
    os.write(1, b"thread\\n")
threads = [threading.Thread(target=work) for _ in range(3)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""


def test_strace_follows_threads():
    """Threads are traced from their clone (PTRACE_O_TRACECLONE); each thread's exit reaches
    the tracer's wait(2), so strace ends when the program does."""
    native, sandboxed = _strace_here_and_native(["-f", "-e", "trace=write,exit,exit_group",
                                                 "-e", "signal=none", "/usr/bin/python3", "-S", "-c",
                                                 THREADS])
    assert _complete_lines(sandboxed.err) == _complete_lines(native.err)


def test_strace_of_a_stopped_and_continued_child():
    """A seized tracee's group-stop: its tracer sees PTRACE_EVENT_STOP and uses PTRACE_LISTEN,
    its parent (not the tracer) gets CLD_STOPPED and CLD_CONTINUED, and SIGCONT makes it trap
    again and run on."""
    script = "sleep 0.3 & p=$!; kill -STOP $p; sleep 0.1; kill -CONT $p; wait $p; echo status $?"
    native, sandboxed = _strace_here_and_native(["-f", "-qq", "-e", "trace=none", "sh", "-c", script])
    assert sandboxed.out == "status 0\n"
    assert "--- stopped by SIGSTOP ---" in sandboxed.err
    assert "CLD_CONTINUED" in sandboxed.err

    def normalized(err):
        return sorted(re.sub(r"\[pid +\d+\]|si_pid=\d+", "PID", err).splitlines())
    assert normalized(sandboxed.err) == normalized(native.err)
