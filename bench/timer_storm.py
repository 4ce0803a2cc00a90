#!/usr/bin/env python3
"""Timer storms: stress-ng's timer stressor (a POSIX timer at --freq Hz whose handler re-arms
it) under pysandbox on ptrace and kvm, beside native and runsc in the same run.

    python3 bench/timer_storm.py [--runs 3] [--seconds 3] [--freq 1000000] [--runners ...]

Each runner runs `stress-ng --timer 1 --timer-freq FREQ --timeout SECONDS --metrics-brief`
(runners as in bench/run.py: native and runsc pinned to CPU 0, pysandbox pinning itself),
taking turns round by round. Reported per runner, medians of --runs: the timer signals
handled per second (stress-ng's bogo ops/s, real time) and the wall time of the whole
command, which shows whether the stressor stopped on time (the SIGALRM that ends it must
get through the storm). Ratios are against native and against runsc.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402
from kvm import PysandboxKvm  # noqa: E402

STRESS_NG = "/usr/bin/stress-ng"


def make_runners(python):
    runners = bench.make_runners(python)
    return {"native": runners["native"], "pysandbox": runners["pysandbox"],
            "pysandbox-kvm": PysandboxKvm(python, []), "runsc": runners["runsc"]}


def one_run(runner, seconds, freq):
    argv = [STRESS_NG, "--timer", "1", "--timer-freq", str(freq), "--timeout", str(seconds), "--metrics-brief"]
    result = runner.run(argv, timeout=60 + 10 * seconds)
    rate = re.search(r"timer\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+([\d.]+)", result.err)
    if result.status != 0 or rate is None:
        raise bench.RunnerUnavailable(f"stress-ng exited {result.status}: {bench.last_line(result.err)}")
    return float(rate.group(1)), result.seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--freq", type=int, default=1_000_000)
    parser.add_argument("--runners", nargs="+", default=["native", "pysandbox", "pysandbox-kvm", "runsc"])
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args(argv)
    if not os.path.exists(STRESS_NG):
        print(f"timer_storm: {STRESS_NG} is missing (apt-get install stress-ng)", file=sys.stderr)
        return 2
    known = make_runners(args.python)
    runners, unavailable = [], {}
    for name in args.runners:
        try:
            known[name].check()
            runners.append(known[name])
        except bench.RunnerUnavailable as reason:
            unavailable[name] = str(reason)
    samples = {runner.name: [] for runner in runners}
    for _ in range(args.runs):
        for runner in list(runners):
            try:
                samples[runner.name].append(one_run(runner, args.seconds, args.freq))
            except bench.RunnerUnavailable as reason:
                unavailable[runner.name] = str(reason)
                runners.remove(runner)
                samples.pop(runner.name)
    medians = {name: (statistics.median(r for r, _ in runs), statistics.median(w for _, w in runs))
               for name, runs in samples.items() if runs}
    print(f"stress-ng --timer 1 --timer-freq {args.freq} --timeout {args.seconds}: medians of {args.runs} runs")
    print(f"{'runner':15} {'signals/s':>10} {'wall s':>7} {'vs native':>10} {'vs runsc':>9}")
    for name, (rate, wall) in medians.items():
        versus = bench.versus_peers(rate, {other: rate_ for other, (rate_, _) in medians.items()})
        print(f"{name:15} {rate:10.0f} {wall:7.2f} {versus[0]:>10} {versus[1]:>9}")
    bench.print_unavailable(unavailable)
    return 0


if __name__ == "__main__":
    sys.exit(main())
