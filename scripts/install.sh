#!/usr/bin/env bash
# Install everything pysandbox, its tests and its benchmarks need, then the
# package itself (pip install -e '.[test]', which builds the ptrace C loop).
# Idempotent; run as root on Debian 12:  bash scripts/install.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
LOG=$(mktemp /tmp/pysandbox-install.XXXXXX.log)
trap 'rm -f "$LOG"' EXIT

say()  { printf 'install: %s\n' "$*"; }
fail() {
    printf 'install: FAILED: %s\n' "$1" >&2
    if [ -s "$LOG" ]; then
        printf 'install: last lines of the log:\n' >&2
        tail -n 25 "$LOG" | sed 's/^/    /' >&2
    fi
    exit 1
}

# Debian packages:
#   busybox-static      static busybox for the tests' workloads
#   gcc libc6-dev       tests and benchmarks compile C programs (also -static)
#   python3 python3-dev Debian's /usr/bin/python3 + stdlib: the tests copy them
#                       into a rootfs; headers for building the cffi module
#   strace sqlite3      peers/workloads used by tests and for comparison
#   runsc               gVisor, the benchmarks' reference
#   bash coreutils util-linux (taskset, unshare) procps
#   redis-server redis-tools nginx-light wrk curl iproute2
#                       networking tests and bench/net.py: servers in the sandbox, load from the host
#   iputils-ping        ping over ICMP ping sockets (tests/test_ping.py)
#   uidmap              newuidmap/newgidmap: rootless OCI containers mapping id ranges (tests/test_oci_rootless.py)
#   libpython3.11-testsuite stress-ng   conformance suites (pysandbox conformance)
#   runc                native runs under a generated seccomp profile (tests/test_coverage_profile.py)
#   docker.io containerd  Docker with pysandbox as a runtime (tests/test_docker.py, bench/docker.py;
#                       scripts/start-docker.sh starts dockerd); runc is its reference runtime
#   numactl             NUMA policy through libnuma: numactl, migratepages (tests/test_numa.py)
PACKAGES=(busybox-static gcc libc6-dev python3 python3-dev python3-venv python3-pip strace sqlite3
          runsc bash coreutils util-linux procps libpython3.11-testsuite stress-ng runc docker.io containerd
          redis-server redis-tools nginx-light wrk curl iproute2 postgresql libseccomp2 iputils-ping uidmap
          numactl gdb)

if [ "$(id -u)" -ne 0 ]; then
    fail "run me as root (apt-get install needs it): sudo bash scripts/install.sh"
fi
command -v apt-get >/dev/null || fail "apt-get not found: this script is for Debian 12"

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' \
        || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$LOG" 2>&1; then
        say "apt-get update (package lists look stale)"
        apt-get update -q >"$LOG" 2>&1 || fail "apt-get update"
        apt-get install -y -q --no-install-recommends "${missing[@]}" >"$LOG" 2>&1 \
            || fail "apt-get install ${missing[*]}"
    fi
else
    say "system packages already installed"
fi

for f in /bin/busybox /usr/bin/python3 /usr/bin/gcc /usr/bin/runsc; do
    [ -x "$f" ] || fail "$f is missing after apt-get install"
done

# pysandbox runs in a virtual environment of Debian's own python3.11: it starts
# in about 10 ms where other builds take several times longer, and start-up is
# part of every `pysandbox do`. PYTHON=... picks another interpreter.
VENV="$REPO/.venv"
if [ -z "${PYTHON:-}" ]; then
    if [ ! -x "$VENV/bin/python" ]; then
        say "python3 -m venv .venv  (Debian's $(/usr/bin/python3 -V 2>&1))"
        /usr/bin/python3 -m venv "$VENV" >"$LOG" 2>&1 || fail "python3 -m venv $VENV"
    fi
    PYTHON="$VENV/bin/python"
fi
command -v "$PYTHON" >/dev/null || fail "$PYTHON not found"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || fail "$PYTHON is $("$PYTHON" -V 2>&1); pysandbox needs Python 3.11 or newer"
[ -f "$REPO/pyproject.toml" ] || fail "$REPO/pyproject.toml is missing"

# Debian's own python3 refuses pip installs (PEP 668) unless told otherwise;
# a venv python (the usual case) doesn't need the flag.
PIP_FLAGS=(-q --disable-pip-version-check --root-user-action=ignore)
if "$PYTHON" -c 'import os, sys, sysconfig
sys.exit(not (sys.prefix == sys.base_prefix and
              os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))))'
then
    PIP_FLAGS+=(--break-system-packages)
fi

# editable_mode=compat puts the repo on sys.path with a .pth file: no import
# hook to load at every start.
say "pip install -e '.[test]'  ($("$PYTHON" -V 2>&1) at $PYTHON)"
"$PYTHON" -m pip install "${PIP_FLAGS[@]}" --config-settings editable_mode=compat -e "$REPO[test]" \
    >"$LOG" 2>&1 || fail "pip install -e '.[test]'"

# Byte-compile now: every `pysandbox do` imports the sentry, and where
# PYTHONDONTWRITEBYTECODE is set nothing else would write the .pyc files, so
# each start would compile the whole package again (~15 ms).
"$PYTHON" -m compileall -q "$REPO/pysandbox" >"$LOG" 2>&1 || fail "python -m compileall pysandbox"
# And the modules a start imports, in one file (pysandbox/modulebundle.py): ~3 ms of every start.
(cd / && "$PYTHON" -c 'from pysandbox.modulebundle import main; main()') >"$LOG" 2>&1 \
    || fail "building the module bundle (pysandbox/modulebundle.py)"

# The package must import from outside the repo (not only via the cwd).
(cd / && "$PYTHON" -c 'import pysandbox.platform.ptrace.platform, pysandbox.platform.kvm.machine') >"$LOG" 2>&1 \
    || fail "pysandbox does not import after pip install (are the C loops built?)"

if [ "$PYTHON" = "$VENV/bin/python" ]; then
    # A leaner `pysandbox` command than pip's wrapper (start-up, see the script).
    bash "$REPO/scripts/write-launcher.sh" "$VENV" "$REPO" >"$LOG" 2>&1 || fail "scripts/write-launcher.sh"
    ln -sf "$VENV/bin/pysandbox" /usr/local/bin/pysandbox
    say "installed /usr/local/bin/pysandbox -> $VENV/bin/pysandbox"
fi

say "done: try  bash scripts/demo.sh"
