"""pysandbox as an OCI runtime, driven by its runc-compatible command line the way shims drive it.

Every container runs busybox under the sentry from a bundle the test writes; a bind mount at
/out lets the workload leave files the test reads. The `runtime` fixture checks that no state is
left under --root and conftest's autouse fixture that no host process is left.
"""
import fcntl
import json
import os
import signal
import socket
import struct
import subprocess
import termios
import time

import pytest

import helpers

pytest_plugins = ("oci_fixtures",)        # runtime, bundle, docker, docker_images


def read(path):
    with open(path) as f:
        return f.read()


def wait_for_file(path, timeout=15):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path) or not read(path).endswith("\n"):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)
    return read(path)


def run_to_end(runtime, container_id, b):
    """create, start, wait for the end; returns (exit status, stdout, stderr) and deletes the container."""
    _, out, err = runtime.create(container_id, b)
    runtime.run("start", container_id, check=True)
    runtime.wait_status(container_id, "stopped")
    waited = json.loads(runtime.run("wait", container_id, check=True).out)
    runtime.run("delete", container_id, check=True)
    return waited["exitStatus"], read(out), read(err)


# -- the lifecycle ----------------------------------------------------------------------------------------
def test_create_start_state_delete(runtime, bundle, tmp_path):
    b = bundle(["sh", "-c", "echo started > /out/mark; echo to stdout; echo to stderr >&2; exit 7"])
    pid_file = tmp_path / "init.pid"
    _, out, err = runtime.create("c1", b, "--pid-file", pid_file)
    pid = int(read(pid_file))
    assert pid in helpers.descendants(), "the --pid-file pid must be a live descendant of the caller"
    state = runtime.state("c1")
    assert state == {"ociVersion": state["ociVersion"], "id": "c1", "status": "created", "pid": pid,
                     "bundle": b, "rootfs": b.config()["root"]["path"], "created": state["created"],
                     "owner": "", "annotations": {}}
    assert state["ociVersion"].startswith("1.") and state["created"].endswith("Z")
    time.sleep(0.3)
    assert not os.path.exists(os.path.join(b.out, "mark")), "the workload ran before start"
    runtime.run("start", "c1", check=True)
    assert wait_for_file(os.path.join(b.out, "mark")) == "started\n"
    runtime.wait_status("c1", "stopped")
    assert runtime.state("c1")["pid"] == 0
    _, status = os.waitpid(pid, 0)          # the sandbox process exits with init's status
    assert os.waitstatus_to_exitcode(status) == 7
    assert read(out) == "to stdout\n" and read(err) == "to stderr\n"
    assert json.loads(runtime.run("wait", "c1", check=True).out) == {"id": "c1", "exitStatus": 7}
    runtime.run("delete", "c1", check=True)
    assert runtime.ids() == []


def test_run_in_the_foreground(runtime, bundle):
    b = bundle(["sh", "-c", "read line; echo got $line; exit 3"])
    result = runtime.run("run", "--bundle", b, "fg", stdin="hello\n")
    assert (result.status, result.out) == (3, "got hello\n"), result
    assert runtime.ids() == []


def test_stdin_reaches_the_workload(runtime, bundle, tmp_path):
    b = bundle(["sh", "-c", "tr a-z A-Z"])
    source = tmp_path / "in.txt"
    source.write_text("piped in\n")
    with open(source) as stdin:
        _, out, _ = runtime.create("in", b, stdin=stdin)
    runtime.run("start", "in", check=True)
    runtime.wait_status("in", "stopped")
    runtime.run("delete", "in", check=True)
    assert read(out) == "PIPED IN\n"


def test_config_reaches_the_process(runtime, bundle):
    b = bundle(["sh", "-c", "id; pwd; echo $GREETING; busybox hostname; busybox dnsdomainname 2>/dev/null;"
                            "ulimit -n; umask"],
               process_user={"uid": 1000, "gid": 1000, "additionalGids": [5, 7], "umask": 0o27},
               process_cwd="/tmp", process_env=["PATH=/bin", "GREETING=hi there"],
               process_rlimits=[{"type": "RLIMIT_NOFILE", "soft": 77, "hard": 88}],
               hostname="box", domainname="example.org")
    status, out, err = run_to_end(runtime, "cfg", b)
    assert status == 0, err
    assert out.splitlines() == ["uid=1000 gid=1000 groups=5,7", "/tmp", "hi there", "box",
                                *(["example.org"] if "example.org" in out else []), "77", "0027"]


def test_namespaces_oom_score_and_masked_paths(runtime, bundle):
    """The sandbox process gets fresh host namespaces of the kinds listed, its oomScoreAdj, and the
    host files maskedPaths hide do not exist in the sentry's /proc."""
    b = bundle(["sh", "-c", "test -e /proc/kcore || echo no-kcore; test -e /proc/keys || echo no-keys; sleep 100"],
               process_oomScoreAdj=345)
    runtime.create("ns", b)
    pid = runtime.state("ns")["pid"]
    for kind in ("net", "uts", "ipc", "mnt"):
        assert os.readlink(f"/proc/{pid}/ns/{kind}") != os.readlink(f"/proc/self/ns/{kind}"), kind
    assert read(f"/proc/{pid}/oom_score_adj").strip() == "345"
    joined = bundle(["true"])
    config = joined.config()
    config["linux"]["namespaces"] = [{"type": "network", "path": f"/proc/{pid}/ns/net"}, {"type": "pid"}]
    joined.write_config(config)
    runtime.create("joined", joined)
    other = runtime.state("joined")["pid"]
    assert os.readlink(f"/proc/{other}/ns/net") == os.readlink(f"/proc/{pid}/ns/net")
    assert os.readlink(f"/proc/{other}/ns/uts") == os.readlink("/proc/self/ns/uts")
    runtime.run("delete", "joined", check=True)
    runtime.run("start", "ns", check=True)
    runtime.run("kill", "ns", "KILL", check=True)
    runtime.wait_status("ns", "stopped")
    runtime.run("delete", "ns", check=True)


@pytest.mark.parametrize("network", ["host", "none"])
def test_the_sandbox_process_runs_under_the_sentrys_seccomp_filter(runtime, bundle, network):
    from pysandbox.security.confine import DEFAULT_MODE
    if DEFAULT_MODE == "off":
        pytest.skip("PYSANDBOX_SECCOMP=off: the sentry runs without its filter")
    runtime.global_flags += ["--network", network]
    start_sleeper(runtime, bundle, "sc")
    from pysandbox.security.hostproc import children_of
    pid = runtime.state("sc")["pid"]
    sentry = (children_of(pid) or [pid])[0]      # as root, pid 1 of its own pid namespace
    status = dict(line.split(":\t", 1) for line in read(f"/proc/{sentry}/status").splitlines() if ":\t" in line)
    assert status["Seccomp"].strip() == "2" and status["NoNewPrivs"].strip() == "1"
    # every control request still works under it
    assert runtime.run("exec", "sc", "echo", "confined").out == "confined\n"
    for verb in ("pause", "resume"):
        runtime.run(verb, "sc", check=True)
    runtime.run("update", "--pids-limit", "50", "sc", check=True)
    assert json.loads(runtime.run("events", "--stats", "sc", check=True).out)["data"]["pids"]["limit"] == 50
    runtime.run("kill", "sc", "KILL", check=True)
    runtime.wait_status("sc", "stopped")
    assert json.loads(runtime.run("wait", "sc", check=True).out)["exitStatus"] == 137
    runtime.run("delete", "sc", check=True)


def test_read_only_root(runtime, bundle):
    b = bundle(["sh", "-c", "echo x > /newfile || exit 9; echo x > /out/ok"])
    status, _, err = run_to_end(runtime, "ro", b)
    assert status == 9 and "Read-only file system" in err


def test_kill_by_name_number_and_all(runtime, bundle):
    b = bundle(["sh", "-c", "trap 'echo usr1 >> /out/log' USR1; trap 'echo term >> /out/log; exit 0' TERM;"
                            "sleep 100 & echo ready > /out/ready; while true; do sleep 0.05; done"])
    runtime.create("kl", b)
    runtime.run("start", "kl", check=True)
    wait_for_file(os.path.join(b.out, "ready"))
    log = os.path.join(b.out, "log")
    for number, name in enumerate(("USR1", "10"), start=1):      # by name, then by number
        runtime.run("kill", "kl", name, check=True)
        deadline = time.monotonic() + 10
        while not os.path.exists(log) or read(log).count("usr1") < number:
            assert time.monotonic() < deadline, f"kill {name} did not reach the trap"
            time.sleep(0.05)
    bad = runtime.run("kill", "kl", "SIGNOPE")
    assert bad.status == 1 and "unknown signal" in bad.err
    runtime.run("kill", "--all", "kl", "SIGTERM", check=True)
    runtime.wait_status("kl", "stopped")
    assert "term" in read(os.path.join(b.out, "log"))
    stopped = runtime.run("kill", "kl", "KILL")
    assert stopped.status == 1 and "stopped" in stopped.err
    runtime.run("delete", "kl", check=True)


def test_init_ignores_unhandled_signals_like_a_pid_namespace_init(runtime, bundle):
    b = bundle(["sleep", "100"])
    runtime.create("pidns", b)
    runtime.run("start", "pidns", check=True)
    runtime.run("kill", "pidns", "TERM", check=True)
    time.sleep(0.3)
    assert runtime.state("pidns")["status"] == "running"
    runtime.run("kill", "pidns", "KILL", check=True)
    runtime.wait_status("pidns", "stopped")
    assert json.loads(runtime.run("wait", "pidns").out)["exitStatus"] == 137
    runtime.run("delete", "pidns", check=True)


def test_delete_refuses_a_running_container_unless_forced(runtime, bundle):
    b = bundle(["sleep", "100"])
    runtime.create("dl", b)
    runtime.run("start", "dl", check=True)
    refused = runtime.run("delete", "dl")
    assert refused.status == 1 and "running" in refused.err
    assert runtime.state("dl")["status"] == "running"
    runtime.run("delete", "--force", "dl", check=True)
    assert runtime.ids() == []
    assert runtime.run("delete", "--force", "dl").status == 0
    assert runtime.run("delete", "dl").status == 1


def test_delete_of_a_created_container_kills_it(runtime, bundle):
    runtime.create("cr", bundle(["true"]))
    pid = runtime.state("cr")["pid"]
    runtime.run("delete", "cr", check=True)
    assert runtime.ids() == []
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 128 + signal.SIGKILL


# -- exec, ps, pause ------------------------------------------------------------------------------------
def start_sleeper(runtime, bundle, container_id, **config):
    b = bundle(["sh", "-c", "echo ready > /out/ready; while true; do sleep 0.05; done"], **config)
    runtime.create(container_id, b)
    runtime.run("start", container_id, check=True)
    wait_for_file(os.path.join(b.out, "ready"))
    return b


def test_exec_joins_the_sandbox(runtime, bundle, tmp_path):
    start_sleeper(runtime, bundle, "ex")
    result = runtime.run("exec", "ex", "sh", "-c", "echo pid $$ parent $PPID; busybox ps -o pid,comm | wc -l; exit 4")
    assert result.status == 4, result
    first, count = result.out.splitlines()
    assert first.split()[0] == "pid" and int(first.split()[1]) > 1 and first.split()[3] == "0"
    assert int(count) >= 4         # header, init, its sleep, this sh (and ps)
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["sh", "-c", "id; pwd; echo $X"], "env": ["PATH=/bin", "X=y"],
                                   "cwd": "/tmp", "user": {"uid": 5, "gid": 6}}))
    pid_file = tmp_path / "exec.pid"
    out_file = tmp_path / "exec.out"
    with open(out_file, "wb") as out:
        detached = subprocess.run(runtime.argv("exec", "--process", process, "--detach", "--pid-file", pid_file, "ex"),
                                  stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE, timeout=30)
    assert detached.returncode == 0, detached.stderr
    holder = int(read(pid_file))
    _, status = os.waitpid(holder, 0)        # the --pid-file process exits with the exec'd process
    assert os.waitstatus_to_exitcode(status) == 0
    assert read(out_file) == "uid=5 gid=6\n/tmp\ny\n"        # as runc: no supplementary groups
    missing = runtime.run("exec", "ex", "nosuchprogram")
    assert missing.status != 0 and "executable file not found" in missing.err
    runtime.run("delete", "--force", "ex", check=True)
    assert runtime.run("exec", "ex", "true").status == 1


def test_exec_process_follows_its_holder(runtime, bundle, tmp_path):
    """Signals to the --pid-file process reach the exec'd process; if the holder is killed,
    its process goes too."""
    start_sleeper(runtime, bundle, "hold")
    pid_file = tmp_path / "exec.pid"
    def exec_detached(*command):
        done = subprocess.run(runtime.argv("exec", "--detach", "--pid-file", pid_file, "hold", *command),
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=30)
        assert done.returncode == 0
        return int(read(pid_file))
    holder = exec_detached("sh", "-c", "trap 'exit 42' TERM; while true; do sleep 0.05; done")
    time.sleep(0.3)
    os.kill(holder, signal.SIGTERM)
    _, status = os.waitpid(holder, 0)
    assert os.waitstatus_to_exitcode(status) == 42
    holder = exec_detached("sleep", "1000")
    assert "sleep 1000" in runtime.run("ps", "hold", check=True).out
    os.kill(holder, signal.SIGKILL)
    os.waitpid(holder, 0)
    deadline = time.monotonic() + 10
    while "sleep 1000" in runtime.run("ps", "hold", check=True).out:
        assert time.monotonic() < deadline, "the exec'd process outlived its holder"
        time.sleep(0.1)
    runtime.run("delete", "--force", "hold", check=True)


def test_ps_lists_host_pids_of_the_sandbox_processes(runtime, bundle):
    start_sleeper(runtime, bundle, "ps")
    pids = json.loads(runtime.run("ps", "--format", "json", "ps", check=True).out)
    assert pids and all(isinstance(pid, int) for pid in pids)
    stats = {pid: helpers._proc_stat(pid) for pid in pids}      # the loop's short sleeps may be gone
    assert stats[pids[0]] is not None, "init's process is listed first"
    assert all(stat[0] == helpers.STUB_COMM for stat in stats.values() if stat is not None)
    table = runtime.run("ps", "ps", check=True).out.splitlines()
    assert table[0].split()[:3] == ["UID", "PID", "PPID"] and table[1].split()[1] == "1"
    runtime.run("delete", "--force", "ps", check=True)


def test_pause_stops_scheduling_and_resume_continues(runtime, bundle):
    b = bundle(["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /out/n.tmp; mv /out/n.tmp /out/n; done"])
    runtime.create("pz", b)
    runtime.run("start", "pz", check=True)
    counter = os.path.join(b.out, "n")
    wait_for_file(counter)
    runtime.run("pause", "pz", check=True)
    assert runtime.state("pz")["status"] == "paused"
    assert runtime.run("pause", "pz").status == 1
    time.sleep(0.2)
    frozen = read(counter)
    time.sleep(0.5)
    assert read(counter) == frozen, "the workload kept running while paused"
    assert runtime.run("exec", "pz", "true").status == 1
    runtime.run("resume", "pz", check=True)
    assert runtime.state("pz")["status"] == "running"
    deadline = time.monotonic() + 10
    while read(counter) == frozen:
        assert time.monotonic() < deadline, "the workload did not resume"
        time.sleep(0.05)
    runtime.run("pause", "pz", check=True)
    runtime.run("delete", "--force", "pz", check=True)     # a paused container can be force-deleted


def test_events_stats_and_update(runtime, bundle):
    linux = bundle(["true"]).config()["linux"]
    linux["resources"] = {"memory": {"limit": 256 << 20}}
    start_sleeper(runtime, bundle, "ev", linux=linux)
    event = json.loads(runtime.run("events", "--stats", "ev", check=True).out)
    assert event["type"] == "stats" and event["id"] == "ev"
    assert event["data"]["pids"]["current"] >= 1 and event["data"]["memory"]["usage"]["usage"] > 0
    assert event["data"]["cpu"]["usage"]["total"] >= 0
    runtime.run("update", "--resources", "-", "ev", stdin=json.dumps({"pids": {"limit": 3}}), check=True)
    result = runtime.run("exec", "ev", "sh", "-c", "sleep 1 & sleep 1 & sleep 1 & wait; echo done")
    assert "can't fork" in result.err or "Resource temporarily unavailable" in result.err, result
    runtime.run("update", "--memory", "128m", "ev", check=True)
    event = json.loads(runtime.run("events", "--stats", "ev", check=True).out)
    assert event["data"]["pids"]["limit"] == 3
    assert event["data"]["memory"]["usage"]["limit"] == 128 << 20
    bad = runtime.run("update", "--resources", "-", "ev", stdin="{not json")
    assert bad.status == 1 and "invalid JSON" in bad.err
    runtime.run("delete", "--force", "ev", check=True)


def test_list(runtime, bundle):
    runtime.create("l1", bundle(["true"]))
    runtime.create("l2", bundle(["true"]))
    assert runtime.run("list", "-q", check=True).out.split() == ["l1", "l2"]
    listed = json.loads(runtime.run("list", "--format", "json", check=True).out)
    assert [(c["id"], c["status"]) for c in listed] == [("l1", "created"), ("l2", "created")]
    assert runtime.run("list", check=True).out.splitlines()[0].split()[:3] == ["ID", "PID", "STATUS"]
    runtime.run("delete", "l1", check=True)
    runtime.run("delete", "l2", check=True)


# -- hooks, console, errors ----------------------------------------------------------------------------
def test_hooks_run_in_order_with_the_state_on_stdin(runtime, bundle, tmp_path):
    log = tmp_path / "hooks.log"
    script = tmp_path / "hook.sh"
    script.write_text(f"#!/bin/sh\necho \"$1 $(cat | tr -d ' ' | grep -o '\"status\":\"[a-z]*\"')\" >> {log}\n")
    script.chmod(0o755)
    kinds = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
    hooks = {kind: [{"path": str(script), "args": ["hook.sh", kind]}] for kind in kinds}
    b = bundle(["true"], hooks=hooks)
    run_to_end(runtime, "hk", b)
    lines = read(log).splitlines()
    assert [line.split()[0] for line in lines] == kinds
    assert [line.split()[1] for line in lines] == ['"status":"creating"'] * 3 + [
        '"status":"created"', '"status":"running"', '"status":"stopped"']


def test_a_failing_create_hook_fails_create_and_leaves_nothing(runtime, bundle):
    b = bundle(["true"], hooks={"createRuntime": [{"path": "/bin/false"}]})
    result, _, _ = runtime.create("hf", b, check=False)
    assert result.status == 1 and "createRuntime hook" in result.err
    assert runtime.ids() == []


def test_console_socket_gives_the_workload_a_terminal(runtime, bundle, tmp_path):
    address = str(tmp_path / "console.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(1)
    b = bundle(["sh", "-c", "trap 'echo $(busybox stty size) resized; exit' WINCH; busybox tty; busybox stty size;"
                            "test -t 0 && echo is-a-tty; while true; do sleep 0.05; done"],
               process_terminal=True, process_consoleSize={"height": 33, "width": 101})
    runtime.create("tty", b, "--console-socket", address)
    conn, _ = listener.accept()
    _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    conn.close()
    listener.close()
    master = fds[0]
    runtime.run("start", "tty", check=True)
    resize = lambda: fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # noqa: E731
    output = read_until(master, b"resized", then=(b"is-a-tty", resize))
    os.close(master)
    runtime.wait_status("tty", "stopped")
    runtime.run("delete", "tty", check=True)
    lines = output.decode().replace("\r", "").splitlines()
    assert lines[0].startswith("/dev/") and lines[1] == "33 101" and lines[2] == "is-a-tty", lines
    assert "40 120 resized" in lines, lines


def read_until(fd, marker, timeout=15, then=None):
    output = b""
    deadline = time.monotonic() + timeout
    while marker not in output and time.monotonic() < deadline:
        try:
            output += os.read(fd, 4096)
        except OSError:
            break
        if then is not None and then[0] in output:
            then[1]()
            then = None
    return output


@pytest.mark.parametrize("problem, change, message", [
    ("invalid JSON", lambda b: open(b.config_path, "w").write("{not json"), "invalid JSON"),
    ("no rootfs", lambda b: b.write_config({**b.config(), "root": {"path": "/nonexistent/rootfs"}}),
     "rootfs directory not found"),
    ("ociVersion 2", lambda b: b.write_config({**b.config(), "ociVersion": "2.0.0"}), "not supported"),
    ("no process", lambda b: b.write_config({k: v for k, v in b.config().items() if k != "process"}),
     "process is missing"),
    ("terminal without console", lambda b: b.write_config(
        {**b.config(), "process": {**b.config()["process"], "terminal": True}}), "--console-socket is required"),
    ("bad mount type", lambda b: b.write_config(
        {**b.config(), "mounts": [{"destination": "/x", "type": "nfs", "source": "a:/b"}]}), "not supported"),
    ("missing program", lambda b: b.write_config(
        {**b.config(), "process": {**b.config()["process"], "args": ["nosuch"]}}), "executable file not found"),
])
def test_bad_bundles_get_a_clear_error_and_leave_nothing(runtime, bundle, tmp_path, problem, change, message):
    b = bundle(["true"])
    change(b)
    log = tmp_path / "log.json"
    runtime.global_flags += ["--log", log, "--log-format", "json"]
    result, _, _ = runtime.create("bad", b, check=False)
    assert result.status != 0
    last = json.loads(read(log).splitlines()[-1])
    assert last["level"] == "error" and message in last["msg"] and last["time"], last
    assert runtime.ids() == []


def test_unknown_fields_are_ignored_and_duplicate_ids_refused(runtime, bundle):
    b = bundle(["true"])
    b.write_config({**b.config(), "x-vendor-extension": {"anything": [1, 2]}, "annotations": {"a": "b"}})
    runtime.create("dup", b)
    assert runtime.state("dup")["annotations"] == {"a": "b"}
    again, _, _ = runtime.create("dup", b, check=False)
    assert again.status == 1 and "already exists" in again.err
    assert runtime.state("dup")["status"] == "created"
    runtime.run("delete", "dup", check=True)
    invalid, _, _ = runtime.create("../escape", b, check=False)
    assert invalid.status == 1 and "invalid container id" in invalid.err


def test_verbs_in_the_wrong_state_are_refused(runtime, bundle):
    assert runtime.run("start", "nosuch").status == 1
    assert "does not exist" in runtime.run("state", "nosuch").err
    runtime.create("ws", bundle(["true"]))
    for verb in ("resume", "pause"):
        result = runtime.run(verb, "ws")
        assert result.status == 1 and "created" in result.err, result
    runtime.run("start", "ws", check=True)
    runtime.wait_status("ws", "stopped")
    again = runtime.run("start", "ws")
    assert again.status == 1 and "stopped" in again.err
    runtime.run("delete", "ws", check=True)


def test_features_spec_and_version(runtime, tmp_path):
    features = json.loads(runtime.run("features", check=True).out)
    assert features["ociVersionMin"] == "1.0.0" and "poststop" in features["hooks"]
    assert "network" in features["linux"]["namespaces"]
    runtime.run("spec", "--bundle", tmp_path, check=True)
    written = json.loads((tmp_path / "config.json").read_text())
    assert written["root"]["path"] == "rootfs" and written["process"]["args"] == ["sh"]
    assert runtime.run("spec", "--bundle", tmp_path).status == 1
    assert runtime.run("--version", check=True).out.startswith("pysandbox version")
    usage = runtime.run("kill")
    assert usage.status == 2 and "Traceback" not in usage.err


def test_pysandbox_do_still_works():
    result = helpers.run_pysandbox(["do", "--", "/bin/sh", "-c", "echo still here"])
    assert (result.status, result.out) == (0, "still here\n")


def test_no_sandbox_survives_its_container(runtime, bundle):
    start_sleeper(runtime, bundle, "gone")
    pid = runtime.state("gone")["pid"]
    stubs = json.loads(runtime.run("ps", "--format", "json", "gone", check=True).out)
    runtime.run("kill", "gone", "KILL", check=True)
    runtime.wait_status("gone", "stopped")
    runtime.run("delete", "gone", check=True)
    deadline = time.monotonic() + 5
    while any(helpers._proc_stat(p) and helpers._proc_stat(p)[1] != "Z" for p in stubs + [pid]):
        assert time.monotonic() < deadline, "stubs outlived their sandbox"
        time.sleep(0.05)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 128 + signal.SIGKILL
