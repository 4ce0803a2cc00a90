#!/usr/bin/env python3
"""Benchmarks: pysandbox (ptrace) side by side with native and runsc.

    python3 bench/run.py [--runs 5] [--json OUT] [--only NAME ...] [--runners ...] [--baseline TREE]

Every benchmark is a whole command, timed from outside (wall clock), in the
same run for every runner:

  native     PROG ARGS                                    (under taskset -c 0)
  pysandbox  python3 -m pysandbox do --platform=ptrace -- PROG ARGS
             (pysandbox pins itself and its stubs to one CPU by default)
  runsc      taskset -c 0 runsc --platform=ptrace --network=none do PROG ARGS
  runsc-nopin              runsc --platform=ptrace --network=none do PROG ARGS
             Pinning makes runsc's ptrace platform about 3x faster per syscall
             on these VMs but slows its start-up, so both are measured and the
             pysandbox/runsc ratio is taken against the better of the two.

Loop benchmarks run the program with N iterations and with 0 iterations and
report (median(t_N) - median(t_0)) / N, so start-up cost cancels out. The
start benchmark reports the median wall time of `do /bin/true` itself. The
runners take turns, one run each per round (after one warm-up each), so that
a change of load on the shared machine hits them all alike.

A runner that cannot run here (runsc missing, not root, pysandbox not built
yet) is reported with the reason, and the other runners carry on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PROGS_DIR = os.path.join(HERE, "progs")

RUNSC_FLAGS = ["--platform=ptrace", "--network=none"]
RUNNERS = ["native", "pysandbox", "runsc", "runsc-nopin"]
TIMEOUT = 600


@dataclass
class Bench:
    name: str
    title: str
    unit: str                    # "us/op" or "ms"
    prog: str                    # C program name in bench/progs, or an absolute path
    n: int                       # iterations; 0 means "time the command itself"
    extra: list = field(default_factory=list)   # arguments after N
    expect: str = ""             # stdout must start with this (after formatting)


def benches(datafile: str) -> list[Bench]:
    return [
        Bench("getppid", "getppid loop (raw syscall)", "us/op",
              "getppid_loop", 20000, [], "ok {n} "),
        Bench("openread", "open+read+close of a small file", "us/op",
              "openread_loop", 5000, [datafile], "ok {n} "),
        Bench("start", "start of `do /bin/true` (whole command)", "ms",
              "/bin/true", 0, [], ""),
        Bench("forkexec", "fork+exec+wait of /bin/true", "us/op",
              "forkexec_loop", 50, ["/bin/true"], "ok {n}"),
        Bench("pidfdwait", "fork, then pidfd_open+poll+waitid(P_PIDFD)", "us/op",
              "pidfd_wait_loop", 200, [], "ok {n}"),
    ]


class RunnerUnavailable(Exception):
    pass


class Runner:
    name = "?"
    pin = False          # run the command with its CPU affinity set to CPU 0

    def prefix(self) -> list[str]:
        raise NotImplementedError

    def describe(self) -> str:
        return (("taskset -c 0 " if self.pin else "")
                + " ".join(self.prefix() + ["PROG", "ARGS..."]))

    def run(self, argv: list[str], timeout: float = TIMEOUT) -> "Timed":
        return run_timed(self.prefix() + argv, timeout=timeout, pin=self.pin)

    def check(self) -> None:
        """Raise RunnerUnavailable with a reason if this runner can't run here."""
        res = self.run(["/bin/true"], timeout=120)
        if res.status != 0:
            raise RunnerUnavailable(
                f"`{' '.join(self.prefix())} /bin/true` exited {res.status}: "
                f"{last_line(res.err) or last_line(res.out) or 'no output'}")


class Native(Runner):
    name = "native"

    def __init__(self, pin: bool):
        self.pin = pin

    def prefix(self):
        return []


class Pysandbox(Runner):
    name = "pysandbox"
    platform = "ptrace"

    def __init__(self, python: str, extra: list[str]):
        self.python = python
        self.extra = extra

    def command(self) -> list[str]:
        # The `pysandbox` command installed beside the interpreter, as users run it;
        # `python -m pysandbox` would add runpy's start-up to every figure.
        script = os.path.join(os.path.dirname(self.python), "pysandbox")
        return [script] if os.access(script, os.X_OK) else [self.python, "-m", "pysandbox"]

    def prefix(self):
        return [*self.command(), "do", f"--platform={self.platform}", *self.extra, "--"]


# Started as the `pysandbox` launcher starts (scripts/write-launcher.sh: `python -S`, site-packages
# put on sys.path by hand), with the other tree first; without site, this checkout's editable
# install is not on the path either.
_BASELINE_LAUNCH = ("import sys; sys.path[:0] = [sys.argv.pop(1)]; sys.path.append(sys.argv.pop(1)); "
                    "from pysandbox.cli import run; run()")


class Baseline(Pysandbox):
    """pysandbox from another copy of the source (a directory holding `pysandbox/`, e.g. made with
    `git archive REV pysandbox | tar -x -C DIR`, its C modules built or copied in): "before"."""
    name = "baseline"

    def __init__(self, python: str, tree: str, extra: list[str] = ()):
        super().__init__(python, list(extra))
        self.tree = tree

    def command(self):
        if not hasattr(self, "site_packages"):
            self.site_packages = subprocess.run(
                [self.python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                capture_output=True, text=True, check=True).stdout.strip()
        return [self.python, "-S", "-c", _BASELINE_LAUNCH, self.tree, self.site_packages]


class Runsc(Runner):
    def __init__(self, pin: bool, flags: list[str]):
        self.pin = pin
        self.flags = flags
        self.name = "runsc" if pin else "runsc-nopin"

    def prefix(self):
        return ["runsc", *self.flags, "do"]

    def check(self):
        self.check_host()
        super().check()

    @staticmethod
    def check_host():
        """Raise RunnerUnavailable if runsc is missing or cannot `do` without root."""
        if not shutil.which("runsc"):
            raise RunnerUnavailable("runsc is not installed (apt-get install runsc)")
        if os.geteuid() != 0:
            raise RunnerUnavailable("runsc do needs root here; run the benchmark as root")


def make_runners(python: str, pysandbox_flags: list[str] = (), runsc_flags: list[str] = (),
                 pin: bool = True) -> dict:
    """{name: Runner} for every name in RUNNERS."""
    return {
        "native": Native(pin),
        "pysandbox": Pysandbox(python, list(pysandbox_flags)),
        "runsc": Runsc(True, RUNSC_FLAGS + list(runsc_flags)),
        "runsc-nopin": Runsc(False, RUNSC_FLAGS + list(runsc_flags)),
    }


@dataclass
class Timed:
    status: int
    seconds: float
    out: str
    err: str


def run_timed(argv: list[str], timeout: float = TIMEOUT, pin: bool = False) -> Timed:
    """Wall time of one whole command. With pin, the command (and everything
    it starts) runs with its affinity set to CPU 0, as under `taskset -c 0`
    but without taskset's own exec in the measurement: this process pins
    itself for the duration, and the child inherits the affinity."""
    saved = os.sched_getaffinity(0)
    if pin:
        os.sched_setaffinity(0, {0})
    t0 = time.perf_counter()
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, cwd="/tmp")
    except FileNotFoundError as e:
        return Timed(127, 0.0, "", str(e))
    except subprocess.TimeoutExpired as e:
        return Timed(-1, time.perf_counter() - t0, "", f"timed out after {e.timeout}s")
    finally:
        if pin:
            os.sched_setaffinity(0, saved)
    dt = time.perf_counter() - t0
    status = p.returncode if p.returncode >= 0 else 128 - p.returncode
    return Timed(status, dt,
                 p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace"))


def last_line(s: str) -> str:
    lines = [ln for ln in s.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""


def compile_progs(outdir: str, src_dir: str = PROGS_DIR) -> dict[str, str]:
    """Compile every C program in src_dir into outdir: {name: path}."""
    gcc = shutil.which("gcc")
    if not gcc:
        sys.exit("bench: gcc not found (bash scripts/install.sh installs it)")
    paths = {}
    for fn in sorted(os.listdir(src_dir)):
        if not fn.endswith(".c"):
            continue
        name = fn[:-2]
        out = os.path.join(outdir, name)
        # Static: every runner pays the same (no dynamic loading) and the loop
        # is what gets measured.
        cmd = [gcc, "-O2", "-static", "-o", out, os.path.join(src_dir, fn)]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            sys.exit(f"bench: compiling {fn} failed:\n{r.stdout.decode(errors='replace')}")
        paths[name] = out
    return paths


def measure(runner: Runner, argv: list[str], runs: int, expect: str, warmup: bool = True) -> list[float]:
    """Run argv `runs` times (after one warm-up, unless told not to); return the wall times."""
    times = []
    for i in range(0 if warmup else 1, runs + 1):
        res = runner.run(argv)
        if res.status != 0 or not res.out.startswith(expect):
            raise RunnerUnavailable(
                f"`{' '.join(argv)}` exited {res.status}"
                + (f", stdout {res.out.strip()[:60]!r}" if res.status == 0 else "")
                + f": {last_line(res.err) or 'no stderr'}")
        if i > 0:              # the first run only warms caches
            times.append(res.seconds)
    return times


def run_bench(b: Bench, runner: Runner, progs: dict, runs: int, warmup: bool = True) -> dict:
    prog = progs.get(b.prog, b.prog)
    if b.n == 0:
        t = measure(runner, [prog, *b.extra], runs, b.expect, warmup)
        return {"value": statistics.median(t) * 1e3, "times": t}
    t_n = measure(runner, [prog, str(b.n), *b.extra], runs, b.expect.format(n=b.n), warmup)
    t_0 = measure(runner, [prog, "0", *b.extra], runs, b.expect.format(n=0), warmup)
    per = (statistics.median(t_n) - statistics.median(t_0)) / b.n
    return {"value": per * 1e6, "times_n": t_n, "times_0": t_0, "n": b.n}


def run_interleaved(blist: list, runners: list, unavailable: dict, progs: dict, runs: int) -> dict:
    """run_matrix's results, with the runners taking turns: each round measures every runner once
    (after one warm-up each), so that a change of load on the shared machine, which these VMs see
    all the time, hits every runner alike and the ratios stay fair."""
    results: dict = {b.name: {} for b in blist}
    for b in blist:
        live = [r for r in runners if r.name not in unavailable]
        for r in runners:
            if r.name in unavailable:
                results[b.name][r.name] = {"value": None, "error": unavailable[r.name]}
        print(f"bench: {b.name} / {', '.join(r.name for r in live)} in turns ...", file=sys.stderr, flush=True)
        rounds: dict = {r.name: [] for r in live}
        for round_number in range(runs):
            for r in list(live):
                try:
                    rounds[r.name].append(run_bench(b, r, progs, 1, warmup=round_number == 0))
                except RunnerUnavailable as e:
                    print(f"bench: {b.name} / {r.name} failed: {e}", file=sys.stderr)
                    results[b.name][r.name] = {"value": None, "error": str(e)}
                    live.remove(r)
        for r in live:
            results[b.name][r.name] = _merge(rounds[r.name])
    return results


def _merge(results: list) -> dict:
    """One result from single-run results of run_bench: medians over all their times."""
    if "times" in results[0]:
        times = [t for r in results for t in r["times"]]
        return {"value": statistics.median(times) * 1e3, "times": times}
    t_n = [t for r in results for t in r["times_n"]]
    t_0 = [t for r in results for t in r["times_0"]]
    n = results[0]["n"]
    return {"value": (statistics.median(t_n) - statistics.median(t_0)) / n * 1e6, "times_n": t_n,
            "times_0": t_0, "n": n}


def check_runners(runners: list) -> dict:
    """{runner name: reason} for the runners that cannot run here (each reported on stderr)."""
    unavailable = {}
    for r in runners:
        try:
            r.check()
        except RunnerUnavailable as e:
            unavailable[r.name] = str(e)
            print(f"bench: {r.name} is not available: {e}", file=sys.stderr)
    return unavailable


def prepare(work: str) -> tuple[dict, str]:
    """The compiled bench/progs and the small data file openread reads, in work."""
    datafile = os.path.join(work, "small.txt")
    with open(datafile, "w") as f:
        f.write("pysandbox benchmark data\n" * 5)
    os.chmod(work, 0o755)
    return compile_progs(work), datafile


def run_matrix(blist: list, runners: list, unavailable: dict, progs: dict, runs: int,
               run=run_bench) -> dict:
    """{bench name: {runner name: result}} of every benchmark under every runner that can run;
    run(b, runner, progs, runs) measures one (default run_bench)."""
    results: dict = {b.name: {} for b in blist}
    for b in blist:
        for r in runners:
            if r.name in unavailable:
                results[b.name][r.name] = {"value": None, "error": unavailable[r.name]}
                continue
            print(f"bench: {b.name} / {r.name} ...", file=sys.stderr, flush=True)
            try:
                results[b.name][r.name] = run(b, r, progs, runs)
            except RunnerUnavailable as e:
                print(f"bench: {b.name} / {r.name} failed: {e}", file=sys.stderr)
                results[b.name][r.name] = {"value": None, "error": str(e)}
    return results


def print_runners(runners: list, unavailable: dict, width: int = 12) -> None:
    for r in runners:
        print(f"  {r.name:{width}} {r.describe()}"
              + (f"   [unavailable: {unavailable[r.name]}]" if r.name in unavailable else ""))


def write_json(path: str, runs: int, blist: list, results: dict, **extra) -> None:
    """The results as a JSON document: when, host, runs, extra keys, benchmarks (with ratios)."""
    doc = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": {"node": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count()},
        "runs": runs,
        **extra,
        "benchmarks": {b.name: {"title": b.title, "unit": b.unit, "n": b.n,
                                "ratios": ratios(results[b.name]),
                                **results[b.name]} for b in blist},
    }
    with open(path, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


def fmt(v, unit):
    if v is None:
        return "n/a"
    if unit == "ms":
        return f"{v:.1f} ms"
    return f"{v:.2f} us" if v < 100 else f"{v:.0f} us"


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return "n/a"
    return f"{a / b:.2f}x"


def versus_peers(ours, values: dict, peers=("native", "runsc")) -> list[str]:
    """`ours` as a ratio of each peer's figure in `values` ("-" where a peer has none)."""
    return ["-" if values.get(peer) is None or ours is None else ratio(ours, values[peer]) for peer in peers]


def print_unavailable(unavailable: dict, width: int = 15) -> None:
    for name, reason in unavailable.items():
        print(f"{name:{width}} unavailable: {reason}")


def best_runsc(vals: dict):
    """The better (lower) of the pinned and unpinned runsc figures."""
    got = [v for k, v in vals.items() if k.startswith("runsc") and v is not None]
    return min(got) if got else None


def ratios(res: dict) -> dict:
    vals = {n: v.get("value") for n, v in res.items()}
    out = {}
    p = vals.get("pysandbox")
    if p is not None and vals.get("native"):
        out["pysandbox/native"] = p / vals["native"]
    r = best_runsc(vals)
    if p is not None and r:
        out["pysandbox/runsc"] = p / r
    if vals.get("baseline") is not None and r:
        out["baseline/runsc"] = vals["baseline"] / r
    return out


def print_table(results: dict, blist: list[Bench], runner_names: list[str]) -> None:
    head = ["benchmark", *runner_names]
    has_runsc = any(n.startswith("runsc") for n in runner_names)
    if "pysandbox" in runner_names and "native" in runner_names:
        head.append("pysandbox/native")
    if "pysandbox" in runner_names and has_runsc:
        head.append("pysandbox/runsc")
    if "baseline" in runner_names and has_runsc:
        head.append("baseline/runsc")
    rows = []
    for b in blist:
        r = results[b.name]
        vals = {n: r.get(n, {}).get("value") for n in runner_names}
        unit = "per op" if b.unit == "us/op" else "whole command"
        row = [f"{b.name} ({unit})"] + [fmt(vals[n], b.unit) for n in runner_names]
        if "pysandbox/native" in head:
            row.append(ratio(vals["pysandbox"], vals["native"]))
        if "pysandbox/runsc" in head:
            row.append(ratio(vals["pysandbox"], best_runsc(vals)))
        if "baseline/runsc" in head:
            row.append(ratio(vals["baseline"], best_runsc(vals)))
        rows.append(row)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))
    print(line(head))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="timed runs per measurement (median; default 5)")
    ap.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    ap.add_argument("--only", nargs="+", metavar="NAME",
                    help="benchmarks to run: getppid openread start forkexec")
    ap.add_argument("--runners", nargs="+", default=RUNNERS, choices=RUNNERS)
    ap.add_argument("--python", default=sys.executable,
                    help="interpreter whose `pysandbox` command (or `-m pysandbox`) is measured "
                         "(default: this one)")
    ap.add_argument("--pysandbox-flag", action="append", default=[], metavar="FLAG",
                    help="extra flag for `pysandbox do` (repeatable), e.g. --pysandbox-flag=--no-pin")
    ap.add_argument("--runsc-flag", action="append", default=[], metavar="FLAG",
                    help="extra global flag for runsc (repeatable)")
    ap.add_argument("--no-taskset", action="store_true",
                    help="don't pin the native runs to CPU 0")
    ap.add_argument("--baseline", metavar="TREE",
                    help="also measure pysandbox from TREE (a directory holding another pysandbox/), as "
                         "runner 'baseline'")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be at least 1")

    work = tempfile.mkdtemp(prefix="pysandbox-bench-")
    try:
        progs, datafile = prepare(work)
        blist = benches(datafile)
        if args.only:
            unknown = set(args.only) - {b.name for b in blist}
            if unknown:
                ap.error(f"unknown benchmark(s): {' '.join(sorted(unknown))}")
            blist = [b for b in blist if b.name in args.only]

        all_runners = make_runners(args.python, args.pysandbox_flag, args.runsc_flag,
                                   pin=not args.no_taskset)
        runners = [all_runners[n] for n in args.runners]
        if args.baseline:
            if not os.path.isfile(os.path.join(args.baseline, "pysandbox", "cli.py")):
                ap.error(f"--baseline {args.baseline}: no pysandbox/cli.py there")
            runners.insert(runners.index(all_runners["pysandbox"]) if "pysandbox" in args.runners else 0,
                           Baseline(args.python, os.path.abspath(args.baseline), args.pysandbox_flag))

        unavailable = check_runners(runners)
        results = run_interleaved(blist, runners, unavailable, progs, args.runs)

        names = [r.name for r in runners]
        print()
        print(f"pysandbox benchmarks: median of {args.runs} runs; "
              f"{platform.node()} {platform.release()}, {os.cpu_count()} CPUs")
        print_runners(runners, unavailable)
        print()
        print_table(results, blist, names)

        if args.json:
            write_json(args.json, args.runs, blist, results,
                       runners={r.name: {"command": r.describe(),
                                         "unavailable": unavailable.get(r.name)} for r in runners})
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
