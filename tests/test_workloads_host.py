"""The host's own dynamically linked programs (python3, bash, coreutils) under
pysandbox, compared with the same command run natively.

"rootfs" mode: the test builds a rootfs holding the programs, their shared
libraries, the dynamic loader and python's standard library
(tests/rootfs.py); the sandbox gets it with --rootfs, the native run chroots
into it. "host" mode: no --rootfs; the sandbox shows the host's / read-only.
"""

from __future__ import annotations

import pytest

from helpers import assert_same, run_native, run_sandbox

# Run on every platform the host offers (tests/conftest.py: each_platform).
pytestmark = pytest.mark.usefixtures("each_platform")

PYTHON3 = "/usr/bin/python3"
BASH = "/bin/bash"

PY_SCRIPT = r'''
import hashlib, json, os, subprocess, sys, threading
from concurrent.futures import ThreadPoolExecutor

print("python", sys.version_info[:2] >= (3, 11), sys.prefix)
print("cwd", os.getcwd())

doc = json.loads(json.dumps({"a": [1, 2, 3], "b": {"c": None, "d": "\u00e9"}}))
print("json", json.dumps(doc, sort_keys=True))

def digest(i):
    return hashlib.sha256(str(i).encode() * 1000).hexdigest()[:16]

with ThreadPoolExecutor(max_workers=4) as ex:
    digests = list(ex.map(digest, range(32)))
print("pool", len(digests), hashlib.md5("".join(digests).encode()).hexdigest())

lock = threading.Lock()
total = [0]
def work(n):
    for i in range(n):
        with lock:
            total[0] += i
threads = [threading.Thread(target=work, args=(2000,)) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print("threads", total[0], threading.active_count())

ev = threading.Event()
threading.Timer(0.05, ev.set).start()
print("event", ev.wait(10))

r = subprocess.run(["/bin/echo", "x"], capture_output=True)
print("child", r.returncode, r.stdout)
r = subprocess.run(["/bin/sh", "-c", "exit 3"])
print("child status", r.returncode)
print("shell", subprocess.check_output("echo $((6 * 7))", shell=True))
r = subprocess.run([sys.executable, "-c", "import sys; print(sys.stdin.read().upper())"],
                   input=b"piped to a child python", capture_output=True)
print("child python", r.returncode, r.stdout)

rfd, wfd = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(rfd)
    os.write(wfd, b"from the forked child")
    os._exit(9)
os.close(wfd)
data = os.read(rfd, 100)
_, status = os.waitpid(pid, 0)
print("fork", data, os.WIFEXITED(status), os.WEXITSTATUS(status))
'''

BASH_SCRIPT = r'''
trap 'echo "EXIT trap, status $?"' EXIT
trap 'echo "got USR1"' USR1
x=$(echo hello world | tr a-z A-Z)
echo "command substitution: $x"
echo "nested: $(echo $(echo inner) outer)"
(echo "in a subshell"; exit 3)
echo "subshell status $?"
( cd /usr && pwd )
pwd
echo "pipeline: $(seq 1 100 | sort -n -r | head -3 | tr '\n' ' ')"
seq 1 5 | while read n; do echo -n "$n."; done; echo
kill -USR1 $$
echo "after USR1"
f() { local v=$1; echo "function $v $((v * 2))"; return 4; }
f 21; echo "function status $?"
arr=(a b c); echo "array ${#arr[@]} ${arr[2]}"
echo "wc: $(printf 'a\nb\nc\n' | wc -l)"
{ echo grouped; echo to-stderr >&2; }
false || echo "or-branch"
exit 6
'''


@pytest.fixture(params=["rootfs", "host"])
def both(request, host_rootfs):
    if request.param == "rootfs":
        request.getfixturevalue("as_root")       # chroot for the native run

    def run(argv, **kw):
        if request.param == "rootfs":
            return (run_native(argv, chroot=host_rootfs, **kw),
                    run_sandbox(argv, rootfs=host_rootfs, **kw))
        return run_native(argv, **kw), run_sandbox(argv, **kw)

    return run


def test_python_stdlib_threads_subprocess(both):
    native, sandboxed = both([PYTHON3, "-c", PY_SCRIPT], timeout=120)
    assert native.status == 0, native
    assert "child 0 b'x\\n'" in native.out
    assert "fork b'from the forked child' True 9" in native.out
    assert_same(native, sandboxed)


def test_python_sees_pid_1(host_rootfs):
    r = run_sandbox([PYTHON3, "-c", "import os; print(os.getpid(), os.getppid())"],
                    rootfs=host_rootfs)
    assert (r.status, r.out) == (0, "1 0\n"), r


def test_python_exception_exit_status(both):
    native, sandboxed = both([PYTHON3, "-c", "raise SystemExit(5)"])
    assert native.status == 5
    assert_same(native, sandboxed)


def test_python_uncaught_exception(both):
    native, sandboxed = both([PYTHON3, "-c", "import sys; print('out'); 1/0"])
    assert native.status == 1 and "ZeroDivisionError" in native.err
    assert_same(native, sandboxed)


def test_python_reads_stdin(both):
    data = "".join(f"{i}\n" for i in range(1000))
    native, sandboxed = both(
        [PYTHON3, "-c", "import sys; print(sum(int(x) for x in sys.stdin))"], stdin=data)
    assert native.out == "499500\n"
    assert_same(native, sandboxed)


def test_bash_pipelines_subshells_traps(both):
    native, sandboxed = both([BASH, "-c", BASH_SCRIPT])
    assert native.status == 6, native
    assert "got USR1\nafter USR1" in native.out
    assert native.out.rstrip().endswith("EXIT trap, status 6")
    assert_same(native, sandboxed)


def test_bash_sees_pid_1(host_rootfs):
    r = run_sandbox([BASH, "-c", "echo $$; echo $BASHPID; (echo $BASHPID)"],
                    rootfs=host_rootfs)
    assert r.status == 0, r
    lines = r.out.split()
    assert lines[:2] == ["1", "1"] and lines[2] != "1", r


def test_coreutils_ls(as_root, host_rootfs):
    argv = ["/bin/ls", "-l", "/usr/bin"]
    native = run_native(argv, chroot=host_rootfs)
    assert native.status == 0 and "python3" in native.out
    assert_same(native, run_sandbox(argv, rootfs=host_rootfs))
