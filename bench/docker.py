#!/usr/bin/env python3
"""`docker run --rm bb /bin/true` under runc, runsc and pysandbox, in the same run.

    python3 bench/docker.py [--runs 10] [--json OUT]

Each runtime runs the same busybox image (a `docker import` of a busybox-static
rootfs built here, no network needed) with --network=none, `--runs` times, the
runtimes interleaved so that drifts of the machine hit them all alike. Reported:
median and min/max wall time of the whole `docker run` command, and the ratios
pysandbox/runc and pysandbox/runsc. runsc is registered as
`runsc --platform=ptrace --network=none` (scripts/start-docker.sh does it).
Needs root and a dockerd (started by scripts/start-docker.sh if none answers).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = "pysandbox-bench/busybox:latest"
RUNTIMES = ["runc", "runsc", "pysandbox"]
TARGET = 1.0                         # pysandbox at most 1.0x runsc


def docker_client():
    client = shutil.which("docker")
    if client is None:
        sys.exit("bench/docker.py: docker is not installed (scripts/install.sh installs docker.io)")
    return client


def ensure_engine(pysandbox):
    setup = subprocess.run(["bash", os.path.join(REPO, "scripts", "start-docker.sh"), pysandbox],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if setup.returncode != 0:
        sys.exit(f"bench/docker.py: no Docker engine: {setup.stdout.decode(errors='replace').strip()}")


def build_image(client):
    with tempfile.TemporaryDirectory() as root:
        for directory in ("bin", "etc", "tmp", "proc", "sys", "dev"):
            os.makedirs(os.path.join(root, directory))
        shutil.copy2("/bin/busybox", os.path.join(root, "bin", "busybox"))
        for applet in ("sh", "true", "echo"):
            os.symlink("busybox", os.path.join(root, "bin", applet))
        proc = subprocess.Popen([client, "import", "-", IMAGE], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
        with tarfile.open(fileobj=proc.stdin, mode="w|") as tar:
            tar.add(root, arcname=".")
        proc.stdin.close()
        if proc.wait() != 0:
            sys.exit("bench/docker.py: docker import failed")


def available_runtimes(client):
    info = subprocess.run([client, "info", "--format", "{{json .Runtimes}}"], stdout=subprocess.PIPE, text=True)
    known = json.loads(info.stdout or "{}")
    return [r for r in RUNTIMES if r in known]


def time_run(client, runtime):
    start = time.perf_counter()
    done = subprocess.run([client, "run", "--rm", f"--runtime={runtime}", "--network=none", IMAGE, "/bin/true"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{runtime}: {done.stderr.decode(errors='replace').strip()}")
    return elapsed * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/docker.py: needs root (dockerd)")
    client = docker_client()
    pysandbox = os.path.join(REPO, ".venv", "bin", "pysandbox")
    ensure_engine(pysandbox)
    build_image(client)
    runtimes = available_runtimes(client)
    times = {runtime: [] for runtime in runtimes}
    failures = {}
    for runtime in runtimes:                 # one warm-up each: image layers, page cache
        try:
            time_run(client, runtime)
        except RuntimeError as error:
            failures[runtime] = str(error)
    for _ in range(args.runs):
        for runtime in runtimes:
            if runtime not in failures:
                times[runtime].append(time_run(client, runtime))
    medians = {r: statistics.median(t) for r, t in times.items() if t}
    print(f"docker run --rm IMAGE /bin/true, {args.runs} runs each (ms, wall clock of the docker command)")
    print(f"{'runtime':<11} {'median':>8} {'min':>8} {'max':>8}")
    for runtime in runtimes:
        if runtime in failures:
            print(f"{runtime:<11} unavailable: {failures[runtime]}")
            continue
        print(f"{runtime:<11} {medians[runtime]:8.1f} {min(times[runtime]):8.1f} {max(times[runtime]):8.1f}")
    ratios = {}
    if "pysandbox" in medians:
        for peer in ("runc", "runsc"):
            if peer in medians:
                ratios[f"pysandbox/{peer}"] = medians["pysandbox"] / medians[peer]
                print(f"pysandbox/{peer}: {ratios[f'pysandbox/{peer}']:.2f}x")
        if "pysandbox/runsc" in ratios:
            met = ratios["pysandbox/runsc"] <= TARGET
            print(f"target pysandbox <= {TARGET:.1f}x runsc: {'met' if met else 'NOT met'}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"runs": args.runs, "times_ms": times, "medians_ms": medians, "ratios": ratios,
                       "failures": failures}, out, indent=2)
    subprocess.run([client, "rmi", IMAGE], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
