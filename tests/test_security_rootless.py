"""`pysandbox do` without root: a user namespace of its own (the caller's ids map to root), then the
same pid, mount, UTS, IPC, cgroup and network namespaces and the chroot into an empty directory as
a root run (security/confine.py, enter_user_namespace; docs/SECURITY.md, "Without root")."""
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

import rootfs as rootfs_mod
import pysandbox
from helpers import PYTHON, TEST_ENV, proc_status, wait_until
from pysandbox.security.hostproc import children_of

NOBODY = 65534
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                                reason="runs `do` as nobody, which needs root and setpriv to switch to")
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
# What the workload sees of itself and its root: the same under both runs.
WORKLOAD = ("ls /; cat /data/hello.txt; echo written > /tmp/f; cat /tmp/f; rm /tmp/f; id; hostname; "
            "grep -E '^(Uid|Gid|CapEff|NoNewPrivs)' /proc/self/status")


@pytest.fixture(scope="module")
def nobody_rootfs():
    """A busybox rootfs that nobody can reach (pytest's own directories are 0700)."""
    top = tempfile.mkdtemp(prefix="pysandbox-rootless-")
    try:
        os.chmod(top, 0o755)
        rootfs = os.path.join(top, "rootfs")
        os.mkdir(rootfs, 0o755)
        yield rootfs_mod.build_busybox_rootfs(rootfs)
    finally:
        shutil.rmtree(top)


@pytest.fixture(scope="module")
def nobody_python(nobody_rootfs):
    """(python, env) with which nobody runs this checkout's pysandbox: the test's own, when nobody
    can reach it; else the interpreter behind it with a readable copy of the package and of what
    it imports from site-packages (a clean clone may sit in a 0700 directory, as `mktemp -d`
    makes them)."""
    if _can_import_as_nobody(PYTHON, TEST_ENV):
        return PYTHON, TEST_ENV
    library = os.path.join(os.path.dirname(nobody_rootfs), "lib")
    shutil.copytree(os.path.dirname(pysandbox.__file__), os.path.join(library, "pysandbox"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    site_packages = next(path for path in sys.path if path.endswith("site-packages")
                         and os.path.isdir(os.path.join(path, "cffi")))
    for name in os.listdir(site_packages):
        if name.startswith(("_cffi_backend", "cffi", "pycparser")) and not name.endswith("-info"):
            source = os.path.join(site_packages, name)
            (shutil.copytree if os.path.isdir(source) else shutil.copy2)(source, os.path.join(library, name))
    subprocess.run([PYTHON, "-m", "compileall", "-q", library], check=True, env=dict(TEST_ENV))
    for directory, _subdirs, files in os.walk(library):
        os.chmod(directory, 0o755)
        for name in files:
            os.chmod(os.path.join(directory, name), 0o755 if name.endswith(".so") else 0o644)
    python, env = os.path.realpath(PYTHON), dict(TEST_ENV, PYTHONPATH=library)
    assert _can_import_as_nobody(python, env), "nobody can't run the copy of pysandbox"
    return python, env


def _can_import_as_nobody(python, env):
    return subprocess.run([*AS_NOBODY, python, "-c", "import pysandbox.platform.ptrace._loop"], env=env, cwd="/",
                          capture_output=True).returncode == 0


def _do(rootfs, script, prefix=(), python=(PYTHON, TEST_ENV)):
    executable, env = python
    return subprocess.Popen([*prefix, executable, "-m", "pysandbox", "do", "--rootfs", rootfs, "--", "/bin/sh", "-c",
                             script], env=env, cwd="/", stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _namespace(pid, kind):
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def test_nobody_gets_a_user_namespace_the_other_namespaces_and_the_empty_root(nobody_rootfs, nobody_python):
    outer = _do(nobody_rootfs, "echo ready; sleep 1", AS_NOBODY, nobody_python)
    try:
        assert outer.stdout.readline() == b"ready\n"
        sandbox = wait_until(lambda: (children_of(outer.pid) or [None])[0])
        assert proc_status(sandbox)["NSpid"].split()[1:] == ["1"]        # two levels: pid 1 of its own
        assert "pysandbox-root-" in os.readlink(f"/proc/{sandbox}/root")   # the empty directory, removed
        for kind in ("user", "pid_for_children", "mnt", "uts", "ipc", "cgroup", "net"):
            target = sandbox if kind != "pid_for_children" else outer.pid
            assert _namespace(target, kind) != _namespace(os.getpid(), kind), kind
        with open(f"/proc/{sandbox}/uid_map") as uid_map:
            assert uid_map.read().split() == ["0", str(NOBODY), "1"]
        sandbox_status, outer_status = proc_status(sandbox), proc_status(outer.pid)
        assert (sandbox_status["Uid"].split()[0], sandbox_status["Seccomp"]) == (str(NOBODY), "2")
        # root of its user namespace only, and confined as a root run's outer process is
        assert (outer_status["Seccomp"], outer_status["CapEff"]) == ("2", "0" * 16), outer_status
    finally:
        out, err = outer.communicate(timeout=30)
    assert (outer.returncode, out, err) == (0, b"", b"")


def test_the_workload_sees_what_it_sees_in_a_root_run(nobody_rootfs, nobody_python):
    results = []
    for prefix in ((), AS_NOBODY):
        run = _do(nobody_rootfs, WORKLOAD, prefix, nobody_python)
        out, err = run.communicate(timeout=60)
        results.append((run.returncode, out.decode(), err.decode()))
    as_root, as_nobody = results
    assert as_nobody == as_root
    assert as_root[0] == 0 and "written\nuid=0(root) gid=0(root)" in as_root[1], as_root


# A host whose user namespaces are used up for nobody: nobody runs in a user namespace (the host's
# ids 0..65535 mapped to themselves) whose user.max_user_namespaces is 0.
NO_USER_NAMESPACES = textwrap.dedent("""
    import ctypes, os, sys
    libc = ctypes.CDLL(None, use_errno=True)
    ready_read, ready_write = os.pipe()
    go_read, go_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        if libc.unshare(0x10000000) != 0:
            os._exit(99)
        os.write(ready_write, b"x")
        os.read(go_read, 1)
        with open("/proc/sys/user/max_user_namespaces", "w") as limit:
            limit.write("0")
        os.setgroups([])
        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)
        os.execv(sys.argv[1], sys.argv[1:])
    os.read(ready_read, 1)
    for name in ("uid_map", "gid_map"):
        with open(f"/proc/{pid}/{name}", "w") as map_file:
            map_file.write("0 0 65536")
    os.write(go_write, b"x")
    sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
""")


def test_without_user_namespaces_it_runs_as_before_and_says_so_once(nobody_rootfs, nobody_python):
    run = _do(nobody_rootfs, "ls /; echo ready", [PYTHON, "-c", NO_USER_NAMESPACES], nobody_python)
    out, err = run.communicate(timeout=60)
    assert run.returncode != 99, "this host gives root no user namespace to test in"
    assert (run.returncode, out.decode()) == (0, "bin\ndata\ndev\netc\nproc\nroot\nsys\ntmp\nready\n"), err
    assert err.decode() == ("pysandbox: no user namespace (the host's user.max_user_namespaces is reached): "
                            "the sandbox runs without namespaces and chroot of its own\n")


def test_kvm_without_access_to_dev_kvm_says_so(nobody_rootfs, nobody_python):
    if os.access("/dev/kvm", os.R_OK | os.W_OK) and os.stat("/dev/kvm").st_mode & 0o006 == 0o006:
        pytest.skip("nobody can use /dev/kvm on this host")
    python, env = nobody_python
    done = subprocess.run([*AS_NOBODY, python, "-m", "pysandbox", "do", "--platform", "kvm", "--rootfs",
                           nobody_rootfs, "--", "/bin/true"], env=env, cwd="/", capture_output=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.decode().startswith("pysandbox: kvm: /dev/kvm not accessible"), done.stderr
