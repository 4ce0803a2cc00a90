"""Docker (and containerd's ctr) with pysandbox as the runtime, for real.

The `docker` fixture starts dockerd when none answers and registers the runtime
(scripts/start-docker.sh); the tests skip only when the host cannot run dockerd.
Images are `docker import`s of rootfs trees the tests build: busybox, and python3 with its
libraries. At the end no pysandbox or stub process may be left and the runtime's --root
(Docker's /run/docker/runtime-pysandbox) must hold no state.
"""
import glob
import os
import shutil
import subprocess
import time

import pytest

import helpers

pytest_plugins = ("oci_fixtures",)        # runtime, bundle, docker, docker_images

DOCKER_STATE_ROOTS = "/run/docker/runtime-*/moby"      # the --root Docker passes (shared with runc)
CONTAINERD_SOCKET = "/var/run/docker/containerd/containerd.sock"


@pytest.fixture(autouse=True)
def no_stray_processes(request):
    """Docker's shims, not the test, are the sandboxes' parents: look for their stubs host-wide.
    A test's own containers are removed even when it fails, so one failure stays one."""
    before = set(_docker_stubs())
    yield
    left_containers = []
    if "docker" in request.fixturenames:
        left_containers = request.getfixturevalue("docker").forget_containers()
    deadline = time.monotonic() + 10
    while True:
        left = {pid: comm for pid, comm in _docker_stubs().items() if pid not in before}
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not left, f"stub processes left behind by docker containers: {left}"
    assert not left_containers, f"containers left behind (removed now): {left_containers}"


def _docker_stubs():
    table = helpers.process_table()
    return {pid: comm for pid, (comm, _state, _ppid) in table.items()
            if comm == helpers.STUB_COMM and _is_dockers(pid, table)}


def _is_dockers(pid, table):
    """Whether a process descends from containerd (not from another test's `pysandbox do`)."""
    while pid > 1 and pid in table:
        if table[pid][0].startswith("containerd"):
            return True
        pid = table[pid][2]
    return False


@pytest.fixture(scope="module")
def bb(docker_images):
    return docker_images["bb"]


@pytest.fixture
def detached(docker, bb):
    """detached(command...) -> id of a `docker run -d` container, removed at the end of the test."""
    started = []

    def run(*command, options=()):
        result = docker.run("run", "-d", "--label", docker.label, "--runtime=pysandbox", "--network=none",
                            *options, bb, *command, check=True)
        started.append(result.out.strip())
        return started[-1]
    yield run
    for container in started:
        docker.run("rm", "-f", container)


def wait_for_log(docker, container, text, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        logs = docker.run("logs", container).out
        if text in logs:
            return logs
        assert time.monotonic() < deadline, f"{text!r} never appeared in the logs: {logs!r}"
        time.sleep(0.1)


def test_echo(docker, bb):
    result = docker.sandboxed(bb, "echo", "hi")
    assert (result.status, result.out) == (0, "hi\n"), result


def test_exit_status(docker, bb):
    assert docker.sandboxed(bb, "sh", "-c", "exit 42").status == 42
    missing = docker.sandboxed(bb, "nosuchprogram")
    assert missing.status == 127 and "executable file not found" in missing.err


def test_stdin_piped(docker, bb):
    result = docker.sandboxed("-i", bb, "sh", "-c", "tr a-z A-Z; echo done", stdin="piped input\n")
    assert result.out == "PIPED INPUT\ndone\n", result


def test_tty_through_script(docker, bb):
    """docker run -t under script(1): a real terminal inside, as runc gives one."""
    if shutil.which("script") is None:
        pytest.skip("script(1) from util-linux is missing")
    shell = "test -t 0 && test -t 1 && echo on-a-tty; busybox tty; busybox stty -a | head -n 1"

    def run(*runtime):
        command = f"{docker.client} run --rm -t {' '.join(runtime)} --network=none {bb} sh -c '{shell}'"
        result = subprocess.run(["script", "-qec", command, "/dev/null"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        return result.returncode, result.stdout.decode().replace("\r", "").splitlines()
    status, lines = run("--runtime=pysandbox")
    assert status == 0 and lines[0] == "on-a-tty" and lines[1].startswith("/dev/"), lines
    runc_status, runc_lines = run()
    assert (status, lines[:1] + lines[2:]) == (runc_status, runc_lines[:1] + runc_lines[2:]), "runc differs"


def test_detached_then_logs_exec_top(docker, detached):
    container = detached("sh", "-c", "echo up; while true; do sleep 0.1; done")
    wait_for_log(docker, container, "up")
    inside = docker.run("exec", container, "sh", "-c", "echo exec pid $$; exit 3")
    assert inside.status == 3 and inside.out.startswith("exec pid "), inside
    piped = docker.run("exec", "-i", container, "cat", stdin="through exec\n")
    assert piped.out == "through exec\n", piped
    top = docker.run("top", container, check=True)
    rows = top.out.splitlines()
    assert rows[0].split()[:2] == ["UID", "PID"] and len(rows) >= 2, top


def test_stop_delivers_sigterm_to_a_trap(docker, detached):
    container = detached("sh", "-c", "trap 'echo got TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done")
    wait_for_log(docker, container, "ready")
    started = time.monotonic()
    docker.run("stop", container, check=True)
    assert time.monotonic() - started < 8, "docker stop had to fall back to SIGKILL"
    assert "got TERM" in docker.run("logs", container).out
    assert docker.run("inspect", "-f", "{{.State.ExitCode}}", container).out.strip() == "0"


def test_kill_usr1_pause_unpause(docker, detached):
    container = detached("sh", "-c", "trap 'echo got USR1' USR1; echo ready; "
                                     "i=0; while true; do i=$((i+1)); echo $i > /tmp/tick; sleep 0.05; done")
    wait_for_log(docker, container, "ready")
    docker.run("kill", "-s", "USR1", container, check=True)
    wait_for_log(docker, container, "got USR1")
    docker.run("pause", container, check=True)
    assert docker.run("inspect", "-f", "{{.State.Status}}", container).out.strip() == "paused"
    tick = docker.run("exec", container, "cat", "/tmp/tick")
    assert tick.status != 0, "exec must be refused while paused"
    docker.run("unpause", container, check=True)
    first = docker.run("exec", container, "cat", "/tmp/tick", check=True).out
    time.sleep(0.3)
    assert docker.run("exec", container, "cat", "/tmp/tick", check=True).out != first


def test_rm_force_of_a_running_container(docker, bb):
    container = docker.run("run", "-d", "--label", docker.label, "--runtime=pysandbox", "--network=none", bb,
                           "sleep", "100", check=True).out.strip()
    docker.run("rm", "-f", container, check=True)
    assert docker.run("inspect", container).status != 0


def test_read_only_root(docker, bb):
    result = docker.sandboxed("--read-only", bb, "sh", "-c", "echo x > /newfile")
    assert result.status != 0 and "Read-only file system" in result.err, result


def test_volume_writes_reach_the_host(docker, bb, tmp_path):
    result = docker.sandboxed("-v", f"{tmp_path}:/data", bb, "sh", "-c", "echo from container > /data/out.txt")
    assert result.status == 0, result
    assert (tmp_path / "out.txt").read_text() == "from container\n"


def test_env_workdir_user(docker, bb):
    result = docker.sandboxed("-e", "GREETING=hello", "-w", "/tmp", "--user", "1000:1000", bb,
                              "sh", "-c", "echo $GREETING; pwd; id")
    assert result.out.splitlines() == ["hello", "/tmp", "uid=1000 gid=1000 groups=1000"], result


def test_python3_image(docker, docker_images):
    script = "import json, sys, hashlib; print(json.dumps({'v': sys.version_info[0], " \
             "'h': hashlib.sha256(b'x').hexdigest()[:8]}))"
    result = docker.sandboxed(docker_images["py"], "/usr/bin/python3", "-c", script, timeout=120)
    assert result.status == 0, result
    assert result.out == '{"v": 3, "h": "2d711642"}\n'


def test_ctr_through_containerd(docker, bb, tmp_path):
    ctr = shutil.which("ctr")
    if ctr is None or not os.path.exists(CONTAINERD_SOCKET):
        pytest.skip("containerd's ctr is not installed, or dockerd's containerd is not running")
    runtime = os.path.join(os.path.dirname(helpers.PYTHON), "pysandbox")
    base = [ctr, "--address", CONTAINERD_SOCKET, "--namespace", "pysandbox-test"]
    saved = subprocess.run(f"{docker.client} save {bb} | {' '.join(base)} images import -", shell=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    assert saved.returncode == 0, saved.stdout
    name = f"docker.io/{bb}"           # how containerd names an image `docker save`d as ORG/NAME:TAG
    run = subprocess.run([*base, "run", "--rm", "--runtime", "io.containerd.runc.v2", "--runc-binary", runtime,
                          name, "ctr-test", "sh", "-c", "echo hi from ctr; exit 3"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert (run.returncode, run.stdout) == (3, b"hi from ctr\n"), run.stderr
    subprocess.run([*base, "images", "rm", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_nothing_left_behind(docker):
    """Runs last in this module: no container of ours is left, nor any state under --root."""
    containers = docker.run("ps", "-aq", "--filter", f"label={docker.label}").out.split()
    assert containers == [], containers
    assert glob.glob(DOCKER_STATE_ROOTS), "Docker's runtime state root was not found"
    live = set(docker.run("ps", "-q", "--no-trunc").out.split())      # other test runs' containers
    stale = [path for path in glob.glob(os.path.join(DOCKER_STATE_ROOTS, "*", "state.json"))
             if '"runtime": "pysandbox"' in open(path).read()
             and os.path.basename(os.path.dirname(path)) not in live]
    assert stale == [], f"stale pysandbox state: {stale}"
