#!/usr/bin/env python3
"""File system speed: pysandbox against native and runsc ptrace, in the same run.

    python3 bench/fs.py [--runs 5] [--json OUT] [--only NAME ...] [--runners ...] [--baseline TREE]

Every runner gets the host's / (pysandbox's default overlay; runsc do's own root overlay),
so files under the work directory are read from the host and written to each sandbox's
memory. The runners and the timing are bench/run.py's (CPU pinning, one warm-up, medians):

  stat       stat(2) of an existing file                        per op
  openread   open + read 4 KiB + close                          per op
  bigread    read a 256 MiB file in 1 MiB chunks                per 1 MiB chunk (MiB/s shown too)
  bigwrite   write 64 MiB in 1 MiB chunks, twice over            per 1 MiB chunk (to each sandbox's
             memory through its overlay; natively to the host's disk cache)
  create     create (and write 11 bytes) then delete 10,000 files  per file
  tarx       busybox tar x of a 50 MB tree                      whole command less `true`'s start

--baseline TREE adds a "baseline" runner: pysandbox imported from another copy of the source
(e.g. `git archive REV | tar -x -C TREE`, then `python setup.py build_ext --inplace` there), so
an old and a new version are measured in the same run, under the same load.

Loops report (median(t_N) - median(t_0)) / N so start-up cancels out. Targets (issue 3):
metadata operations at most 1.0x runsc; large sequential reads at least 50% of native
throughput (pysandbox/native at most 2.0x on bigread).
"""
from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import statistics
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as base  # noqa: E402  (bench/run.py: runners, timing, table)

HERE = os.path.dirname(os.path.abspath(__file__))
BUSYBOX = "/bin/busybox"
BIG_MIB = 256
BIG_WRITE_MIB = 64


def benches(work):
    loop = "fs_ops_loop"
    return [
        base.Bench("stat", "stat of an existing file", "us/op", loop, 5000, ["stat", work], "ok {n} "),
        base.Bench("openread", "open/read 4 KiB/close", "us/op", loop, 3000, ["openread", work], "ok {n} "),
        base.Bench("bigread", "read 256 MiB in 1 MiB chunks (per chunk)", "us/op", loop, 2,
                   ["bigread", work], "ok {n} "),
        base.Bench("bigwrite", "write 64 MiB in 1 MiB chunks, twice (per chunk)", "us/op", loop, 2,
                   ["bigwrite", work], "ok {n} "),
        base.Bench("create", "create+write+delete of a small file", "us/op", loop, 10000,
                   ["create", work], "ok {n} "),
        base.Bench("tarx", "busybox tar x of a 50 MB tree (less start-up)", "ms", BUSYBOX, 0,
                   ["sh", "-c", f'd=$(mktemp -d {work}/out.XXXXXX) && tar xf {work}/tree.tar -C "$d"'], ""),
    ]


def prepare(work, big=True):
    """The loop program and a 4 KiB file; with big, also the 256 MiB file and the tar of a ~50 MB tree."""
    progs = base.compile_progs(work, os.path.join(HERE, "fs_progs"))
    with open(os.path.join(work, "file"), "wb") as f:
        f.write(os.urandom(4096))
    os.chmod(work, 0o755)
    if big:
        _prepare_big(work)
    return progs


def _prepare_big(work):
    chunk = os.urandom(1 << 20)
    with open(os.path.join(work, "big"), "wb") as f:
        for _ in range(BIG_MIB):
            f.write(chunk)
    with tarfile.open(os.path.join(work, "tree.tar"), "w") as tar:
        payload = os.urandom(1 << 20)
        # 40 directories: per directory 10 files of 100 KiB and 20 of 4 KiB, plus a symlink.
        for d in range(40):
            _add_dir(tar, f"tree/d{d:02d}")
            for i in range(10):
                _add_file(tar, f"tree/d{d:02d}/big{i}", payload[i * 1000:i * 1000 + 100 * 1024])
            for i in range(20):
                _add_file(tar, f"tree/d{d:02d}/small{i}", payload[i:i + 4096])
            link = tarfile.TarInfo(f"tree/d{d:02d}/link")
            link.type, link.linkname = tarfile.SYMTYPE, "big0"
            tar.addfile(link)


def _add_dir(tar, name):
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    tar.addfile(info)


def _add_file(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench/fs.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="timed runs per measurement (median; default 5)")
    ap.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="stat openread bigread bigwrite create tarx")
    ap.add_argument("--runners", nargs="+", default=base.RUNNERS, choices=base.RUNNERS)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--baseline", metavar="TREE", help="also run pysandbox from this copy of the source")
    args = ap.parse_args(argv)
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    if not os.path.exists(BUSYBOX):
        sys.exit(f"bench/fs.py: {BUSYBOX} is missing (apt-get install busybox-static)")

    work = tempfile.mkdtemp(prefix="pysandbox-fsbench-")
    try:
        progs = prepare(work)
        blist = benches(work)
        if args.only:
            blist = [b for b in blist if b.name in args.only]
        all_runners = base.make_runners(args.python)
        runners = [all_runners[n] for n in args.runners]
        if args.baseline:
            import fs_ab  # noqa: E402  (bench/fs_ab.py: the baseline runner)
            if not os.path.isfile(os.path.join(args.baseline, "pysandbox", "cli.py")):
                ap.error(f"--baseline {args.baseline}: no pysandbox/cli.py there")
            runners.insert(1, fs_ab.Baseline(args.python, os.path.abspath(args.baseline)))
        unavailable = base.check_runners(runners)

        def run_one(b, r, progs, runs):
            result = base.run_bench(b, r, progs, runs)
            if b.name == "tarx":
                start = base.measure(r, ["/bin/true"], runs, "")
                result["start_ms"] = statistics.median(start) * 1e3
                result["value"] -= result["start_ms"]
            elif b.name in ("bigread", "bigwrite") and result["value"]:
                # The loops count passes over the file: per 1 MiB chunk is per pass / its MiB.
                result["value"] /= BIG_MIB if b.name == "bigread" else BIG_WRITE_MIB
                result["mib_per_s"] = 1e6 / result["value"]
            return result

        results = base.run_matrix(blist, runners, unavailable, progs, args.runs, run=run_one)

        names = [r.name for r in runners]
        print()
        print(f"pysandbox file system benchmarks: median of {args.runs} runs; "
              f"{platform.node()} {platform.release()}, {os.cpu_count()} CPUs")
        base.print_runners(runners, unavailable)
        print()
        base.print_table(results, blist, names)
        for bench_name, verb in (("bigread", "reads"), ("bigwrite", "writes")):
            if bench_name not in results:
                continue
            speeds = {n: v.get("mib_per_s") for n, v in results[bench_name].items() if v.get("mib_per_s")}
            print(f"\n{bench_name} throughput: " + ", ".join(f"{n} {s:.0f} MiB/s" for n, s in speeds.items()))
            for name in ("baseline", "pysandbox"):
                if speeds.get(name) and speeds.get("native"):
                    print(f"{name} {verb} at {speeds[name] / speeds['native']:.0%} of native throughput")
        if args.json:
            base.write_json(args.json, args.runs, blist, results)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
