"""Start-up work that runs beside the sentry's own (docs/BENCHMARKS.md, "Start-up, fifth pass"):
the directfs gofer, forked before the sentry's imports and run on another CPU, must end up exactly
where the gofer forked later would be (same namespaces, chroot, filter, capabilities), and a gofer
started for roots the VFS does not ask for must not outlive it; one the sentry leaves to exit at
the sandbox's end must not either.
The stub is started with CLONE_VM|CLONE_VFORK: the workloads of every other test cover it."""
import os
import subprocess

import pytest

from helpers import PYTHON, TEST_ENV, proc_status, run_sandbox, wait_until
from pysandbox.security.hostproc import children_of

NAMESPACES = ("mnt", "net", "uts", "ipc", "pid", "cgroup")
CAP_SYS_CHROOT, CAP_SYS_ADMIN = 18, 21


def _cpus(allowed_list):
    """{0, 2, 3} from /proc/PID/status's "0,2-3"."""
    cpus = set()
    for part in allowed_list.split(","):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return comm.read().strip()
    except OSError:
        return None


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox's namespaces and chroot need root")
def test_the_early_gofer_ends_up_confined_like_the_sentry(busybox_rootfs):
    outer = subprocess.Popen([PYTHON, "-m", "pysandbox", "do", "--gofer-mode", "directfs", "--rootfs",
                              busybox_rootfs, "--", "/bin/sh", "-c", "echo started; sleep 30"],
                             env=TEST_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert outer.stdout.readline() == b"started\n"
        sentry = wait_until(lambda: next((pid for pid in children_of(outer.pid)
                                          if _comm(pid) != "pysandbox-stub"), None))
        gofer = wait_until(lambda: next((pid for pid in children_of(sentry)
                                         if _comm(pid) == "pysandbox-gofer"), None))
        # It confines itself after the hand-over, while the sentry goes on: its filter comes last.
        wait_until(lambda: proc_status(gofer)["Seccomp"] == "2")
        for namespace in NAMESPACES:
            assert os.readlink(f"/proc/{gofer}/ns/{namespace}") == os.readlink(f"/proc/{sentry}/ns/{namespace}")
        assert os.readlink(f"/proc/{gofer}/ns/net") != os.readlink("/proc/self/ns/net")
        assert os.listdir(f"/proc/{gofer}/root/") == []
        assert os.readlink(f"/proc/{gofer}/root").endswith("(deleted)")
        gofer_status, sentry_status = proc_status(gofer), proc_status(sentry)
        assert gofer_status["Seccomp"] == "2"
        assert gofer_status["NoNewPrivs"] == "1"
        effective = int(gofer_status["CapEff"], 16)
        assert not effective & (1 << CAP_SYS_CHROOT | 1 << CAP_SYS_ADMIN)
        # The sentry stays on its CPU; the gofer started on the others and may run on any.
        assert len(_cpus(sentry_status["Cpus_allowed_list"])) == 1
        assert _cpus(gofer_status["Cpus_allowed_list"]) == set(range(os.cpu_count()))
    finally:
        outer.kill()
        outer.wait()


def _processes_naming(token):
    """Host pids whose command line holds `token` (the gofer, a fork of the sandbox process, keeps
    the command line of `pysandbox do`)."""
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if token in cmdline.read():
                    found.add(pid)
        except OSError:
            pass
    return found


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox's pid namespace needs root")
def test_the_gofer_left_to_exit_at_the_end_is_gone_when_do_returns(busybox_rootfs):
    # The sentry (pid 1 of its pid namespace) closes the gofer's socket and exits without
    # collecting it: the namespace's end must, before the outer process reports the status.
    for run in range(5):
        token = f"gofer-end-{os.getpid()}-{run}"
        result = run_sandbox(["/bin/sh", "-c", "exit 3", token], rootfs=busybox_rootfs,
                             flags=["--gofer-mode", "directfs"])
        assert result.status == 3, result.err
        assert _processes_naming(token.encode()) == set()


def test_an_early_gofer_for_other_roots_is_ended_and_collected(tmp_path):
    from pysandbox.gofer.start import start_gofer
    roots = [(os.fsencode(tmp_path), True)]
    started = start_gofer(roots, True)
    assert started.take([(b"/", True)], True) is None
    with pytest.raises(ChildProcessError):
        os.waitpid(started.pid, os.WNOHANG)
    assert not os.path.exists(f"/proc/{started.pid}")
    assert started.take(roots, True) is None          # ended: nothing left to take
    started.abandon()                                 # and ending it again does nothing


def test_the_client_takes_an_early_gofer_over(tmp_path):
    from pysandbox.gofer.client import GoferClient
    from pysandbox.gofer.start import start_gofer
    (tmp_path / "marker").write_text("x")
    roots = [(os.fsencode(tmp_path), True)]
    started = start_gofer(roots, True, cpus=set(range(os.cpu_count() or 1)))
    client = GoferClient(roots, hand_over=True, started=started)
    try:
        assert client.pid == started.pid
        results, fds = client.handed_over
        assert results[0] == 0 and len(fds) == 1
        assert os.fstat(fds[0]).st_ino == os.stat(tmp_path).st_ino
        assert os.listdir(f"/proc/self/fd/{fds[0]}") == ["marker"]
        os.close(fds[0])
    finally:
        client.close()
    assert not os.path.exists(f"/proc/{started.pid}")


@pytest.mark.parametrize("mode", ["directfs", "gofer"])
def test_a_start_with_bind_mounts_or_in_gofer_mode_forks_the_gofer_later(busybox_rootfs, tmp_path, mode):
    (tmp_path / "data").write_text("through the bind mount\n")
    result = run_sandbox(["/bin/cat", "/mnt/data"], rootfs=busybox_rootfs,
                         flags=["--gofer-mode", mode, "--volume", f"{tmp_path}:/mnt:ro"])
    assert (result.status, result.out) == (0, "through the bind mount\n"), result.err


def _tree(directory):
    """{name: subtree or file bytes} of an in-memory directory, with each entry's mode."""
    from pysandbox.sentry.vfs.memfs import MemDir
    return {entry.name: (child.mode, _tree(child) if isinstance(child, MemDir) else child.read(0, 4096))
            for entry in directory.list() for child in [directory.lookup(entry.name)]}


def test_the_sys_cpu_tree_made_on_first_use_is_the_one_made_at_once():
    from pysandbox.sentry.vfs.memfs import MemDir
    from pysandbox.sentry.vfs.sysfs import _fill_cpu_dir, sysfs_root
    made_at_once = MemDir(0o755)
    _fill_cpu_dir(made_at_once, 3)
    lazy = sysfs_root(3).lookup(b"devices").lookup(b"system").lookup(b"cpu")
    mtime = lazy.mtime_ns
    assert lazy.stat().nlink == made_at_once.stat().nlink == 2 + 3 + 1      # cpu0-2 and smt
    assert _tree(lazy) == _tree(made_at_once)
    assert lazy.mtime_ns == mtime


_OFFER_SCRIPT = """
import os, sys
from pysandbox.security import confine
print("host", os.readlink("/proc/self/ns/net"), flush=True)
if sys.argv[1] == "offer":
    confine.OFFER_WAIT_MS = 30000        # however loaded the machine, the child waits for it here
pid = confine.fork_pid_namespace_init((), offer_net=True)
if pid:
    if sys.argv[1] == "offer":
        confine.offer_net_namespace()
    print("outer", os.readlink("/proc/self/ns/net"), flush=True)
    _, status = os.waitpid(pid, 0)
    print("status", os.waitstatus_to_exitcode(status))
else:
    made = confine.isolate_sandbox_process("none")
    print("sandbox", os.readlink("/proc/self/ns/net") if made & confine.CLONE_NEWNET else "none", flush=True)
    os._exit(0)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="namespaces need root")
@pytest.mark.parametrize("outer", ["offer", "silent"])
def test_the_network_namespace_comes_from_the_outer_process_or_is_made_alone(outer):
    # "silent": the outer made none (too late, or refused), and the sandbox process makes its own.
    result = subprocess.run([PYTHON, "-c", _OFFER_SCRIPT, outer], env=TEST_ENV, capture_output=True, text=True,
                            timeout=60, cwd="/")
    assert result.returncode == 0, result.stderr
    seen = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert seen["status"] == "0" and seen["sandbox"] not in ("none", seen["host"]), seen
    if outer == "offer":
        assert seen["sandbox"] == seen["outer"], seen
    else:
        assert seen["outer"] == seen["host"], seen
