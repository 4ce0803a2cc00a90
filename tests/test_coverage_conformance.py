"""`pysandbox conformance` on a small subset of its three suites, and the report it writes.
The full run is its own command (scripts/coverage-report.sh)."""
import json
import os

import pytest

from helpers import run_pysandbox
from pysandbox import cli, cli_coverage
from pysandbox.coverage import conformance, seccomp, suites
from pysandbox.coverage.suites import Case, Suite, Verdict


def test_cli_constants_agree_with_the_modules():
    assert cli_coverage.SUITE_NAMES == conformance.SUITE_NAMES
    assert cli_coverage.DEFAULT_SUITES == conformance.DEFAULT_SUITES
    assert set(cli_coverage.SECCOMP_RUNTIMES) == set(seccomp.RUNTIMES)


def test_small_run_of_all_three_suites(tmp_path):
    for needed, package in ((suites.STRESS_NG, "stress-ng"),
                            (os.path.join(suites.CPYTHON_TESTS, "test_stat.py"), "libpython3.11-testsuite")):
        if not os.path.exists(needed):
            pytest.fail(f"{needed} is missing: run scripts/install.sh (apt-get install {package})", pytrace=False)
    report_dir = tmp_path / "report"
    result = run_pysandbox(["conformance", "--report", str(report_dir), "--only", "time_mem",
                            "--only", "test_stat", "--only", "dup"], timeout=300)
    assert result.status == 0, result
    # Not a terminal: one plain progress line per run, native and sandboxed.
    progress = [line for line in result.err.splitlines() if line.startswith("[")]
    assert len(progress) == 1 + 3 * 2, result.err
    assert "conformance: 3 of 3 counted cases pass in the sandbox" in result.out

    report = json.loads((report_dir / "report.json").read_text())
    assert [(c["suite"], c["name"]) for c in report["cases"]] == [
        ("ctests", "time_mem"), ("cpython", "test_stat"), ("stress-ng", "dup")]
    for case in report["cases"]:
        assert case["counted"] and case["agrees"], case
        assert case["native"]["outcome"] == case["sandbox"]["outcome"] == "passed"
    cpython = report["cases"][1]
    # Per module: passed/failed/skipped/errored in both runs, and no sub-test differs.
    assert cpython["native"]["counts"]["passed"] > 5
    assert cpython["native"]["counts"] == cpython["sandbox"]["counts"]
    assert cpython["differences"] == {}
    # Per syscall: pass rates from the sandboxed runs' profiles.
    assert report["syscalls"]["nanosleep"]["cases"] >= 1
    assert report["syscalls"]["nanosleep"]["pass_rate"] == 1.0
    assert report["suites"]["stress-ng"]["sandbox_passed"] == 1

    markdown = (report_dir / "report.md").read_text()
    assert "| time_mem | passed" in markdown and "| test_stat | passed" in markdown
    assert "## Per syscall" in markdown and "| nanosleep | full |" in markdown


class _Scripted(Suite):
    """A suite of shell commands, to show how native failures and sandbox failures count."""
    name = "scripted"
    description = "shell commands"

    def cases(self, workdir, quick=False, only=()):
        commands = {"agrees": "exit 0", "fails-natively": "exit 1",
                    "differs": "test $$ != 1"}      # the sandbox's first process is pid 1
        return [Case(self.name, name, ["/bin/sh", "-c", command], timeout=30) for name, command in commands.items()]

    def judge(self, case, status, output):
        return Verdict("passed" if status == 0 else "failed", f"exit status {status}")


def test_native_failures_are_not_counted_against_the_sandbox(tmp_path, monkeypatch):
    monkeypatch.setitem(suites.SUITES, "scripted", _Scripted())
    monkeypatch.setitem(conformance.SUITES, "scripted", suites.SUITES["scripted"])
    report = conformance.run_conformance(["scripted"], report_dir=str(tmp_path))
    cases = {case["name"]: case for case in report["cases"]}
    assert cases["agrees"]["counted"] and cases["agrees"]["agrees"]
    assert not cases["fails-natively"]["counted"] and cases["fails-natively"]["agrees"] is None
    assert cases["differs"]["counted"] and cases["differs"]["agrees"] is False
    assert report["suites"]["scripted"]["sandbox_passed"] == 1
    assert report["summary"]["native_failed"] >= 1
    assert report["summary"]["counted"] == report["summary"]["cases"] - report["summary"]["native_failed"]
    assert "not counted" in (tmp_path / "report.md").read_text()


def test_missing_package_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(suites, "STRESS_NG", str(tmp_path / "no-stress-ng"))
    status = cli.main(["conformance", "--suite", "stress-ng", "--report", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2
    assert err == "pysandbox: the stress-ng suite needs stress-ng: apt-get install stress-ng\n"
    monkeypatch.setattr(suites, "CPYTHON_TESTS", str(tmp_path / "no-tests"))
    assert cli.main(["conformance", "--suite", "cpython", "--report", str(tmp_path)]) == 2
    assert "apt-get install libpython3.11-testsuite" in capsys.readouterr().err


def test_unknown_suite_or_test_is_one_line():
    result = run_pysandbox(["conformance", "--suite", "ltp"])
    assert result.status == 2 and "invalid choice: 'ltp'" in result.err and "ctests" in result.err
    assert result.err.count("\n") == 1
    default_report = "/conformance-report"  # run_pysandbox runs the command in /
    existed = os.path.exists(default_report)
    result = run_pysandbox(["conformance", "--suite", "ctests", "--only", "no_such_test"])
    assert result.status == 2
    assert result.err == "pysandbox: no test named no_such_test in the suites ctests\n"
    assert existed or not os.path.exists(default_report), "a refused run left its report directory behind"
