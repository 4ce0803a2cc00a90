#!/usr/bin/env python3
"""The cost of the workload's own seccomp filters (docs/SECCOMP_GUEST.md): a getppid loop with no
filter, under a 20-rule libseccomp-shaped filter, under one whose rules for other syscalls also
read an argument, and under one whose rule for getppid itself reads an argument that changes on
every call (the worst case: each call runs the interpreter), side by side with native and runsc
in the same run.

    python3 bench/seccomp_guest.py [--runs 5] [--n 20000] [--runners native pysandbox pysandbox-kvm runsc]

Runners, pinning and the loop method as in bench/run.py: (median(t_N) - median(t_0)) / N, so the
start-up and the filter's installation cancel out. Ratios are against native and against runsc.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402
from kvm import PysandboxKvm  # noqa: E402

PROGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seccomp_progs")


def benches(n):
    loop = "seccomp_getppid_loop"
    return [
        bench.Bench("nofilter", "getppid, no filter", "us/op", loop, n, ["0"], "ok {n} "),
        bench.Bench("filter20", "getppid, 20-rule filter on nr", "us/op", loop, n, ["20"], "ok {n} "),
        bench.Bench("filter20args", "getppid, 20 rules reading args[0]", "us/op", loop, n, ["20", "args"], "ok {n} "),
        bench.Bench("ownargs", "getppid, its rule reads a new args[0]", "us/op", loop, n, ["20", "own-args"], "ok {n} "),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--runners", nargs="+", default=["native", "pysandbox", "pysandbox-kvm", "runsc"])
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args(argv)
    known = bench.make_runners(args.python)
    known["pysandbox-kvm"] = PysandboxKvm(args.python, [])
    unknown = [name for name in args.runners if name not in known]
    if unknown:
        print(f"seccomp_guest: unknown runner {unknown[0]!r} (known: {', '.join(known)})", file=sys.stderr)
        return 2
    runners = [known[name] for name in args.runners]
    unavailable = bench.check_runners(runners)
    with tempfile.TemporaryDirectory() as work:
        progs = bench.compile_progs(work, PROGS)
        blist = benches(args.n)
        results = bench.run_interleaved(blist, runners, unavailable, progs, args.runs)
    print(f"getppid loops, N={args.n}, medians of {args.runs} runs (us per call)")
    names = [r.name for r in runners]
    print(f"{'bench':40}" + "".join(f"{name:>15}" for name in names) + f"{'vs native':>11}{'vs runsc':>10}")
    for b in blist:
        row = results.get(b.name, {})
        values = {name: row[name]["value"] for name in names if isinstance(row.get(name), dict) and "value" in row[name]}
        cells = "".join(f"{values[name]:15.2f}" if name in values else f"{row.get(name, '-')!s:>15.15}"
                        for name in names)
        ours = values.get("pysandbox")
        versus = bench.versus_peers(ours, values)
        print(f"{b.title:40}{cells}{versus[0]:>11}{versus[1]:>10}")
    bench.print_unavailable(unavailable)
    return 0


if __name__ == "__main__":
    sys.exit(main())
