#!/usr/bin/env python3
"""Network benchmarks: servers in the sandbox driven from the host, side by side with native and runsc.

    python3 bench/net.py [--runs 3] [--only redis nginx] [--json OUT]

  redis   redis-server; `redis-benchmark -q -n 20000 -t get,set` (SET and GET requests/s)
  nginx   nginx serving a small file; `wrk -t2 -c10 -d5s` (requests/s)

Runners (the server on CPU 0, the load generator on CPU 1):

  native     taskset -c 0 SERVER
  pysandbox  taskset -c 0 python3 -m pysandbox do --network=host -- SERVER
  runsc      taskset -c 0 runsc --platform=ptrace --network=host do SERVER

A runner whose server never answers is reported with the reason (runsc 2022-12's `do` puts the
workload in a network namespace of its own even with --network=host, so the host cannot reach
it), and the others carry on. Each figure is the median of --runs runs; ratios are
pysandbox/native and pysandbox/runsc throughput (higher is better).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER_CPU, CLIENT_CPU = "0", "1"
NGINX_CONF = """daemon off;
user root;
worker_processes {workers};
pid {root}/nginx.pid;
error_log stderr;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {root}/body;
  proxy_temp_path {root}/proxy;
  server {{ listen 127.0.0.1:{port}; root {root}/html; }}
}}
"""


def nginx_conf(root, port, workers=1):
    """nginx.conf for a foreground nginx serving ROOT/html on 127.0.0.1:PORT, everything it writes under ROOT
    (tests/test_network.py uses it too)."""
    return NGINX_CONF.format(root=root, port=port, workers=workers)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def runner_prefix(runner):
    if runner == "native":
        return ["taskset", "-c", SERVER_CPU]
    if runner == "pysandbox":
        return ["taskset", "-c", SERVER_CPU, sys.executable, "-m", "pysandbox", "do", "--network=host", "--"]
    return ["taskset", "-c", SERVER_CPU, "runsc", "--platform=ptrace", "--network=host", "do"]


class Server:
    """A server started under a runner, stopped (its whole process group) at the end."""

    def __init__(self, runner, argv, port, cwd):
        self.port = port
        self.process = subprocess.Popen(runner_prefix(runner) + argv, cwd=cwd, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, start_new_session=True)

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return f"exited with {self.process.returncode}: {self.process.stderr.read().decode()[-300:]}"
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return None
            time.sleep(0.2)
        return f"nothing answered on 127.0.0.1:{self.port} within {timeout}s"

    def stop(self):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=10)
                break
            except subprocess.TimeoutExpired:
                continue


def client(argv, timeout=120):
    done = subprocess.run(["taskset", "-c", CLIENT_CPU, *argv], capture_output=True, text=True, timeout=timeout)
    return done.stdout.replace("\r", "\n") + done.stderr


def redis_once(runner, workdir):
    port = free_port()
    server = Server(runner, ["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--dir", workdir], port, workdir)
    try:
        problem = server.wait_ready()
        if problem:
            return None, problem
        out = client(["redis-benchmark", "-p", str(port), "-q", "-n", "20000", "-t", "get,set"])
        figures = {test: float(value) for test, value in re.findall(r"^(SET|GET): ([\d.]+) requests per second",
                                                                    out, re.M)}
        if len(figures) != 2 or "error" in out.lower():
            return None, f"redis-benchmark failed: {out[-300:]}"
        return figures, None
    finally:
        server.stop()


def nginx_once(runner, workdir):
    port = free_port()
    os.makedirs(os.path.join(workdir, "html"), exist_ok=True)
    with open(os.path.join(workdir, "html", "index.html"), "w") as page:
        page.write("hello from nginx\n" * 32)
    with open(os.path.join(workdir, "nginx.conf"), "w") as conf:
        conf.write(nginx_conf(workdir, port))
    server = Server(runner, ["/usr/sbin/nginx", "-c", os.path.join(workdir, "nginx.conf"), "-p", workdir],
                    port, workdir)
    try:
        problem = server.wait_ready()
        if problem:
            return None, problem
        out = client(["wrk", "-t2", "-c10", "-d5s", f"http://127.0.0.1:{port}/"])
        found = re.search(r"Requests/sec:\s+([\d.]+)", out)
        errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+)", out)
        if not found or "Non-2xx" in out or (errors and any(int(count) for count in errors.groups())):
            return None, f"wrk failed or saw errors: {out[-300:]}"
        return {"requests": float(found.group(1))}, None
    finally:
        server.stop()


BENCHES = {"redis": redis_once, "nginx": nginx_once}


def measure(name, runner, runs):
    samples = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix=f"net-{name}-") as workdir:
            os.chmod(workdir, 0o755)
            figures, problem = BENCHES[name](runner, workdir)
        if problem:
            return None, problem
        samples.append(figures)
    return {key: statistics.median(sample[key] for sample in samples) for key in samples[0]}, None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHES), default=sorted(BENCHES))
    parser.add_argument("--runners", nargs="*", default=["native", "pysandbox", "runsc"])
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args(argv)
    tools = ("redis-server", "redis-benchmark", "nginx", "wrk", "taskset")
    missing = [tool for tool in tools if not shutil.which(tool)]
    if missing:
        print(f"net.py: missing {', '.join(missing)} (bash scripts/install.sh installs them)", file=sys.stderr)
        return 1
    if "runsc" in args.runners and not shutil.which("runsc"):
        args.runners.remove("runsc")
    os.environ.setdefault("PYTHONPATH", REPO)
    results = {}
    for name in args.only:
        results[name] = {}
        for runner in args.runners:
            figures, problem = measure(name, runner, args.runs)
            results[name][runner] = figures if figures else {"unavailable": problem}
            shown = (", ".join(f"{key} {value:,.0f}/s" for key, value in figures.items()) if figures
                     else f"n/a ({problem})")
            print(f"{name:6} {runner:10} {shown}", flush=True)
        sandboxed = results[name].get("pysandbox", {})
        for other in ("native", "runsc"):
            theirs = results[name].get(other, {})
            for key, value in sandboxed.items():
                if isinstance(value, float) and isinstance(theirs.get(key), float) and theirs[key]:
                    print(f"{name:6} {key:9} pysandbox/{other} = {value / theirs[key]:.2f}x")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
