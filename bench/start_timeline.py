#!/usr/bin/env python3
"""Where one `pysandbox do /bin/true` spends its time: the points pysandbox/starttrace.py marks
(PYSANDBOX_START_TRACE=1), as milliseconds since this script started the command, medians of
--runs starts; with --baseline TREE, the same for another copy of the source, the two taking
turns. The whole command's wall time is the last line of each column; the step between two
points is the column `+ms`; `faults`, the minor page faults the marking process had taken by then
(the outer process's or the sandbox process's, as the label says).

    python3 bench/start_timeline.py [--runs 21] [--baseline TREE] [-- PROG ARGS...]

For the ratio against runsc, bench/run.py --only start, which runs the peers in the same run.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import Baseline, Pysandbox  # noqa: E402

from pysandbox import starttrace  # noqa: E402

PREFIX = starttrace.PREFIX.decode() + " "
END = "(command ended)"


def one_start(runner, program):
    """{label: ms since the start} of one run, and {label: page faults its process had taken}; the
    first mark of a label counts."""
    env = dict(os.environ, PYSANDBOX_START_TRACE="1")
    start = time.monotonic_ns()
    done = subprocess.run([*runner.prefix(), *program], env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd="/tmp")
    end = time.monotonic_ns()
    if done.returncode != 0:
        raise SystemExit(f"{runner.name}: exit status {done.returncode}: {done.stderr.decode()[-400:]}")
    points, faults = {}, {}
    for line in done.stderr.decode().splitlines():
        if line.startswith(PREFIX):
            ns, _pid, count, label = line[len(PREFIX):].split(" ", 3)
            points.setdefault(label, (int(ns) - start) / 1e6)
            if int(count) >= 0:
                faults.setdefault(label, int(count))
    points[END] = (end - start) / 1e6
    return points, faults


def medians(runs):
    labels = dict.fromkeys(label for points in runs for label in sorted(points, key=points.get))
    table = {label: statistics.median(p[label] for p in runs if label in p) for label in labels}
    return dict(sorted(table.items(), key=lambda item: item[1]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--baseline", metavar="TREE", help="another copy of the source, as in bench/run.py")
    parser.add_argument("program", nargs="*", default=["/bin/true"])
    args = parser.parse_args(argv)
    python = sys.executable
    runners = [Pysandbox(python, [])]
    if args.baseline:
        runners.append(Baseline(python, os.path.abspath(args.baseline)))
    results = {runner.name: [] for runner in runners}
    for runner in runners:
        one_start(runner, args.program)                  # warm-up
    faults = {runner.name: [] for runner in runners}
    for _ in range(args.runs):
        for runner in runners:
            points, counts = one_start(runner, args.program)
            results[runner.name].append(points)
            faults[runner.name].append(counts)
    tables = {name: medians(runs) for name, runs in results.items()}
    fault_tables = {name: {label: statistics.median(c[label] for c in runs if label in c)
                           for label in tables[name] if any(label in c for c in runs)}
                    for name, runs in faults.items()}
    labels = list(tables[runners[0].name])
    for table in tables.values():
        labels += [label for label in table if label not in labels]
    header = f"{'point':40}" + "".join(f"{name:>12}{'+ms':>8}{'faults':>8}" for name in tables)
    print(f"medians of {args.runs} starts of {' '.join(args.program)}, ms since the command was started")
    print(header)
    previous = {name: 0.0 for name in tables}
    for label in labels:
        row = f"{label:40}"
        for name, table in tables.items():
            if label in table:
                count = fault_tables[name].get(label)
                row += f"{table[label]:12.1f}{table[label] - previous[name]:8.1f}"
                row += f"{count:8.0f}" if count is not None else f"{'':8}"
                previous[name] = table[label]
            else:
                row += f"{'-':>12}{'':16}"
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
