"""`pysandbox do --syscall-profile` and `pysandbox profile seccomp`.

The seccomp profile derived from a sandboxed run must let the same workload run natively
under runc (and a profile missing one syscall the workload needs must not), for busybox sh,
python3 and sqlite3.
"""
import copy
import json
import os
import shutil
import subprocess
import uuid

import pytest

from helpers import run_pysandbox, run_sandbox
import rootfs as rootfs_mod

RUNC = shutil.which("runc")

WORKLOADS = {
    "busybox": ["/bin/sh", "-c", "echo hello; ls /; cat /etc/passwd | wc -l; cat /missing; exit 3"],
    "python3": ["/usr/bin/python3", "-c",
                "import json, os, threading\n"
                "t = threading.Thread(target=print, args=('from a thread',)); t.start(); t.join()\n"
                "print(json.dumps(sorted(os.listdir('/etc'))))\n"
                "try:\n    open('/missing')\nexcept FileNotFoundError as e:\n    print('missing:', e.errno)\n"],
    "sqlite3": ["/usr/bin/sqlite3", ":memory:",
                "create table t(x integer); insert into t values (1), (2), (40); select sum(x), count(*) from t;"],
}


@pytest.fixture(scope="module")
def workload_rootfs(tmp_path_factory, busybox_rootfs):
    """The rootfs each workload runs from, in the sandbox and under runc alike."""
    if not os.path.exists("/usr/bin/sqlite3"):
        pytest.fail("/usr/bin/sqlite3 is missing: run scripts/install.sh (apt-get install sqlite3)", pytrace=False)
    dest = tmp_path_factory.mktemp("sqlite-python-rootfs")
    os.chmod(dest, 0o755)
    host = rootfs_mod.build_host_rootfs(str(dest), programs=["sqlite3"])
    return {"busybox": busybox_rootfs, "python3": host, "sqlite3": host}


def record_profile(tmp_path, argv, rootfs):
    path = tmp_path / "profile.json"
    result = run_sandbox(argv, rootfs=rootfs, flags=["--syscall-profile", str(path)])
    return result, json.loads(path.read_text())


def test_profile_records_counts_errnos_and_partial_paths(tmp_path, busybox_rootfs):
    result, profile = record_profile(tmp_path, WORKLOADS["busybox"], busybox_rootfs)
    assert result.status == 3, result
    assert profile["format"] == "pysandbox-syscall-profile"
    assert profile["exit_status"] == 3
    assert profile["command"] == WORKLOADS["busybox"]
    calls = profile["syscalls"]
    assert calls["write"]["calls"] >= 3 and calls["write"]["returned"]["ok"] >= 3
    # cat /missing: the ENOENT is recorded against the syscall that returned it.
    assert calls["openat"]["returned"].get("ENOENT", 0) >= 1, calls["openat"]
    # The shell forks and waits: clone is partial, and the flags it was called with are kept.
    assert calls["clone"]["level"] == "partial"
    assert any("SIGCHLD" in flags for flags in calls["clone"]["arguments"]), calls["clone"]
    assert "clone" in profile["partial_syscalls_used"]
    assert profile["total_calls"] == sum(record["calls"] for record in calls.values())
    for name, record in calls.items():
        assert sum(record["returned"].values()) == record["calls"], name


def test_profile_names_unimplemented_and_unknown_calls(tmp_path, cprog):
    result, profile = record_profile(tmp_path, [cprog("enosys")], None)
    unknown = [name for name in profile["syscalls"] if name.startswith("syscall_")]
    assert unknown, (result, profile["syscalls"].keys())
    for name in unknown:
        assert profile["syscalls"][name]["returned"] == {"ENOSYS": profile["syscalls"][name]["calls"]}
        assert name in profile["unimplemented_syscalls_used"]


def test_bad_profile_paths_get_one_line(tmp_path):
    result = run_pysandbox(["do", "--syscall-profile", "/nonexistent/dir/p.json", "--", "/bin/true"])
    assert result.status == 2 and result.err.count("\n") == 1, result
    assert "--syscall-profile /nonexistent/dir/p.json: no such file or directory" in result.err
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{\"not\": \"a profile\"}")
    result = run_pysandbox(["profile", "seccomp", str(garbage)])
    assert result.status == 2 and "not a syscall profile" in result.err and "Traceback" not in result.err
    result = run_pysandbox(["profile", "seccomp", str(tmp_path / "missing.json")])
    assert result.status == 2 and "no such file or directory" in result.err


def seccomp_for(tmp_path, profile, runtime="runc"):
    path = tmp_path / "profile.json"
    path.write_text(json.dumps(profile))
    result = run_pysandbox(["profile", "seccomp", "--runtime", runtime, str(path)])
    assert result.status == 0, result
    return json.loads(result.out)


def test_seccomp_profile_shape(tmp_path, busybox_rootfs):
    _, profile = record_profile(tmp_path, WORKLOADS["busybox"], busybox_rootfs)
    seccomp = seccomp_for(tmp_path, profile, runtime="none")
    assert seccomp["defaultAction"] == "SCMP_ACT_ERRNO"
    assert "SCMP_ARCH_X86_64" in seccomp["architectures"]
    allowed = set(seccomp["syscalls"][0]["names"])
    assert seccomp["syscalls"][0]["action"] == "SCMP_ACT_ALLOW"
    # Exactly what the workload made, plus the first execve, which the runtime makes.
    made = {name for name, record in profile["syscalls"].items()
            if record["level"] != "unimplemented"}
    assert allowed == made | {"execve"}
    for rule in seccomp["syscalls"][1:]:
        assert rule["action"] == "SCMP_ACT_ERRNO" and rule["errnoRet"] == 38
        assert all(profile["syscalls"][name]["level"] == "unimplemented" for name in rule["names"])


def run_under_runc(tmp_path, rootfs, argv, seccomp):
    """Run argv natively in a runc container on `rootfs` under the seccomp profile."""
    bundle = tmp_path / f"bundle-{uuid.uuid4().hex[:8]}"
    bundle.mkdir()
    state = tmp_path / "runc-state"
    subprocess.run([RUNC, "spec"], cwd=bundle, check=True)
    config = json.loads((bundle / "config.json").read_text())
    config["root"] = {"path": os.path.abspath(rootfs), "readonly": True}
    config["process"].update(terminal=False, args=argv, cwd="/",
                             env=["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/root", "LC_ALL=C"])
    config["linux"]["seccomp"] = seccomp
    (bundle / "config.json").write_text(json.dumps(config))
    name = f"pysandbox-cov-{uuid.uuid4().hex[:8]}"
    try:
        done = subprocess.run([RUNC, "--root", str(state), "run", "--bundle", str(bundle), name],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=60)
    finally:
        subprocess.run([RUNC, "--root", str(state), "delete", "--force", name],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")


@pytest.mark.parametrize("workload", sorted(WORKLOADS))
def test_seccomp_profile_runs_the_workload_natively_under_runc(tmp_path, workload, workload_rootfs):
    if RUNC is None:
        pytest.skip("runc is not installed (apt-get install runc)")
    if os.geteuid() != 0:
        pytest.skip("runc needs root here")
    rootfs = workload_rootfs[workload]
    argv = WORKLOADS[workload]
    sandboxed, profile = record_profile(tmp_path, argv, rootfs)
    assert sandboxed.out.strip() and not sandboxed.log.strip(), sandboxed
    seccomp = seccomp_for(tmp_path, profile)

    status, out, err = run_under_runc(tmp_path, rootfs, argv, seccomp)
    assert (status, out) == (sandboxed.status, sandboxed.out), (status, out, err, sandboxed)

    # The test can fail: without a syscall the workload made (write), the native run breaks.
    crippled = copy.deepcopy(seccomp)
    crippled["syscalls"][0]["names"].remove("write")
    status, out, err = run_under_runc(tmp_path, rootfs, argv, crippled)
    assert (status, out) != (sandboxed.status, sandboxed.out), (status, out, err)
