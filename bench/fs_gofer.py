#!/usr/bin/env python3
"""Host-file metadata speed by gofer mode: directfs against gofer, with native and runsc.

    python3 bench/fs_gofer.py [--runs 5] [--json OUT] [--runners ...]

Each operation runs N times in one program (bench/gofer_progs/gofer_ops_loop.c) on a
host directory, bind-mounted read-write into the sandbox at the same path, and is
reported per operation as (median(t_N) - median(t_0)) / N, like bench/run.py:

  native             PROG N OP DIR                        (taskset -c 0)
  pysandbox-directfs pysandbox do -v DIR:DIR --gofer-mode=directfs -- PROG ...
  pysandbox-gofer    pysandbox do -v DIR:DIR --gofer-mode=gofer -- PROG ...
  runsc              taskset -c 0 runsc --platform=ptrace --network=none do PROG ...

The default mode (pysandbox/gofer/client.py DEFAULT_GOFER_MODE) is the faster one here.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as base  # noqa: E402  (bench/run.py: runners, timing, table)

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNERS = ["native", "pysandbox-directfs", "pysandbox-gofer", "runsc"]
OPS = [("stat", "stat of an existing file", 5000), ("openread", "open/read 4 KiB/close", 3000),
       ("create", "create+close+unlink of a file", 1000), ("readdir", "list a 64-entry directory", 1000)]


class PysandboxMode(base.Pysandbox):
    def __init__(self, python, mode, directory):
        super().__init__(python, [f"--gofer-mode={mode}", "-v", f"{directory}:{directory}"])
        self.name = f"pysandbox-{mode}"


def build(work):
    out = base.compile_progs(work, os.path.join(HERE, "gofer_progs"))["gofer_ops_loop"]
    tree = os.path.join(work, "tree")
    os.makedirs(os.path.join(tree, "new"))
    os.makedirs(os.path.join(tree, "many"))
    with open(os.path.join(tree, "file"), "wb") as f:
        f.write(os.urandom(4096))
    for i in range(64):
        open(os.path.join(tree, "many", f"entry{i:02d}"), "w").close()
    return out, tree


def main(argv=None):
    ap = argparse.ArgumentParser(prog="bench/fs_gofer.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--runners", nargs="+", default=RUNNERS, choices=RUNNERS)
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args(argv)
    work = tempfile.mkdtemp(prefix="pysandbox-fs-gofer-")
    os.chmod(work, 0o755)
    try:
        prog, tree = build(work)
        runners = {
            "native": base.Native(True),
            "pysandbox-directfs": PysandboxMode(sys.executable, "directfs", tree),
            "pysandbox-gofer": PysandboxMode(sys.executable, "gofer", tree),
            "runsc": base.Runsc(True, base.RUNSC_FLAGS),
        }
        chosen = [runners[name] for name in args.runners]
        unavailable = base.check_runners(chosen)
        blist = [base.Bench(op, title, "us/op", prog, n, [op, tree], "ok {n}") for op, title, n in OPS]
        results = base.run_matrix(blist, chosen, unavailable, {}, args.runs)
        names = [runner.name for runner in chosen]
        print(f"\nhost-file operations by gofer mode: median of {args.runs} runs; "
              f"{platform.node()} {platform.release()}, {os.cpu_count()} CPUs\n")
        head = ["operation (per op)", *names, "gofer/directfs", "directfs/runsc"]
        rows = []
        for b in blist:
            values = {name: results[b.name].get(name, {}).get("value") for name in names}
            rows.append([b.name, *(base.fmt(values[name], "us/op") for name in names),
                         base.ratio(values.get("pysandbox-gofer"), values.get("pysandbox-directfs")),
                         base.ratio(values.get("pysandbox-directfs"), values.get("runsc"))])
        widths = [max(len(str(cell)) for cell in column) for column in zip(head, *rows)]
        for row in [head, ["-" * w for w in widths], *rows]:
            print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
