#!/usr/bin/env python3
"""Before/after of a change to pysandbox's file system paths, interleaved in one run.

    python3 bench/fs_ab.py BASELINE_TREE [--rounds 7] [--only stat openread create]

BASELINE_TREE is another copy of the source (a directory holding `pysandbox/`, e.g. made with
`git archive REV | tar -x -C DIR`); this checkout is "after". Each round runs every benchmark
of bench/fs.py once (after a warm-up) under native, the baseline, this checkout and runsc ptrace,
so a load change on the shared machine hits all four alike; the figures are the medians over
the rounds of (t_N - t_0) / N, as bench/fs.py reports them.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fs  # noqa: E402  (bench/fs.py: the programs and the benchmark list)
import run as base  # noqa: E402  (bench/run.py: runners and timing)

METADATA = ["stat", "openread", "create"]
# Imports pysandbox from the baseline tree even where this checkout is installed in editable mode.
_LAUNCH = ("import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]; "
           "sys.path.insert(0, sys.argv.pop(1)); from pysandbox.cli import main; sys.exit(main())")


class Baseline(base.Pysandbox):
    name = "baseline"

    def __init__(self, python, tree):
        super().__init__(python, [])
        self.tree = tree

    def command(self):
        return [self.python, "-c", _LAUNCH, self.tree]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench/fs_ab.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("baseline", metavar="BASELINE_TREE", help="a directory holding the baseline's pysandbox/")
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds (median; default 7)")
    ap.add_argument("--only", nargs="+", default=METADATA, choices=METADATA, metavar="NAME",
                    help="stat openread create (default: all three)")
    ap.add_argument("--python", default=sys.executable)
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    if not os.path.isfile(os.path.join(args.baseline, "pysandbox", "cli.py")):
        ap.error(f"{args.baseline}: no pysandbox/cli.py there")

    work = tempfile.mkdtemp(prefix="pysandbox-fsab-")
    try:
        loop = fs.prepare(work, big=False)["fs_ops_loop"]
        runners = [base.Native(True), Baseline(args.python, os.path.abspath(args.baseline)),
                   base.Pysandbox(args.python, []), base.Runsc(True, base.RUNSC_FLAGS)]
        unavailable = base.check_runners(runners)
        runners = [r for r in runners if r.name not in unavailable]
        benches = [b for b in fs.benches(work) if b.name in args.only]
        times = {(b.name, r.name, n): [] for b in benches for r in runners for n in (0, b.n)}
        for round_number in range(args.rounds):
            for b in benches:
                for r in runners:
                    for n in (b.n, 0):
                        times[b.name, r.name, n] += base.measure(r, [loop, str(n), *b.extra], 1,
                                                                 b.expect.format(n=n))
            print(f"bench: round {round_number + 1}/{args.rounds} done", file=sys.stderr, flush=True)
        names = [r.name for r in runners]
        print(f"per operation, medians of {args.rounds} interleaved rounds")
        print(f"{'benchmark':10s}" + "".join(f"{name:>12s}" for name in names) + "  ratios")
        for b in benches:
            per = {name: (statistics.median(times[b.name, name, b.n]) - statistics.median(times[b.name, name, 0]))
                   / b.n * 1e6 for name in names}
            ratios = ""
            if "runsc" in per:
                ratios = "  ".join(f"{name}/runsc {per[name] / per['runsc']:.2f}x"
                                   for name in ("baseline", "pysandbox") if name in per)
            print(f"{b.name:10s}" + "".join(f"{per[name]:10.2f}us" for name in names) + "  " + ratios)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
