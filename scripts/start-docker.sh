#!/usr/bin/env bash
# Start dockerd in the background (unless one answers already) and register pysandbox as a
# Docker runtime in /etc/docker/daemon.json, reloading dockerd with SIGHUP. Idempotent.
#   bash scripts/start-docker.sh [PATH-TO-PYSANDBOX]
# Also registers runsc (ptrace, no network) for bench/docker.py when it is installed.
# Exit status: 0 when `docker info` answers with the pysandbox runtime, 1 otherwise (with the reason).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNTIME=${1:-$(pwd)/.venv/bin/pysandbox}
DAEMON_JSON=/etc/docker/daemon.json
LOG=/var/log/pysandbox-dockerd.log

say()  { printf 'start-docker: %s\n' "$*"; }
fail() { printf 'start-docker: %s\n' "$*" >&2; exit 1; }

command -v dockerd >/dev/null || fail "dockerd not found (apt-get install docker.io; scripts/install.sh does it)"
[ -x "$RUNTIME" ] || fail "$RUNTIME is not executable (run scripts/install.sh)"
DOCKER=$(command -v docker) || fail "docker (the client) not found"

mkdir -p /etc/docker
# Merge our runtimes into whatever daemon.json holds; rewrite it only when something changes.
changed=$(python3 - "$DAEMON_JSON" "$RUNTIME" <<'EOF'
import json, os, shutil, sys
path, runtime = sys.argv[1], sys.argv[2]
try:
    with open(path) as f:
        config = json.load(f)
except (OSError, ValueError):
    config = {}
wanted = {"pysandbox": {"path": runtime}}
runsc = shutil.which("runsc")
if runsc:
    wanted["runsc"] = {"path": runsc, "runtimeArgs": ["--platform=ptrace", "--network=none"]}
runtimes = config.setdefault("runtimes", {})
if all(runtimes.get(k) == v for k, v in wanted.items()):
    print("no")
else:
    runtimes.update(wanted)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(config, f, indent=2)
    os.replace(tmp, path)
    print("yes")
EOF
)

listed() { "$DOCKER" info --format '{{json .Runtimes}}' 2>/dev/null | grep -qF "\"$RUNTIME\""; }

if "$DOCKER" info >/dev/null 2>&1; then
    if [ "$changed" = yes ] || ! listed; then
        say "reloading dockerd (SIGHUP) for daemon.json"
        kill -HUP "$(cat /var/run/docker.pid)"
    fi
else
    say "starting dockerd (log: $LOG)"
    # containerd is started by dockerd itself when none runs
    setsid dockerd >"$LOG" 2>&1 < /dev/null &
    for _ in $(seq 1 100); do
        "$DOCKER" info >/dev/null 2>&1 && break
        sleep 0.2
    done
    "$DOCKER" info >/dev/null 2>&1 || fail "dockerd did not come up; last lines of $LOG: $(tail -n 5 "$LOG" | tr '\n' ' ')"
fi

for _ in $(seq 1 50); do
    listed && { say "ready: runtime pysandbox -> $RUNTIME"; exit 0; }
    sleep 0.1
done
fail "dockerd runs but does not list the pysandbox runtime (see $DAEMON_JSON)"
