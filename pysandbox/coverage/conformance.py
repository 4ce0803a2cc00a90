"""`pysandbox conformance`: run suites natively and in the sandbox, and report both side by side.

Every case (one program) runs twice: on the host, and under `pysandbox do` with a syscall
profile. A case that does not pass natively is not counted against the sandbox. The
profiles give the per-syscall pass rates: of the counted cases that made a syscall in the
sandbox, how many passed there.

    report = run_conformance(["ctests"], platform="ptrace", report_dir="out")
    out/report.json, out/report.md
"""
import concurrent.futures
import datetime
import json
import os
import platform as host_platform
import signal
import subprocess
import sys
import tempfile
import time

from pysandbox.coverage import report as report_writer
from pysandbox.coverage.suites import (ERRORED, PASSED, SKIPPED, SUITES, TIMEOUT, SuiteUnavailable,
                                       Verdict)
from pysandbox.sentry.errors import SandboxError

SUITE_NAMES = tuple(SUITES)
DEFAULT_SUITES = SUITE_NAMES
OUTPUT_KEPT = 4000                   # characters of a run's output kept in the JSON report
BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
            "LANG": "C.UTF-8", "TERM": "dumb"}
NATIVE, SANDBOX = "native", "sandbox"
MISSING = "missing"


def main(args):
    suites = args.suite or list(DEFAULT_SUITES)
    progress = Progress(sys.stderr)
    try:
        result = run_conformance(suites, platform=args.platform, report_dir=args.report, quick=args.quick,
                                 only=args.only, jobs=max(1, args.jobs), progress=progress,
                                 markdown_copy=args.markdown)
    except SuiteUnavailable as error:
        raise SandboxError(str(error), 2) from None
    totals = result["summary"]
    print(f"conformance: {totals['sandbox_passed']} of {totals['counted']} counted cases pass in the sandbox "
          f"({totals['native_failed']} not counted: they do not pass natively); "
          f"report in {os.path.join(args.report, 'report.md')}")
    return 0 if totals["sandbox_passed"] == totals["counted"] else 1


def run_conformance(suite_names, platform="ptrace", report_dir="conformance-report", quick=False, only=(),
                    jobs=2, progress=None, markdown_copy=None):
    """Run the suites; write report.json and report.md into report_dir; return the report dict."""
    unknown = [name for name in suite_names if name not in SUITES]
    if unknown:
        raise SuiteUnavailable(f"unknown suite {', '.join(unknown)} (known: {', '.join(SUITE_NAMES)})")
    progress = progress or Progress(None)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pysandbox-conformance-") as workdir:
        cases = []
        for name in suite_names:
            cases += SUITES[name].cases(workdir, quick=quick, only=only)
        unmatched = sorted(set(only) - {case.name for case in cases})
        if unmatched:
            raise SuiteUnavailable(f"no test named {', '.join(unmatched)} in the suites "
                                   f"{', '.join(suite_names)}")
        os.makedirs(report_dir, exist_ok=True)  # only now: a refused call leaves nothing behind
        # Longest first, so that the last runs to finish are short ones and both workers stay busy.
        runs = sorted(((case, side) for case in cases for side in (NATIVE, SANDBOX)),
                      key=lambda run: -run[0].expected_seconds * (3 if run[1] == SANDBOX else 1))
        progress.start(len(runs))
        results = {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(_run_side, case, side, platform, workdir): (case, side) for case, side in runs}
            for future in concurrent.futures.as_completed(futures):
                case, side = futures[future]
                results[(case.suite, case.name, side)] = run = future.result()
                progress.step(f"{case.suite} {case.name} {side}: {run['outcome']} ({run['seconds']:.1f}s)")
        progress.finish()
    report = _build_report(cases, results, suite_names, platform, time.monotonic() - started, quick)
    with open(os.path.join(report_dir, "report.json"), "w") as out:
        json.dump(report, out, indent=1)
        out.write("\n")
    markdown = report_writer.markdown(report)
    with open(os.path.join(report_dir, "report.md"), "w") as out:
        out.write(markdown)
    if markdown_copy:
        with open(markdown_copy, "w") as out:
            out.write(markdown)
    return report


def _run_side(case, side, platform, workdir):
    env = dict(BASE_ENV, **case.env)
    profile_path = log_path = None
    if side == NATIVE:
        argv, cwd = case.argv, case.cwd
    else:
        stem = os.path.join(workdir, f"{case.suite}-{case.name}".replace("/", "_"))
        profile_path, log_path = stem + ".profile.json", stem + ".log"
        argv = [sys.executable, "-m", "pysandbox", "do", f"--platform={platform}", "--clear-env",
                "--cwd", case.cwd, "--syscall-profile", profile_path, "--log", log_path]
        argv += [f"--env={key}={value}" for key, value in env.items()]
        argv += ["--", *case.argv]
        cwd = "/"
    started = time.monotonic()
    status, output = _run(argv, cwd, env, case.timeout)
    seconds = time.monotonic() - started
    if status is None:
        verdict = Verdict(TIMEOUT, f"no result after {case.timeout:g} s")
    else:
        verdict = SUITES[case.suite].judge(case, status, output)
        if side == SANDBOX and status == 125 and verdict.outcome != PASSED:
            verdict = Verdict(ERRORED, "pysandbox failed: " + _last_line(output))
    if log_path is not None and verdict.outcome != PASSED:
        reason = _sandbox_complaint(log_path)
        if reason:
            verdict.summary = f"{verdict.summary}; {reason}" if verdict.summary else reason
    run = {"outcome": verdict.outcome, "status": status, "seconds": round(seconds, 2),
           "summary": verdict.summary, "counts": verdict.counts, "tests": verdict.tests,
           "output_tail": output[-OUTPUT_KEPT:]}
    if profile_path is not None:
        run["syscalls"] = _profile_summary(profile_path)
    return run


def _run(argv, cwd, env, timeout):
    """(exit status as a shell shows it, or None after the timeout; stdout and stderr together)."""
    try:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    except OSError as error:
        return 127, f"cannot run {argv[0]}: {error.strerror}"
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process.pid)
        out, _ = process.communicate()
        return None, out.decode("utf-8", "replace")
    _kill_group(process.pid)         # whatever the program left running in its session
    status = process.returncode
    return (128 - status if status < 0 else status), out.decode("utf-8", "replace")


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _sandbox_complaint(log_path):
    """The sandbox's own last word about a failed run (an internal error, a seccomp kill), from its log."""
    try:
        with open(log_path, errors="replace") as log:
            lines = [line.strip() for line in log if "internal error" in line or "seccomp" in line
                     or "killed" in line]
    except OSError:
        return ""
    return lines[-1][:200] if lines else ""


def _last_line(text):
    lines = [line for line in text.strip().splitlines() if line.startswith("pysandbox:")]
    return lines[-1] if lines else (text.strip().splitlines() or [""])[-1][:200]


def _profile_summary(path):
    """{syscall: {"calls": n, "errors": {errno: n}}} of a sandbox run, or {} without a profile."""
    try:
        with open(path) as source:
            profile = json.load(source)
    except (OSError, ValueError):
        return {}
    return {name: {"calls": record["calls"], "level": record["level"],
                   "errors": {k: v for k, v in record["returned"].items() if k != "ok"}}
            for name, record in profile.get("syscalls", {}).items()}


def _build_report(cases, results, suite_names, platform, seconds, quick):
    from pysandbox.sentry.syscalls.linux64 import FULL, LEVELS
    from pysandbox.sentry.syscalls.table import SYSCALLS
    entries = []
    for case in cases:
        native = results[(case.suite, case.name, NATIVE)]
        sandbox = results[(case.suite, case.name, SANDBOX)]
        counted = native["outcome"] == PASSED
        entry = {"suite": case.suite, "name": case.name, "argv": case.argv, "counted": counted,
                 "native": native, "sandbox": sandbox,
                 "agrees": sandbox["outcome"] == PASSED if counted else None}
        if native["tests"] or sandbox["tests"]:
            entry["differences"] = _differences(native["tests"], sandbox["tests"])
        entries.append(entry)

    per_syscall = {}
    for entry in entries:
        if not entry["counted"]:
            continue
        for name, record in entry["sandbox"].get("syscalls", {}).items():
            stats = per_syscall.setdefault(name, {"level": record["level"], "cases": 0, "passed": 0, "calls": 0,
                                                  "failing_cases": []})
            stats["cases"] += 1
            stats["calls"] += record["calls"]
            if entry["agrees"]:
                stats["passed"] += 1
            else:
                stats["failing_cases"].append(f"{entry['suite']}/{entry['name']}")
    for stats in per_syscall.values():
        stats["pass_rate"] = round(stats["passed"] / stats["cases"], 3)

    suites = {}
    for name in suite_names:
        mine = [e for e in entries if e["suite"] == name]
        suites[name] = {
            "description": SUITES[name].description,
            "cases": len(mine),
            "native_passed": sum(1 for e in mine if e["native"]["outcome"] == PASSED),
            "counted": sum(1 for e in mine if e["counted"]),
            "sandbox_passed": sum(1 for e in mine if e["counted"] and e["agrees"]),
            "sandbox_passed_anyway": sum(1 for e in mine if not e["counted"] and e["sandbox"]["outcome"] == PASSED),
        }
    full_rows = {entry.name for entry in SYSCALLS.values() if entry.level == FULL}
    exercised_full = {name for name, stats in per_syscall.items() if stats["level"] == FULL}
    return {
        "format": "pysandbox-conformance-report",
        "version": 1,
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "pysandbox conformance " + " ".join(f"--suite {name}" for name in suite_names)
                   + (" --quick" if quick else ""),
        "platform": platform,
        "host": {"kernel": host_platform.release(), "cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "seconds": round(seconds, 1),
        "table": {level: sum(1 for e in SYSCALLS.values() if e.level == level) for level in LEVELS},
        "full_rows_exercised": len(exercised_full & full_rows),
        "full_rows_not_exercised": sorted(full_rows - exercised_full),
        "summary": {
            "cases": len(entries),
            "counted": sum(s["counted"] for s in suites.values()),
            "sandbox_passed": sum(s["sandbox_passed"] for s in suites.values()),
            "native_failed": sum(1 for e in entries if not e["counted"]),
        },
        "suites": suites,
        "cases": entries,
        "syscalls": dict(sorted(per_syscall.items())),
    }


def _differences(native_tests, sandbox_tests):
    """Sub-tests whose outcome differs between the runs. A sub-test one run did not report
    (its result line was cut by the test's own output) counts only against a failure."""
    differences = {}
    for test in sorted(set(native_tests) | set(sandbox_tests)):
        mine, theirs = native_tests.get(test, MISSING), sandbox_tests.get(test, MISSING)
        if mine == theirs or (MISSING in (mine, theirs) and {mine, theirs} - {MISSING} <= {PASSED, SKIPPED}):
            continue
        differences[test] = {NATIVE: mine, SANDBOX: theirs}
    return differences


class Progress:
    """A progress bar on a terminal; plain lines otherwise (logs, CI)."""

    WIDTH = 30

    def __init__(self, stream):
        self.stream = stream
        self.tty = bool(stream) and stream.isatty()
        self.total = self.done = 0

    def start(self, total):
        self.total = total
        if self.stream:
            self._show("starting")

    def step(self, text):
        self.done += 1
        if self.stream:
            self._show(text)

    def _show(self, text):
        if self.tty:
            filled = self.WIDTH * self.done // max(1, self.total)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            self.stream.write(f"\r[{bar}] {self.done}/{self.total} {text[:60]:<60}")
        else:
            self.stream.write(f"[{self.done}/{self.total}] {text}\n")
        self.stream.flush()

    def finish(self):
        if self.stream and self.tty:
            self.stream.write("\n")
            self.stream.flush()
