"""The conformance suites: real test programs, each run natively and in the sandbox.

A suite turns into a list of `Case`s (one program each) and judges a finished run of one
case from its exit status and output. None of the suites was written for pysandbox except
the project's own C tests (tests/syscalls), which are checked natively too.
"""
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

PASSED, FAILED, ERRORED, SKIPPED, TIMEOUT = "passed", "failed", "errored", "skipped", "timeout"
# How a run ended, best first; a test that did not pass natively is not counted.
OUTCOMES = (PASSED, SKIPPED, FAILED, ERRORED, TIMEOUT)

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
C_TESTS = os.path.join(REPOSITORY, "tests", "syscalls")


class SuiteUnavailable(Exception):
    """The suite cannot run here; the message says what to install."""


@dataclass
class Case:
    suite: str
    name: str
    argv: list
    cwd: str = "/tmp"
    timeout: float = 300.0
    env: dict = field(default_factory=dict)
    expected_seconds: float = 1.0         # a natively measured guess, to start long cases first


@dataclass
class Verdict:
    outcome: str
    summary: str = ""                 # one line: counts, the first failure
    counts: dict = field(default_factory=dict)
    tests: dict = field(default_factory=dict)     # sub-test -> outcome, where the suite reports them


class Suite:
    name = ""
    description = ""

    def cases(self, workdir, quick=False, only=()):
        raise NotImplementedError

    def judge(self, case, status, output):
        raise NotImplementedError


def _select(names, quick_names, quick, only):
    """The names to run: those of `only` this suite has (the runner reports names no suite has),
    else the quick subset or all."""
    if only:
        return [name for name in names if name in set(only)]
    return list(quick_names) if quick else list(names)


# -- the project's own C tests -----------------------------------------------------------

class CTests(Suite):
    name = "ctests"
    description = "tests/syscalls: one C program per syscall family, exact results and errnos"
    QUICK = ("fs_io", "process", "signals")

    def cases(self, workdir, quick=False, only=()):
        gcc = shutil.which("gcc")
        if gcc is None:
            raise SuiteUnavailable("the ctests suite needs gcc: apt-get install gcc libc6-dev")
        if not os.path.isdir(C_TESTS):
            raise SuiteUnavailable(f"the ctests suite needs the C tests of a pysandbox checkout ({C_TESTS})")
        names = sorted(f[:-2] for f in os.listdir(C_TESTS) if f.endswith(".c"))
        chosen = _select(names, [n for n in self.QUICK if n in names], quick, only)
        built = []
        for name in chosen:
            binary = os.path.join(workdir, name)
            compiled = subprocess.run([gcc, "-O2", "-Wall", "-pthread", "-o", binary,
                                       os.path.join(C_TESTS, name + ".c")],
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if compiled.returncode != 0:
                raise SuiteUnavailable(f"compiling tests/syscalls/{name}.c failed: "
                                       f"{compiled.stdout.strip().splitlines()[-1:]}")
            built.append(Case(self.name, name, [binary], timeout=60))
        return built

    def judge(self, case, status, output):
        results = re.findall(r"^(not ok|ok) \d+ - (.*)$", output, re.M)
        passed = sum(1 for verdict, _ in results if verdict == "ok")
        failures = [what for verdict, what in results if verdict == "not ok"]
        complete = re.search(r"^1\.\.(\d+)$", output, re.M)
        counts = {PASSED: passed, FAILED: len(failures)}
        tests = {what: (PASSED if verdict == "ok" else FAILED) for verdict, what in results}
        if status == 0 and complete and not failures:
            return Verdict(PASSED, f"{passed} checks", counts, tests)
        if failures:
            return Verdict(FAILED, f"{len(failures)} of {len(results)} checks failed; first: {failures[0]}",
                           counts, tests)
        comment = re.findall(r"^# (.*)$", output, re.M)
        return Verdict(ERRORED, f"exit status {status} after {len(results)} checks"
                       + (f"; {comment[-1]}" if comment else ""), counts, tests)


# -- CPython's regression tests ----------------------------------------------------------

CPYTHON = "/usr/bin/python3.11"
CPYTHON_TESTS = "/usr/lib/python3.11/test"
CPYTHON_MODULES = (
    "test_os", "test_posix", "test_signal", "test_subprocess", "test_select", "test_selectors", "test_fcntl",
    "test_mmap", "test_pty", "test_threading", "test_thread", "test_tempfile", "test_shutil", "test_glob",
    "test_stat", "test_time", "test_resource", "test_file", "test_fileio", "test_io", "test_pipes",
    "test_popen", "test_wait3", "test_wait4", "test_epoll", "test_poll", "test_genericpath",
    "test_posixpath", "test_pathlib", "test_zipfile", "test_tarfile", "test_sqlite3",
)
CPYTHON_QUICK = ("test_stat", "test_glob", "test_genericpath", "test_fcntl", "test_wait4")
# Tests that change the host when run natively as root: test_monotonic_settime sets the host's
# clock back an hour (and then forward again).
_IGNORED = ("--ignore", "test_monotonic_settime")
# Native run times on the project's machine (seconds), to schedule the long ones first.
CPYTHON_SECONDS = {"test_signal": 47, "test_io": 33, "test_subprocess": 26, "test_zipfile": 19,
                   "test_selectors": 15, "test_tarfile": 12, "test_threading": 12, "test_poll": 11,
                   "test_pathlib": 7, "test_wait3": 5, "test_wait4": 5}
_RESULT_LINE = re.compile(r"^(test\w*) \(([\w.]+)\)\s*(?:\n[^\n]*?)??\.\.\. ?(.*)$", re.M)


class CPythonTests(Suite):
    name = "cpython"
    description = "CPython 3.11's own regression tests (Debian's libpython3.11-testsuite)"

    def cases(self, workdir, quick=False, only=()):
        if not os.path.exists(CPYTHON):
            raise SuiteUnavailable(f"the cpython suite needs {CPYTHON}: apt-get install python3.11")
        if not os.path.exists(os.path.join(CPYTHON_TESTS, "test_os.py")):
            raise SuiteUnavailable("the cpython suite needs CPython's tests: apt-get install libpython3.11-testsuite")
        # A listed module this Debian does not ship (test_sqlite3) still runs: it fails natively
        # and so is not counted, and the report shows why.
        chosen = _select(CPYTHON_MODULES, CPYTHON_QUICK, quick, only)
        return [Case(self.name, module, [CPYTHON, "-m", "test", "-v", *_IGNORED, module], timeout=600,
                     env={"PYTHONDONTWRITEBYTECODE": "1"}, expected_seconds=CPYTHON_SECONDS.get(module, 2))
                for module in chosen]

    def judge(self, case, status, output):
        tests = parse_unittest_verbose(output)
        counts = {outcome: 0 for outcome in (PASSED, FAILED, ERRORED, SKIPPED)}
        for outcome in tests.values():
            counts[outcome] += 1
        summary = ", ".join(f"{counts[k]} {k}" for k in counts)
        if status == 0 and "Tests result: SUCCESS" in output:
            return Verdict(PASSED, summary, counts, tests)
        if "Tests result: NO TESTS RAN" in output or re.search(r"^\S+ skipped", output, re.M) and not tests:
            return Verdict(SKIPPED, summary or "module skipped", counts, tests)
        if counts[FAILED] or counts[ERRORED]:
            return Verdict(FAILED, summary, counts, tests)
        return Verdict(ERRORED, f"exit status {status}; {summary}", counts, tests)


def parse_unittest_verbose(output):
    """{'Class.test_name': outcome} from unittest's verbose output (python -m test -v)."""
    tests = {}
    for name, where, rest in _RESULT_LINE.findall(output):
        key = _test_key(name, where)
        rest = rest.strip()
        if rest.startswith("ok") or rest.startswith("expected failure"):
            tests[key] = PASSED
        elif rest.startswith("skipped"):
            tests[key] = SKIPPED
        elif rest.startswith("FAIL") or rest.startswith("unexpected success"):
            tests[key] = FAILED
        elif rest.startswith("ERROR"):
            tests[key] = ERRORED
    # Failures found after the result line was written ("ERROR: test_x (test.mod.Class.test_x)").
    for kind, name, where in re.findall(r"^(FAIL|ERROR): (test\w*) \(([\w.]+)\)", output, re.M):
        tests[_test_key(name, where)] = FAILED if kind == "FAIL" else ERRORED
    return tests


def _test_key(name, where):
    """'Class.test_name' from unittest's "test_name (test.module.Class.test_name)" (3.11) or
    "test_name (test.module.Class)" (older)."""
    parts = where.split(".")
    if parts[-1] == name and len(parts) >= 2:
        parts = parts[:-1]
    return f"{parts[-1]}.{name}"


# -- stress-ng -----------------------------------------------------------------------------

STRESS_NG = "/usr/bin/stress-ng"
# Stressors of `stress-ng --class os` whose syscalls the sandbox claims to implement.
STRESSORS = (
    "access", "alarm", "brk", "chdir", "chmod", "chown", "close", "dentry", "dir", "dirdeep", "dup",
    "eventfd", "exec", "exit-group", "fcntl", "fifo", "flock", "fork", "fstat", "futex", "get", "getdent",
    "getrandom", "hdd", "ioprio", "itimer", "kill", "link", "lockf", "madvise", "malloc", "mincore", "mmap",
    "mprotect", "mremap", "msync", "munmap", "mutex", "nanosleep", "nice", "null", "open", "pipe", "poll",
    "prctl", "pthread", "readahead", "rename", "schedpolicy", "seek", "sendfile", "session", "sigchld",
    "sigfd", "sigpending", "sigpipe", "sigq", "sigrt", "sigsegv", "sigsuspend", "sleep", "sockpair",
    "symlink", "timer", "timerfd", "touch", "utime", "vfork", "vm-rw", "wait", "yield", "zero",
)
STRESSORS_QUICK = ("dup", "fork", "pipe", "open", "sigq")
STRESS_SECONDS = 2
STRESS_TEMP_PATH = "/tmp"                 # where stressors make their files


class StressNg(Suite):
    name = "stress-ng"
    description = f"stress-ng stressors for implemented syscalls, {STRESS_SECONDS} s each with --verify"

    def cases(self, workdir, quick=False, only=()):
        if not os.path.exists(STRESS_NG):
            raise SuiteUnavailable("the stress-ng suite needs stress-ng: apt-get install stress-ng")
        chosen = _select(STRESSORS, STRESSORS_QUICK, quick, only)
        return [Case(self.name, stressor,
                     [STRESS_NG, f"--{stressor}", "1", "--timeout", f"{STRESS_SECONDS}s", "--verify",
                      "--metrics-brief", "--temp-path", STRESS_TEMP_PATH], timeout=60 + 10 * STRESS_SECONDS,
                     expected_seconds=STRESS_SECONDS)
                for stressor in chosen]

    def judge(self, case, status, output):
        bogo = re.search(rf"^.*{re.escape(case.name)}\s+(\d+)\s+[\d.]+\s+[\d.]+", output, re.M)
        summary = f"{bogo.group(1)} bogo ops" if bogo else ""
        # stress-ng's exit statuses: 0 success, 2 a stressor failed, 3 no resources, 4 not implemented.
        if status == 0:
            return Verdict(PASSED, summary)
        if status in (3, 4):
            return Verdict(SKIPPED, f"exit status {status} (not runnable here)")
        failure = re.findall(r"^.*(?:fail|error|FAIL).*$", output, re.M)
        return Verdict(FAILED, f"exit status {status}" + (f"; {failure[0].strip()[:160]}" if failure else ""))


SUITES = {suite.name: suite for suite in (CTests(), CPythonTests(), StressNg())}
