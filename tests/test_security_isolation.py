"""The sandbox process's own host pid namespace, its chroot into an empty directory, and the
container cgroup of config.json's linux.cgroupsPath (docs/SECURITY.md, "Layers")."""
import json
import os
import signal
import subprocess

import pytest

from helpers import PYTHON, TEST_ENV, wait_until
from oci_fixtures import *  # noqa: F401,F403
from pysandbox.security.hostproc import children_of
from pysandbox.security.limits import systemd_cgroup_path

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="host namespaces and chroot need root")
PLATFORMS = ["ptrace", "kvm"]


def _needs(platform):
    if platform == "kvm" and not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("no usable /dev/kvm on this host")


def _nspid(pid):
    with open(f"/proc/{pid}/status") as status:
        return [int(x) for line in status if line.startswith("NSpid:") for x in line.split()[1:]]


def _chrooted_sentry(outer):
    """The sandbox process under `outer`, once it runs chrooted with at least one stub."""
    def ready():
        for child in children_of(outer):
            try:
                if "pysandbox-root-" in os.readlink(f"/proc/{child}/root"):
                    return child
            except OSError:
                pass
        return None
    return wait_until(ready)


def _start_do(busybox_rootfs, platform, script):
    return subprocess.Popen([PYTHON, "-m", "pysandbox", "do", "--platform", platform, "--rootfs", busybox_rootfs,
                             "--", "/bin/sh", "-c", script], env=TEST_ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_sentry_is_pid_1_of_its_own_pid_namespace_with_an_empty_root(busybox_rootfs, platform):
    _needs(platform)
    outer = _start_do(busybox_rootfs, platform, "sleep 30")
    try:
        sentry = _chrooted_sentry(outer.pid)
        host_namespace = os.readlink("/proc/self/ns/pid")
        assert os.readlink(f"/proc/{outer.pid}/ns/pid") == host_namespace
        assert os.readlink(f"/proc/{sentry}/ns/pid") != host_namespace
        assert _nspid(sentry)[1:] == [1]
        assert os.listdir(f"/proc/{sentry}/root/") == []
        assert os.readlink(f"/proc/{sentry}/root").endswith("(deleted)")
        for stub in children_of(sentry):          # the stubs live in the sentry's namespace too
            assert os.readlink(f"/proc/{stub}/ns/pid") == os.readlink(f"/proc/{sentry}/ns/pid")
            assert len(_nspid(stub)) == 2
        with open(f"/proc/{sentry}/status") as status:
            effective = int(next(line for line in status if line.startswith("CapEff:")).split()[1], 16)
        assert not effective & (1 << 18), "CAP_SYS_CHROOT is dropped after the chroot"
        assert not effective & (1 << 21), "CAP_SYS_ADMIN is dropped after the chroot"
    finally:
        outer.kill()
        outer.wait()


def test_the_serving_gofer_is_chrooted_into_an_empty_directory_too(busybox_rootfs):
    """In gofer mode the gofer reaches the host only through the roots it opened; its xattr and
    chmod calls go through the fd links of the sandbox's own proc instance."""
    outer = subprocess.Popen([PYTHON, "-m", "pysandbox", "do", "--gofer-mode", "gofer", "--rootfs", busybox_rootfs,
                              "--", "/bin/sh", "-c", "cat /etc/passwd >/dev/null && echo read; sleep 30"],
                             env=TEST_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert outer.stdout.readline() == b"read\n"
        sentry = _chrooted_sentry(outer.pid)

        def gofer():
            for child in children_of(sentry):
                with open(f"/proc/{child}/comm") as comm:
                    if comm.read().strip() == "pysandbox-gofer":
                        return child
            return None
        pid = wait_until(gofer)
        assert os.listdir(f"/proc/{pid}/root/") == []
        assert os.readlink(f"/proc/{pid}/root").endswith("(deleted)")
        assert os.readlink(f"/proc/{pid}/ns/pid") == os.readlink(f"/proc/{sentry}/ns/pid")
    finally:
        outer.kill()
        outer.wait()


def test_the_sentrys_root_fds_lead_nowhere_above_the_rootfs(busybox_rootfs):
    """directfs: the rootfs fd the sentry holds is the root of a detached copy of its mount tree,
    so `..` from it is the rootfs again, never the host directory that holds it."""
    outer = _start_do(busybox_rootfs, "ptrace", "ls / >/dev/null; sleep 30")
    try:
        sentry = _chrooted_sentry(outer.pid)
        rootfs = os.stat(busybox_rootfs)

        def rootfs_fds():
            found = []
            for fd in os.listdir(f"/proc/{sentry}/fd"):
                try:
                    held = os.stat(f"/proc/{sentry}/fd/{fd}")
                except OSError:
                    continue
                if (held.st_dev, held.st_ino) == (rootfs.st_dev, rootfs.st_ino):
                    found.append(fd)
            return found
        fds = wait_until(rootfs_fds)
        parent = os.stat(os.path.dirname(busybox_rootfs.rstrip("/")))
        for fd in fds:
            above = os.stat(f"/proc/{sentry}/fd/{fd}/..")
            assert (above.st_dev, above.st_ino) == (rootfs.st_dev, rootfs.st_ino)
            assert (above.st_dev, above.st_ino) != (parent.st_dev, parent.st_ino)
    finally:
        outer.kill()
        outer.wait()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_kill_9_of_the_outer_process_leaves_nothing_behind(busybox_rootfs, platform):
    _needs(platform)
    outer = _start_do(busybox_rootfs, platform, "sleep 60 & sleep 60 & wait")
    sentry = _chrooted_sentry(outer.pid)
    if platform == "ptrace":                   # sh and its two sleeps are stubs (on KVM: threads)
        wait_until(lambda: len(children_of(sentry)) >= 3)
    processes = [sentry] + children_of(sentry)
    outer.send_signal(signal.SIGKILL)
    outer.wait()

    def gone():
        return all(not os.path.exists(f"/proc/{pid}") or _is_zombie_or_reused(pid) for pid in processes)
    wait_until(gone, timeout=10)


def _is_zombie_or_reused(pid):
    """Dead (a zombie its new parent has not reaped yet), or gone by now."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def test_signals_reach_the_workload_through_the_outer_process(busybox_rootfs):
    outer = _start_do(busybox_rootfs, "ptrace",
                      "trap 'echo got TERM; exit 7' TERM; echo ready; while true; do sleep 0.05; done")
    assert outer.stdout.readline() == b"ready\n"
    _chrooted_sentry(outer.pid)
    outer.send_signal(signal.SIGTERM)
    out, _ = outer.communicate(timeout=20)
    assert out == b"got TERM\n" and outer.returncode == 7


def test_a_failing_sandbox_still_reports_one_line_and_its_status(busybox_rootfs):
    done = subprocess.run([PYTHON, "-m", "pysandbox", "do", "--rootfs", busybox_rootfs, "--", "/no/such"],
                          env=TEST_ENV, capture_output=True, timeout=60)
    assert done.returncode == 127
    assert done.stderr.decode().strip().count("\n") == 0 and "no such file" in done.stderr.decode()


# -- linux.cgroupsPath --------------------------------------------------------------------------------------
def start_sleeper_in(runtime, bundle, container_id, **config):
    b = bundle(["sh", "-c", "echo ready > /out/ready; while true; do sleep 0.05; done"], **config)
    runtime.create(container_id, b)
    runtime.run("start", container_id, check=True)
    wait_until(lambda: os.path.exists(os.path.join(b.out, "ready")))
    return b


def _memory_cgroup_of(pid):
    with open(f"/proc/{pid}/cgroup") as cgroups:
        for line in cgroups:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if "memory" in controllers.split(",") or (controllers == "" and not os.path.isdir(
                    "/sys/fs/cgroup/memory")):
                return path
    return None


def _memory_limit_file(path):
    v1 = f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"
    return v1 if os.path.exists(v1) else f"/sys/fs/cgroup{path}/memory.max"


def test_cgroups_path_is_joined_with_the_resources_and_removed_on_delete(runtime, bundle):
    name = f"/pysandbox-test-{os.getpid()}/ctr"
    linux = dict(json.load(open(bundle(["true"]).config_path))["linux"])
    linux["cgroupsPath"] = name
    linux["resources"] = {"memory": {"limit": 64 << 20}, "pids": {"limit": 40},
                          "cpu": {"shares": 512, "quota": 50000, "period": 100000}}
    start_sleeper_in(runtime, bundle, "cg", linux=linux)
    pid = runtime.state("cg")["pid"]
    sentry = children_of(pid)[0]
    for process in (pid, sentry, *children_of(sentry)):
        assert _memory_cgroup_of(process) == name, process
    assert int(open(_memory_limit_file(name)).read().split()[0]) == 64 << 20
    if os.path.isdir("/sys/fs/cgroup/cpu"):
        assert open(f"/sys/fs/cgroup/cpu{name}/cpu.shares").read().strip() == "512"
        assert open(f"/sys/fs/cgroup/cpu{name}/cpu.cfs_quota_us").read().strip() == "50000"
    runtime.run("update", "--memory", str(96 << 20), "cg", check=True)    # through its fd, after the chroot
    assert int(open(_memory_limit_file(name)).read().split()[0]) == 96 << 20
    runtime.run("delete", "--force", "cg", check=True)
    wait_until(lambda: not os.path.exists(os.path.dirname(_memory_limit_file(name))))
    assert not os.path.exists(os.path.dirname(os.path.dirname(_memory_limit_file(name))))


def test_a_relative_cgroups_path_is_below_the_callers_cgroup(runtime, bundle):
    linux = dict(json.load(open(bundle(["true"]).config_path))["linux"])
    linux["cgroupsPath"] = f"pysandbox-rel-{os.getpid()}"
    start_sleeper_in(runtime, bundle, "rel", linux=linux)
    own = _memory_cgroup_of("self")
    assert _memory_cgroup_of(runtime.state("rel")["pid"]) == os.path.join(own, linux["cgroupsPath"])
    runtime.run("delete", "--force", "rel", check=True)


def test_systemd_cgroup_paths_follow_runcs_form():
    assert systemd_cgroup_path("system.slice:docker:abc") == "/system.slice/docker-abc.scope"
    assert systemd_cgroup_path("user-1000.slice:crio:x") == "/user.slice/user-1000.slice/crio-x.scope"
    with pytest.raises(Exception, match="slice:prefix:name"):
        systemd_cgroup_path("/docker/abc")


def test_docker_memory_limit_lands_in_the_containers_cgroup(docker, docker_images):
    name = f"pysandbox-cg-{os.getpid()}"
    docker.names.append(name)
    docker.run("run", "-d", "--name", name, "--runtime=pysandbox", "--network=none", "--memory", "64m",
               docker_images["bb"], "sleep", "30", check=True)
    try:
        pid = int(docker.run("inspect", "-f", "{{.State.Pid}}", name, check=True).out)
        path = _memory_cgroup_of(pid)
        assert path and path != "/"
        assert int(open(_memory_limit_file(path)).read().split()[0]) == 64 << 20
        sentry = children_of(pid)[0]
        assert _memory_cgroup_of(sentry) == path
        stats = docker.run("stats", "--no-stream", "--format", "{{.MemUsage}}", name, check=True).out
        assert "64MiB" in stats, stats
    finally:
        docker.forget_containers()


def test_kill_9_of_the_oci_pid_ends_the_whole_sandbox(runtime, bundle):
    start_sleeper_in(runtime, bundle, "k9")
    pid = runtime.state("k9")["pid"]
    sentry = children_of(pid)[0]
    processes = [sentry] + children_of(sentry)
    assert os.readlink(f"/proc/{sentry}/ns/pid") != os.readlink("/proc/self/ns/pid")
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: all(not os.path.exists(f"/proc/{p}") or _is_zombie_or_reused(p) for p in processes),
               timeout=10)
    runtime.run("delete", "--force", "k9", check=True)
