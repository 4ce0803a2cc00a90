"""The Markdown summary of a conformance report (report.json is the report itself).

Differences between the native and the sandboxed run are listed with their reason from
known_differences.REASONS; one without a known reason says so, so nothing is hidden.
"""
import os

from pysandbox.coverage.known_differences import KNOWN_PROBLEMS, reason_for

MAX_DIFFERENCES_SHOWN = 40
REFERENCE_CSV = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                             "..", "shared", "reference-runsc-syscalls-amd64.csv")


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _counts(run):
    counts = run.get("counts") or {}
    if not counts:
        return ""
    return "/".join(str(counts.get(k, 0)) for k in ("passed", "failed", "skipped", "errored") if k in counts)


def markdown(report):
    lines = [
        "# Syscall coverage and conformance",
        "",
        f"Generated {report['generated']} by `{report['command']}` "
        f"(platform {report['platform']}, Linux {report['host']['kernel']}, {report['host']['cpus']} CPUs, "
        f"{report['seconds']:.0f} s). Regenerate with `scripts/coverage-report.sh`, which runs "
        "`pysandbox conformance --markdown docs/coverage.md`.",
        "",
        "Every case runs natively and under `pysandbox do`; a case that does not pass natively is not "
        "counted against the sandbox.",
        "",
        "## The syscall table",
        "",
    ]
    lines += _table_section(report)
    lines += ["", "## Suites", "", "| suite | cases | pass natively | pass in the sandbox (of those) | "
              "pass in the sandbox, not natively |", "|---|---:|---:|---:|---:|"]
    for name, suite in report["suites"].items():
        lines.append(f"| {name}: {_cell(suite['description'])} | {suite['cases']} | {suite['native_passed']} | "
                     f"{suite['sandbox_passed']} of {suite['counted']} | {suite['sandbox_passed_anyway']} |")
    summary = report["summary"]
    lines += ["", f"**{summary['sandbox_passed']} of {summary['counted']}** counted cases pass in the sandbox.", ""]

    for suite in report["suites"]:
        cases = [c for c in report["cases"] if c["suite"] == suite]
        lines += [f"## {suite}", "", "| case | native | sandbox | counts native (p/f/s/e) | counts sandbox | "
                  "note |", "|---|---|---|---|---|---|"]
        for case in cases:
            note = case["sandbox"]["summary"] if case["counted"] and not case["agrees"] else \
                ("" if case["counted"] else f"not counted: {case['native']['summary']}")
            reason = reason_for(case["suite"], case["name"]) if case["counted"] and not case["agrees"] or \
                not case["counted"] else None
            if reason:
                note = f"{note} — {reason}" if note else reason
            lines.append(f"| {case['name']} | {case['native']['outcome']} ({case['native']['seconds']:.1f}s) | "
                         f"{case['sandbox']['outcome']} ({case['sandbox']['seconds']:.1f}s) | "
                         f"{_counts(case['native'])} | {_counts(case['sandbox'])} | {_cell(note[:300])} |")
        lines.append("")
        lines += _differences_section(cases)

    lines += ["## Known problems", ""] + [f"- {problem}" for problem in KNOWN_PROBLEMS] + [""]
    lines += _syscalls_section(report)
    return "\n".join(lines) + "\n"


def _table_section(report):
    table = report["table"]
    lines = [f"pysandbox: {table['full']} full, {table['partial']} partial, {table['unimplemented']} unimplemented "
             "(`pysandbox syscalls`)."]
    try:
        from pysandbox.cli_syscalls import compare_counts, load_reference
        reference = load_reference(REFERENCE_CSV)
        theirs = compare_counts(reference)
        lines.append(f"gVisor (runsc 2022-12, its own table): {theirs['full']} full, {theirs['partial']} partial, "
                     f"{theirs['unimplemented']} unimplemented (`pysandbox syscalls --compare "
                     "reference-runsc-syscalls-amd64.csv`).")
    except (OSError, ValueError):
        pass
    lines += ["", f"Full rows made by the counted sandboxed runs: {report['full_rows_exercised']}; "
              f"full rows no case made: {len(report['full_rows_not_exercised'])}"
              + (f" ({', '.join(report['full_rows_not_exercised'])})" if report["full_rows_not_exercised"] else "")
              + "."]
    return lines


def _differences_section(cases):
    lines = []
    for case in cases:
        differences = case.get("differences") or {}
        if not case["counted"] or not differences:
            continue
        lines += [f"Differences in {case['name']} (native → sandbox):", ""]
        for test, pair in list(differences.items())[:MAX_DIFFERENCES_SHOWN]:
            reason = reason_for(case["suite"], case["name"], test) or "reason not yet known"
            lines.append(f"- `{test}`: {pair['native']} → {pair['sandbox']}: {reason}")
        if len(differences) > MAX_DIFFERENCES_SHOWN:
            lines.append(f"- ... and {len(differences) - MAX_DIFFERENCES_SHOWN} more (report.json has them all)")
        lines.append("")
    return lines


def _syscalls_section(report):
    lines = ["## Per syscall", "",
             "Of the counted cases that made the syscall in the sandbox, how many passed there.", "",
             "| syscall | level | cases | passed | rate | failing cases |", "|---|---|---:|---:|---:|---|"]
    ordered = sorted(report["syscalls"].items(), key=lambda item: (item[1]["pass_rate"], item[0]))
    for name, stats in ordered:
        failing = ", ".join(stats["failing_cases"][:4]) + (" ..." if len(stats["failing_cases"]) > 4 else "")
        lines.append(f"| {name} | {stats['level']} | {stats['cases']} | {stats['passed']} | "
                     f"{stats['pass_rate']:.0%} | {failing} |")
    return lines + [""]
