#!/usr/bin/env bash
# Run two workloads inside pysandbox and show what they see from in there:
# a busybox shell pipeline and a python3 one-liner. Both get the host's /
# read-only (writes go to a throw-away layer); the first process is pid 1.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-$(pwd)/.venv/bin/python}     # made by scripts/install.sh
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)
SANDBOX=("$PYTHON" -m pysandbox do)

run() {
    # Show the command as typed: PROGRAM ARGS..., the last one (a script) as is.
    local shown=("${@:1:$#-1}")
    printf '$ pysandbox do -- %s '"'"'%s'"'"'\n' "${shown[*]}" "${!#}"
    (cd / && "${SANDBOX[@]}" -- "$@") || {
        status=$?
        echo "demo: the sandboxed command exited $status" >&2
        exit $status
    }
}

rm -f /tmp/pysandbox-demo
echo "== a busybox shell pipeline inside the sandbox"
run /bin/busybox sh -c '
    echo "uname: $(uname -a)"
    echo "pid $$"
    echo "ls /: $(ls / | tr "\n" " ")"
    echo "a pipeline: $(for i in 1 2 3 4 5; do echo $i; done | sort -r | head -3 | wc -l) lines"
    echo written > /tmp/pysandbox-demo && cat /tmp/pysandbox-demo'

echo
echo "== a python3 one-liner inside the sandbox"
run /usr/bin/python3 -c '
import os, platform, threading, subprocess
print("uname:", " ".join(platform.uname()))
print("pid", os.getpid(), "ppid", os.getppid(), "uid", os.getuid())
print("ls /:", " ".join(sorted(os.listdir("/"))))
t = threading.Thread(target=lambda: print("hello from a thread"))
t.start(); t.join()
print("child says:", subprocess.run(["/bin/echo", "hi"], capture_output=True, text=True).stdout.strip())'

echo
if [ -e /tmp/pysandbox-demo ]; then
    echo "demo: /tmp/pysandbox-demo leaked out of the sandbox onto the host!" >&2
    exit 1
fi
echo "== done: /tmp/pysandbox-demo, written inside the sandbox, is not on the host"
