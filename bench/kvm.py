#!/usr/bin/env python3
"""KVM platform benchmarks: pysandbox on kvm beside pysandbox on ptrace, native and runsc.

    python3 bench/kvm.py [--runs 5] [--only getppid ...] [--runsc-kvm-timeout 20]

The same benchmarks and method as bench/run.py (plus forkbig: fork+exec+wait of
/bin/true from a process that has touched 64 MiB; whole commands timed from
outside, loop benchmarks as (t_N - t_0) / N, medians of --runs runs, pinned
CPUs), with these runners in one run:

  native        PROG ARGS under taskset -c 0
  pysandbox     pysandbox do --platform=ptrace
  pysandbox-kvm pysandbox do --platform=kvm
  runsc         taskset -c 0 runsc --platform=ptrace --network=none do
  runsc-kvm     runsc --platform=kvm --network=none do (it hangs on PVM hosts: it is
                tried once with a short timeout, and reported as measured)

It prints kvm/ptrace, kvm/native and kvm/runsc ratios; the target on PVM is a
getppid round trip of at most 1.5x ptrace's. It then measures the floor in this
process (--floor-rounds; 0 skips it), pinned to CPU 0, medians of --runs:

  exit          one KVM_RUN of a guest looping on `syscall` (its `out` exit, registers
                through the sync area), called from Python as the sentry's loop does
  platform      the same through KvmPlatform.resume_and_wait_raw, what the sentry calls
  entry-less    KVM_RUN with immediate_exit set: the ioctl without entering the guest
  vcpu-ioctl    an ioctl number KVM rejects, on the vCPU fd (what any vCPU ioctl costs)
  ioctl         the same on /dev/null: what any ioctl costs from Python here

See docs/KVM.md for what the floor is and why.
"""
from __future__ import annotations

import argparse
import errno
import fcntl
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as base  # noqa: E402


FORKBIG = base.Bench("forkbig", "fork+exec+wait of /bin/true, 64 MiB touched", "us/op", "forkexec_loop", 20,
                     ["/bin/true", "64"], "ok {n}")


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


KVM_RUN, REJECTED_VCPU_IOCTL = 0xAE80, 0xAEFF
GUEST_CODE = 0x20000000
SYSCALL_LOOP = bytes.fromhex("0f05 ebfc")            # syscall; jmp back to it
IMMEDIATE_EXIT = 1                                    # offset of kvm_run.immediate_exit


def _per_call(function, rounds):
    start = time.perf_counter()
    for _ in range(rounds):
        function()
    return (time.perf_counter() - start) / rounds * 1e6


def _failing_ioctl(fd, request):
    def call():
        try:
            fcntl.ioctl(fd, request, 0)
        except OSError as error:
            if error.errno not in (errno.EINTR, errno.ENOTTY, errno.EINVAL):
                raise
    return call


def measure_floor(rounds, runs):
    """{name: median µs} of the KVM exit floor (module docstring), in this process on CPU 0."""
    from pysandbox.platform import get_platform
    from pysandbox.platform.kvm._vcpu import lib
    os.sched_setaffinity(0, {0})
    platform = get_platform("kvm")
    null = os.open("/dev/null", os.O_RDONLY)
    try:
        context = platform.new_process()
        space = context.address_space
        space.map(GUEST_CODE, 4096, 5)
        space.write(GUEST_CODE, SYSCALL_LOOP)
        context.regs.rip = GUEST_CODE
        vcpu = context.vcpu
        samples = {name: [] for name in ("exit", "platform", "entry-less", "vcpu-ioctl", "ioctl")}
        for _ in range(runs):
            samples["exit"].append(_per_call(lambda: lib.psk_run_inline(vcpu.index), rounds))
            samples["platform"].append(_per_call(lambda: platform.resume_and_wait_raw(context), rounds))
            vcpu.run_map[IMMEDIATE_EXIT] = 1
            samples["entry-less"].append(_per_call(_failing_ioctl(vcpu.fd, KVM_RUN), rounds))
            vcpu.run_map[IMMEDIATE_EXIT] = 0
            samples["vcpu-ioctl"].append(_per_call(_failing_ioctl(vcpu.fd, REJECTED_VCPU_IOCTL), rounds))
            samples["ioctl"].append(_per_call(_failing_ioctl(null, REJECTED_VCPU_IOCTL), rounds))
        return {name: statistics.median(values) for name, values in samples.items()}
    finally:
        os.close(null)
        platform.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bench/kvm.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", nargs="+", metavar="NAME", help="getppid openread start forkexec forkbig")
    ap.add_argument("--runsc-kvm-timeout", type=float, default=20.0)
    ap.add_argument("--floor-rounds", type=int, default=20000, help="round trips per floor sample (0: skip)")
    args = ap.parse_args(argv)
    work = tempfile.mkdtemp(prefix="pysandbox-bench-kvm-")
    try:
        progs, datafile = base.prepare(work)
        blist = [b for b in [*base.benches(datafile), FORKBIG] if not args.only or b.name in args.only]
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
        if args.floor_rounds > 0 and "pysandbox-kvm" not in unavailable:
            floor = measure_floor(args.floor_rounds, args.runs)
            ptrace = results.get("getppid", {}).get("pysandbox", {}).get("value")
            print(f"\nKVM floor in this process (median of {args.runs} x {args.floor_rounds} calls, CPU 0):")
            for name, value in floor.items():
                print(f"  {name:11} {value:6.2f} us" + (f"   {value / ptrace:.2f}x ptrace's getppid"
                                                      if ptrace and name in ("exit", "platform") else ""))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
