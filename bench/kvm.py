#!/usr/bin/env python3
"""KVM platform benchmarks: pysandbox on kvm beside pysandbox on ptrace, native and runsc.

    python3 bench/kvm.py [--runs 5] [--only getppid ...] [--runsc-kvm-timeout 20]

The same benchmarks and method as bench/run.py (whole commands timed from
outside, loop benchmarks as (t_N - t_0) / N, medians of --runs runs, pinned
CPUs), with these runners in one run:

  native        PROG ARGS under taskset -c 0
  pysandbox     pysandbox do --platform=ptrace
  pysandbox-kvm pysandbox do --platform=kvm
  runsc         taskset -c 0 runsc --platform=ptrace --network=none do
  runsc-kvm     runsc --platform=kvm --network=none do (it hangs on PVM hosts: it is
                tried once with a short timeout, and reported as measured)

It prints kvm/ptrace, kvm/native and kvm/runsc ratios; the target on PVM is a
getppid round trip of at most 1.5x ptrace's (see docs/KVM.md for the floor).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as base  # noqa: E402


class PysandboxKvm(base.Pysandbox):
    name = "pysandbox-kvm"
    platform = "kvm"


class RunscKvm(base.Runsc):
    def __init__(self, timeout):
        super().__init__(False, ["--platform=kvm", "--network=none"])
        self.name = "runsc-kvm"
        self.timeout = timeout

    def check(self):
        self.check_host()
        probe = subprocess.Popen(["runsc", *self.flags, "do", "/bin/true"], start_new_session=True,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            status = probe.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(probe.pid, signal.SIGKILL)      # the probe's own process group only
            probe.wait()
            raise base.RunnerUnavailable(f"`runsc --platform=kvm do /bin/true` hangs here "
                                         f"(no answer in {self.timeout:g} s)") from None
        if status != 0:
            raise base.RunnerUnavailable(f"runsc --platform=kvm fails here (exit {status})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bench/kvm.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", nargs="+", metavar="NAME", help="getppid openread start forkexec")
    ap.add_argument("--runsc-kvm-timeout", type=float, default=20.0)
    args = ap.parse_args(argv)
    work = tempfile.mkdtemp(prefix="pysandbox-bench-kvm-")
    try:
        progs, datafile = base.prepare(work)
        blist = [b for b in base.benches(datafile) if not args.only or b.name in args.only]
        runners = [base.Native(True), base.Pysandbox(sys.executable, []), PysandboxKvm(sys.executable, []),
                   base.Runsc(True, base.RUNSC_FLAGS), RunscKvm(args.runsc_kvm_timeout)]
        unavailable = base.check_runners(runners)
        results = base.run_matrix(blist, runners, unavailable, progs, args.runs)
        print(f"\nKVM platform benchmarks: median of {args.runs} runs")
        base.print_runners(runners, unavailable, width=14)
        names = [r.name for r in runners if r.name not in unavailable]
        head = ["benchmark", *names, "kvm/ptrace", "kvm/native", "kvm/runsc"]
        rows = []
        for b in blist:
            values = {name: result["value"] for name, result in results[b.name].items()}
            kvm_value = values.get("pysandbox-kvm")
            row = [b.name] + [base.fmt(values.get(n), b.unit) for n in names]
            row += [base.ratio(kvm_value, values.get(other)) for other in ("pysandbox", "native", "runsc")]
            rows.append(row)
        widths = [max(len(str(x)) for x in column) for column in zip(head, *rows)]
        for cells in [head, ["-" * w for w in widths], *rows]:
            print("  ".join(str(c).ljust(w) for c, w in zip(cells, widths)))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
