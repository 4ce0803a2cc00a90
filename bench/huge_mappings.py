#!/usr/bin/env python3
"""Huge sparse mappings: tests/cprogs/mem_huge_mappings.c (64 GiB touched at its ends, forked,
grown to 128 GiB by mremap; a 1 TiB PROT_NONE reservation protected in pieces and whole,
committed with MAP_FIXED, unmapped) under pysandbox on ptrace and kvm, beside native and runsc.

    python3 bench/huge_mappings.py [--runs 5] [--runners native pysandbox pysandbox-kvm runsc]

Whole commands timed from outside, runners taking turns round by round (after one warm-up
each), native and runsc pinned to CPU 0 as in bench/run.py; medians of --runs. Then one more
run per runner under a small Python parent gives the peak resident set of the command's
processes (getrusage RUSAGE_CHILDREN: the largest one), which must stay small whatever the
workload maps. The program's output must be the same as native's under every runner."""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402
from kvm import PysandboxKvm  # noqa: E402

PROGRAM = os.path.join(bench.REPO, "tests", "cprogs", "mem_huge_mappings.c")
PEAK_RSS = ("import resource, subprocess, sys\n"
            "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")


def peak_rss_kib(runner, argv):
    done = subprocess.run([sys.executable, "-c", PEAK_RSS, *runner.prefix(), *argv], capture_output=True,
                          text=True, timeout=bench.TIMEOUT, cwd="/tmp")
    return int(done.stdout.split()[-1]) if done.stdout.strip() else None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--runners", nargs="+", default=["native", "pysandbox", "pysandbox-kvm", "runsc"])
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args(argv)
    known = dict(bench.make_runners(args.python), **{"pysandbox-kvm": PysandboxKvm(args.python, [])})
    runners = [known[name] for name in args.runners]
    unavailable = bench.check_runners(runners)
    runners = [runner for runner in runners if runner.name not in unavailable]
    with tempfile.TemporaryDirectory() as work:
        os.chmod(work, 0o755)
        program = os.path.join(work, "mem_huge_mappings")
        subprocess.run(["gcc", "-O2", "-static", "-o", program, PROGRAM], check=True)
        expected = subprocess.run([program], capture_output=True, text=True).stdout
        times = {runner.name: [] for runner in runners}
        for round_ in range(args.runs + 1):
            for runner in list(runners):
                result = runner.run([program])
                if result.status != 0 or result.out != expected:
                    unavailable[runner.name] = (f"exited {result.status}, output "
                                                f"{'as native' if result.out == expected else 'differs'}: "
                                                f"{bench.last_line(result.err) or 'no stderr'}")
                    runners.remove(runner)
                elif round_:                                  # round 0 only warms caches
                    times[runner.name].append(result.seconds)
        rss = {runner.name: peak_rss_kib(runner, [program]) for runner in runners}
    medians = {runner.name: statistics.median(times[runner.name]) for runner in runners}
    print(f"mem_huge_mappings (whole command): medians of {args.runs} runs")
    print(f"{'runner':15} {'wall ms':>8} {'vs native':>10} {'vs runsc':>9} {'peak RSS MiB':>13}")
    for name, seconds in medians.items():
        versus = bench.versus_peers(seconds, medians)
        peak = f"{rss[name] / 1024:.1f}" if rss[name] is not None else "-"
        print(f"{name:15} {seconds * 1000:8.1f} {versus[0]:>10} {versus[1]:>9} {peak:>13}")
    bench.print_unavailable(unavailable)
    return 0


if __name__ == "__main__":
    sys.exit(main())
