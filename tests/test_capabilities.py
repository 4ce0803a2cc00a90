"""Capabilities and sysctls in the sandbox's credential model (issue 4).

tests/cprogs/caps_probe.c narrows itself to the same known sets natively and in the sandbox,
then exercises capget/capset, prctl's capability options, the set*id/execve transitions of
capabilities(7) and the privilege checks that follow each capability; the two runs must print
the same. The OCI side is checked through a bundle (process.capabilities, noNewPrivileges,
linux.sysctl) and against Docker's runc with --cap-drop/--cap-add/--sysctl/--user.
"""
import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import helpers
from pysandbox.ocishim.spec import SpecError, parse_spec
from pysandbox.sentry.credentials import CAPABILITY_NAMES, Credentials, capability_mask

pytest_plugins = ("oci_fixtures",)

# caps_probe.c's BASE: what the host must grant the test runner for the native run.
PROBE_BASE = capability_mask([
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "NET_BIND_SERVICE", "SYS_CHROOT", "SYS_ADMIN", "SYS_NICE", "MKNOD", "AUDIT_WRITE", "SETFCAP", "NET_RAW",
    "IPC_OWNER", "WAKE_ALARM"])


def _own_effective_set():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


@pytest.fixture(scope="module")
def probe(cprog):
    """caps_probe, copied where uid 1000 may execute it (its execve tests run it as that user)."""
    if os.geteuid() != 0 or _own_effective_set() & PROBE_BASE != PROBE_BASE:
        pytest.skip("the native run needs root with the probe's capabilities")
    directory = tempfile.mkdtemp(prefix="caps-probe-")
    os.chmod(directory, 0o755)
    path = os.path.join(directory, "caps_probe")
    shutil.copy(cprog("caps_probe"), path)
    os.chmod(path, 0o755)
    for suffix, owner, mode in ((".suid-root", 0, 0o4755), (".suid-2000", 2000, 0o6755)):
        shutil.copy(path, path + suffix)
        os.chown(path + suffix, owner, owner)
        os.chmod(path + suffix, mode)
    yield path
    shutil.rmtree(directory)


@pytest.mark.parametrize("mode", ["transitions", "prctl", "capset"])
def test_capability_calls_match_native(probe, mode, each_platform):
    out = helpers.compare_program_output([probe, mode])
    assert out.count("\n") > 20, out


# Operations of caps_probe's "seq" mode over a few ids and capabilities (CHOWN, KILL, SETGID,
# SETUID, SETPCAP, SYS_ADMIN, and 41, which does not exist).
_IDS = st.sampled_from([-1, 0, 1000, 2000])
_MASKS = st.lists(st.sampled_from([0, 5, 6, 7, 8, 21]), max_size=6).map(lambda caps: sum({1 << c for c in caps}))
OPERATIONS = st.one_of(
    st.tuples(_IDS, _IDS, _IDS).map(lambda ids: "u:%d,%d,%d" % ids),
    st.tuples(_IDS, _IDS).map(lambda ids: "r:%d,%d" % ids),
    st.sampled_from([0, 1000, 2000]).map(lambda uid: f"U:{uid}"),
    st.sampled_from([0, 1000, 2000]).map(lambda fsuid: f"f:{fsuid}"),
    st.tuples(_MASKS, _MASKS, _MASKS).map(lambda sets: "c:%x,%x,%x" % sets),
    st.sampled_from(["k:0", "k:1", "k:2", "n", "x", "X", "Y", "s:0", "s:1", "s:4", "s:10", "s:30", "s:40", "s:1000"]),
    st.tuples(st.sampled_from([1, 2, 3, 4, 9]), st.sampled_from([0, 5, 41])).map(lambda a: "a:%d,%d" % a),
    st.sampled_from([0, 5, 21, 41]).map(lambda cap: f"b:{cap}"),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(OPERATIONS, min_size=1, max_size=8))
def test_credential_sequences_match_native(probe, operations):
    """A model check against Linux itself: any sequence of set*id, setfsuid, capset, prctl and
    execve (also of set-user-ID and set-group-ID copies) leaves the same ids, sets, securebits
    and no_new_privs natively and in the sandbox."""
    helpers.compare_with_native([probe, "seq", *operations])


@pytest.mark.parametrize("network", ["none", "host"])
def test_privilege_checks_follow_the_effective_set(probe, tmp_path, network, each_platform):
    """With --network host the bind check guards a host socket, with none the loopback netstack."""
    native_dir, sandbox_dir = tmp_path / "native", tmp_path / "sandbox"
    native_dir.mkdir()
    sandbox_dir.mkdir()
    native = helpers.run_native([probe, "ops", str(native_dir)])
    sandboxed = helpers.run_sandbox([probe, "ops", str(sandbox_dir)], flags=["--network", network])
    helpers.assert_same(native, sandboxed._replace(out=sandboxed.out.replace(str(sandbox_dir), str(native_dir))))
    assert "chown without CAP_CHOWN: EPERM" in sandboxed.out
    assert "mount tmpfs without CAP_SYS_ADMIN: EPERM" in sandboxed.out
    assert "bind port 80 without CAP_NET_BIND_SERVICE: EACCES" in sandboxed.out


def test_reboot_ends_the_sandbox_as_it_ends_a_pid_namespace(cprog):
    unshare = helpers.native_unshare("a pid namespace")
    program = cprog("caps_reboot")
    native = helpers.run_native([unshare, "--pid", "--fork", "--kill-child", program, "power-off"])
    sandboxed = helpers.run_sandbox([program, "power-off"])
    helpers.assert_same(native, sandboxed)
    assert sandboxed.status == 128 + 2 and "cad on: -1 EINVAL" in sandboxed.out, sandboxed


def test_ipc_sysctls_limit_message_queues(cprog):
    unshare = helpers.native_unshare("an IPC namespace")
    program = cprog("caps_msg_sysctl")
    native = helpers.run_native([unshare, "--ipc", program])
    sandboxed = helpers.run_sandbox([program])
    helpers.assert_same(native, sandboxed)
    assert "send 200 bytes: EINVAL" in sandboxed.out and "msg_qbytes 300" in sandboxed.out, sandboxed


def test_do_gives_root_every_capability():
    result = helpers.run_sandbox(["/bin/sh", "-c", "grep -E '^(Cap|NoNewPrivs)' /proc/self/status"])
    everything = f"{(1 << len(CAPABILITY_NAMES)) - 1:016x}"
    assert result.status == 0, result
    assert result.out.split() == ["CapInh:", "0" * 16, "CapPrm:", everything, "CapEff:", everything,
                                  "CapBnd:", everything, "CapAmb:", "0" * 16, "NoNewPrivs:", "0"]


def test_proc_sys_writes_need_the_capability_and_stay_in_the_sandbox(probe):
    forward = "/proc/sys/net/ipv4/ip_forward"
    with open(forward) as host_file:
        host_value = host_file.read()
    script = (f"cat {forward}; echo 1 > {forward}; cat {forward}; echo sandbox.example > /proc/sys/kernel/domainname;"
              f" cat /proc/sys/kernel/domainname; echo nope > /proc/sys/net/ipv4/ip_forward; echo status=$?;"
              f" {probe} write {forward} 0; {probe} write /proc/sys/kernel/domainname x; cat {forward}")
    result = helpers.run_sandbox(["/bin/sh", "-c", script])
    assert result.out.splitlines() == ["0", "1", "sandbox.example", "status=1", "open: 0", "write: EPERM",
                                       "open: 0", "write: 1", "1"], result
    with open(forward) as host_file:
        assert host_file.read() == host_value, "a sandbox write reached the host"


# -- the OCI bundle -----------------------------------------------------------------------------------
DOCKER_DEFAULT = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                  "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                  "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]


def _spec(tmp_path, **linux):
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir(exist_ok=True)
    document = {"ociVersion": "1.0.2", "process": {"args": ["true"]}, "root": {"path": str(rootfs)},
                "linux": {"namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
                          **linux}}
    return parse_spec(document, str(tmp_path))


@pytest.mark.parametrize("name, message", [
    ("net.ipv4.ip_forward", "not allowed in the host's network namespace"),
    ("kernel.hostname", "conflicts with the OCI \"hostname\" field"),
    ("kernel.panic", "is not in a separate kernel namespace"),
    ("vm.swappiness", "is not in a separate kernel namespace"),
])
def test_sysctls_outside_the_containers_namespaces_are_refused(tmp_path, name, message):
    with pytest.raises(SpecError, match=message):
        _spec(tmp_path, sysctl={name: "1"})


def test_sysctls_of_its_namespaces_are_accepted_and_checked(tmp_path):
    spec = _spec(tmp_path, sysctl={"kernel.msgmax": "100", "fs.mqueue.msg_max": "20", "kernel.domainname": "x"})
    assert spec.sysctl["kernel.msgmax"] == "100"
    with pytest.raises(SpecError, match="not a valid value"):
        _spec(tmp_path, sysctl={"kernel.msgmax": "lots"})


def test_runc_sets_become_the_processes_sets_after_its_execve():
    bounding = capability_mask(DOCKER_DEFAULT)
    root = Credentials.from_oci(0, 0, [], {"bounding": bounding, "effective": bounding, "permitted": bounding})
    assert (root.effective, root.permitted, root.bounding, root.ambient) == (bounding, bounding, bounding, 0)
    user = Credentials.from_oci(1000, 1000, [], {"bounding": bounding})
    assert (user.effective, user.permitted, user.bounding) == (0, 0, bounding)
    ambient = capability_mask(["CAP_NET_BIND_SERVICE"])
    runc_ambient = Credentials.from_oci(1000, 1000, [], {name: ambient for name in
                                                         ("bounding", "effective", "permitted", "inheritable",
                                                          "ambient")}, no_new_privs=True)
    assert (runc_ambient.effective, runc_ambient.permitted, runc_ambient.ambient) == (ambient, ambient, ambient)
    assert runc_ambient.no_new_privs


def test_bundle_capabilities_no_new_privileges_and_sysctl(runtime, bundle):
    caps = {name: ["CAP_CHOWN", "CAP_KILL"] for name in ("bounding", "effective", "permitted")}
    script = ("grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status; touch /out/f; chown 5 /out/f; echo chown=$?;"
              " mount -t tmpfs none /out 2>/dev/null; echo mount=$?;"
              " cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/kernel/msgmax")
    config = bundle(["sh", "-c", script], process_capabilities=caps, process_noNewPrivileges=True)
    document = config.config()
    document["linux"]["sysctl"] = {"net.ipv4.ip_unprivileged_port_start": "0", "kernel.msgmax": "4096"}
    config.write_config(document)
    result = runtime.run("run", "--bundle", config, "caps")
    assert result.status == 0, result
    assert result.out.splitlines() == ["CapEff:\t0000000000000021", "CapBnd:\t0000000000000021", "NoNewPrivs:\t1",
                                       "chown=0", "mount=1", "0", "4096"], result


# -- Docker, against runc ------------------------------------------------------------------------------
DOCKER_SCRIPT = ("grep -E '^(Cap|NoNewPrivs)' /proc/self/status; id -u; mkdir -p /tmp/m;"
                 " mount -t tmpfs none /tmp/m 2>/dev/null; echo mount=$?; touch /tmp/f; chown 1:1 /tmp/f 2>/dev/null;"
                 " echo chown=$?; cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/net/ipv4/ip_forward;"
                 " (echo 0 > /proc/sys/net/ipv4/ip_forward) 2>/dev/null; echo write=$?; hostname x 2>/dev/null;"
                 " echo hostname=$?")


@pytest.mark.parametrize("options", [
    [],
    ["--cap-drop", "CHOWN", "--cap-add", "SYS_ADMIN"],
    ["--user", "1000", "--cap-add", "NET_BIND_SERVICE"],
], ids=["default", "drop-chown-add-sys-admin", "user-1000"])
def test_docker_capabilities_match_runc(docker, docker_images, options):
    argv = [*options, "--sysctl", "net.ipv4.ip_forward=1", docker_images["bb"], "sh", "-c", DOCKER_SCRIPT]
    native = docker.run("run", "--rm", "--runtime=runc", "--network=none", *argv)
    sandboxed = docker.sandboxed(*argv)
    helpers.assert_same(native, sandboxed)
    assert sandboxed.status == 0, sandboxed
    lines = sandboxed.out.splitlines()
    assert ("mount=0" in lines) == ("SYS_ADMIN" in options)
    assert ("chown=1" in lines) == ("CHOWN" in options or "1000" in options)


def test_docker_exec_gets_the_process_capabilities(docker, docker_images):
    name = f"caps-exec-{os.getpid()}"
    docker.run("run", "-d", "--name", name, "--label", docker.label, "--runtime=pysandbox", "--network=none",
               "--cap-drop", "ALL", "--cap-add", "KILL", docker_images["bb"], "sleep", "30", check=True)
    try:
        result = docker.run("exec", name, "grep", "-E", "^Cap(Eff|Bnd)", "/proc/self/status", check=True)
    finally:
        docker.run("rm", "-f", name)
    assert result.out.split() == ["CapEff:", "0000000000000020", "CapBnd:", "0000000000000020"], result


def test_docker_refuses_host_namespace_sysctls_like_runc(docker, docker_images):
    argv = ["--rm", "--network=host", "--sysctl", "net.ipv4.ip_forward=1", docker_images["bb"], "true"]
    native = docker.run("run", "--runtime=runc", *argv)
    sandboxed = docker.run("run", "--runtime=pysandbox", "--label", docker.label, *argv)
    assert native.status == sandboxed.status == 125, (native, sandboxed)
    assert "not allowed in the host's network namespace" in sandboxed.err, sandboxed
