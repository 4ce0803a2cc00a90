"""The OCI verbs without root, as runc's rootless mode (ocishim/rootless.py; docs/OCI.md, "Without
root"): run as nobody, a config.json with a user namespace and uid/gid mappings gets the sandbox
process a user namespace of its own, then the namespaces and chroot of a root run. runc, run as
nobody on the same bundles, is the reference where both can run."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from helpers import PYTHON, collect_strays, descendants, format_procs, no_traceback, proc_status, wait_until, Result
from pysandbox.security.hostproc import children_of
from test_security_rootless import AS_NOBODY, NO_USER_NAMESPACES, NOBODY, nobody_python, nobody_rootfs  # noqa: F401

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                                reason="runs the OCI verbs as nobody, which needs root and setpriv to switch to")
OWN_MAPPING = [{"containerID": 0, "hostID": NOBODY, "size": 1}]
SUB_IDS = 100000                 # nobody's range in the /etc/subuid and /etc/subgid the range test gives
RANGE_MAPPING = OWN_MAPPING + [{"containerID": 1, "hostID": SUB_IDS, "size": 65536}]
CAPABILITIES = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


class Rootless:
    """One test's directory that nobody owns: bundles, /out directories, $XDG_RUNTIME_DIR."""

    def __init__(self, top, rootfs, python):
        self.top = top
        self.rootfs = rootfs
        self.python, env = python
        self.runtime_dir = self.mkdir("xdg", 0o700)
        self.env = dict(env, XDG_RUNTIME_DIR=self.runtime_dir)
        self.state_root = os.path.join(self.runtime_dir, "pysandbox")
        self.count = 0

    def mkdir(self, name, mode=0o755):
        path = os.path.join(self.top, name)
        os.mkdir(path, mode)
        os.chown(path, NOBODY, NOBODY)
        return path

    def bundle(self, args, mappings=OWN_MAPPING, host_sys=False, network=False, **changes):
        """A rootless bundle as `pysandbox spec --rootless` writes them, for nobody. `host_sys`: the
        host's /sys bound at /sys, as `runc spec --rootless` has it (runc can't mount a sysfs
        without a network namespace of its own). `network`: keep the network namespace (root)."""
        self.count += 1
        out = self.mkdir(f"out{self.count}")
        bundle = write_bundle(os.path.join(self.top, f"bundle{self.count}"), self.rootfs, list(args), out, **changes)
        config = bundle.config()
        linux = config["linux"]
        linux["namespaces"] = [ns for ns in linux["namespaces"] if network or ns["type"] != "network"]
        linux["namespaces"].append({"type": "user"})
        linux["uidMappings"] = linux["gidMappings"] = mappings
        for mount in config["mounts"]:
            if mount["type"] == "devpts":
                mount["options"].remove("gid=5")
            if mount["type"] == "sysfs" and host_sys:
                mount.update(type="none", source="/sys", options=["rbind", "nosuid", "noexec", "nodev", "ro"])
        config["process"]["capabilities"] = {name: CAPABILITIES for name in ("bounding", "effective", "permitted")}
        bundle.write_config(config)
        os.chmod(bundle, 0o755)
        return bundle

    def argv(self, *args, runtime="pysandbox", as_nobody=True, wrapper=()):
        """The runtime's command line, run as nobody (or as root) through `wrapper`."""
        program = [self.python, "-m", "pysandbox"] if runtime == "pysandbox" else [shutil.which("runc")]
        user = [shutil.which(AS_NOBODY[0]), *AS_NOBODY[1:]] if as_nobody else []
        return [*user, *wrapper, *program, *map(str, args)]

    def run(self, *args, runtime="pysandbox", env=None, prefix=(), timeout=60, **how):
        done = subprocess.run([*prefix, *self.argv(*args, runtime=runtime, **how)], env=env or self.env, cwd="/",
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        result = Result(done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"))
        no_traceback(result)
        return result

    def state(self, container_id):
        result = self.run("state", container_id)
        assert result.status == 0, result
        return json.loads(result.out)

    def containers(self):
        return sorted(os.listdir(self.state_root)) if os.path.isdir(self.state_root) else []


@pytest.fixture
def rootless(nobody_rootfs, nobody_python):  # noqa: F811
    os.makedirs(os.path.join(nobody_rootfs, "out"), exist_ok=True)      # runc binds /out there
    top = tempfile.mkdtemp(prefix="case-", dir=os.path.dirname(nobody_rootfs))
    os.chmod(top, 0o755)
    before = set(descendants())
    try:
        yield Rootless(top, nobody_rootfs, nobody_python)
        left = collect_strays(before)
        assert not left, f"processes left behind: {format_procs(left)}"
    finally:
        shutil.rmtree(top)


def write_bundle(*args, **changes):
    # imported when used: test modules that load oci_fixtures as a plugin need it not yet imported
    import oci_fixtures
    return oci_fixtures.write_bundle(*args, **changes)


def _owner(path):
    status = os.stat(path)
    return status.st_uid, status.st_gid


def test_lifecycle_as_nobody(rootless):
    bundle = rootless.bundle(["sh", "-c", "id > /out/id; touch /out/made; exec sleep 60"])
    # the container's stdio is create's: files, which the sandbox process keeps open
    err_path = os.path.join(rootless.top, "c1.err")
    with open(os.path.join(rootless.top, "c1.out"), "wb") as out, open(err_path, "wb") as err:
        created = subprocess.run(rootless.argv("create", "--bundle", bundle, "c1"), env=rootless.env, cwd="/",
                                 stdin=subprocess.DEVNULL, stdout=out, stderr=err, timeout=60)
    with open(err_path) as err:
        assert (created.returncode, err.read()) == (0, "")
    # the state root is runc's: $XDG_RUNTIME_DIR/pysandbox, private, sticky
    assert rootless.containers() == ["c1"]
    assert os.stat(rootless.state_root).st_mode & 0o7777 == 0o1700
    state = rootless.state("c1")
    assert state["status"] == "created"
    sandbox = wait_until(lambda: (children_of(state["pid"]) or [None])[0])
    with open(f"/proc/{sandbox}/uid_map") as uid_map, open(f"/proc/{sandbox}/gid_map") as gid_map:
        assert (uid_map.read().split(), gid_map.read().split()) == (["0", str(NOBODY), "1"], ["0", str(NOBODY), "1"])
    assert proc_status(sandbox)["NSpid"].split()[1:] == ["1"]           # pid 1 of its own pid namespace
    for kind in ("user", "mnt", "uts", "ipc"):
        assert os.readlink(f"/proc/{sandbox}/ns/{kind}") != os.readlink(f"/proc/self/ns/{kind}"), kind
    assert "pysandbox-root-" in os.readlink(f"/proc/{sandbox}/root")    # chrooted as a root run is

    assert rootless.run("start", "c1").status == 0
    made = os.path.join(bundle.out, "made")
    wait_until(lambda: os.path.exists(made))
    assert _owner(made) == (NOBODY, NOBODY)         # the workload's root is the caller on the host
    with open(os.path.join(bundle.out, "id")) as ids:
        assert ids.read() == "uid=0(root) gid=0(root)\n"
    assert rootless.state("c1")["status"] == "running"

    executed = rootless.run("exec", "c1", "sh", "-c", "id -u; touch /out/exec; exit 3")
    assert (executed.status, executed.out, executed.err) == (3, "0\n", "")
    assert _owner(os.path.join(bundle.out, "exec")) == (NOBODY, NOBODY)
    refused = rootless.run("exec", "--user", "5", "c1", "true")
    assert (refused.status, refused.err.count("\n")) == (1, 1), refused
    assert "cannot set uid to unmapped user in user namespace" in refused.err

    listed = rootless.run("ps", "--format", "json", "c1")
    host_pids = json.loads(listed.out)
    assert listed.status == 0 and host_pids, listed
    assert all(proc_status(pid)["Uid"].split()[0] == str(NOBODY) for pid in host_pids)

    for verb, status in (("pause", "paused"), ("resume", "running")):
        assert rootless.run(verb, "c1").status == 0
        assert rootless.state("c1")["status"] == status
    assert rootless.run("kill", "c1", "KILL").status == 0
    wait_until(lambda: rootless.state("c1")["status"] == "stopped")
    waited = rootless.run("wait", "c1")
    assert json.loads(waited.out) == {"id": "c1", "exitStatus": 137}
    assert rootless.run("delete", "c1").status == 0
    assert rootless.containers() == []
    assert rootless.run("state", "c1").status == 1


def test_run_gives_the_exit_status_and_leaves_nothing(rootless):
    bundle = rootless.bundle(["sh", "-c", "echo out; echo err >&2; exit 7"])
    done = rootless.run("run", "--bundle", bundle, "r1")
    assert (done.status, done.out, done.err) == (7, "out\n", "err\n")
    assert rootless.containers() == []
    detached = rootless.run("run", "--detach", "--bundle", bundle, "r2")
    assert detached.status == 0, detached
    wait_until(lambda: rootless.state("r2")["status"] == "stopped")
    assert rootless.run("delete", "r2").status == 0
    assert rootless.containers() == []


def _subid_namespace(top, granted=True):
    """A command prefix: a private mount namespace whose /etc/subuid and /etc/subgid give nobody
    SUB_IDS.. (newuidmap and newgidmap read them there), or nothing."""
    subids = os.path.join(top, "subid")
    with open(subids, "w") as out:
        out.write(f"nobody:{SUB_IDS}:65536\n" if granted else "")
    os.chmod(subids, 0o644)
    binds = "; ".join(f"mount --bind {subids} /etc/{name}" for name in ("subuid", "subgid"))
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", f'{binds}; exec "$@"', "sh"]


@pytest.mark.parametrize("mapping", ["own ids", "a range through newuidmap"])
def test_ids_and_file_owners_match_runc(rootless, mapping):
    """The same bundle under runc and pysandbox: what the workload sees of its ids, what chown to
    mapped and unmapped ids gives, and which host ids its files get."""
    if not shutil.which("runc"):
        pytest.skip("runc is not installed (scripts/install.sh installs it)")
    mappings, prefix = OWN_MAPPING, ()
    if mapping != "own ids":
        if not (shutil.which("newuidmap") and shutil.which("newgidmap") and shutil.which("unshare")):
            pytest.skip("newuidmap/newgidmap are not installed (scripts/install.sh installs uidmap)")
        mappings, prefix = RANGE_MAPPING, _subid_namespace(rootless.top)
    script = ("id; cd /out; touch mine other; chown 1000:1000 other; echo chown mapped $?; "
              "chown 70000 mine; echo chown unmapped $?; ls -ln /out | sed 1d | tr -s ' ' | cut -d' ' -f3,4,9")
    results = {}
    for runtime in ("runc", "pysandbox"):
        bundle = rootless.bundle(["sh", "-c", script], mappings, host_sys=True)
        root = rootless.mkdir(f"{runtime}-root", 0o700)
        done = rootless.run("--root", root, "run", "--bundle", bundle, f"{runtime}1", runtime=runtime, prefix=prefix)
        owners = {name: _owner(os.path.join(bundle.out, name)) for name in sorted(os.listdir(bundle.out))}
        results[runtime] = (done.status, done.out, done.err.replace(f"{runtime}: ", "").strip(), owners)
        assert os.listdir(root) == []
    assert results["runc"][0] == 0, results["runc"]
    assert results["pysandbox"] == results["runc"]
    status, out, _err, owners = results["pysandbox"]
    assert status == 0 and out.startswith("uid=0(root) gid=0(root)\n"), results
    assert owners["mine"] == (NOBODY, NOBODY)
    assert owners["other"] == ((SUB_IDS + 999,) * 2 if mappings is RANGE_MAPPING else (NOBODY, NOBODY))


def test_root_with_a_user_namespace_in_config_matches_runc(rootless):
    """Root honours config.json's user namespace too (Docker's userns-remap gives one): the
    sandbox process is the mapped root, and the files it makes get the mapped host ids."""
    if not shutil.which("runc"):
        pytest.skip("runc is not installed (scripts/install.sh installs it)")
    remap = [{"containerID": 0, "hostID": SUB_IDS, "size": 65536}]
    script = ("id; ls -ln /bin/busybox | tr -s ' ' | cut -d' ' -f3,4; cd /out; touch mine other; "
              "chown 1000:1000 other; echo chown mapped $?; chown 70000 mine; echo chown unmapped $?")
    results = {}
    for runtime in ("runc", "pysandbox"):
        bundle = rootless.bundle(["sh", "-c", script], remap, network=True)
        os.chown(bundle.out, SUB_IDS, SUB_IDS)
        root = os.path.join(rootless.top, f"{runtime}-root")
        done = rootless.run("--root", root, "run", "--bundle", bundle, "remapped", runtime=runtime, as_nobody=False)
        owners = {name: _owner(os.path.join(bundle.out, name)) for name in sorted(os.listdir(bundle.out))}
        results[runtime] = (done.status, done.out, done.err.replace(f"{runtime}: ", "").strip(), owners)
        assert os.listdir(root) == []
    assert results["runc"][0] == 0, results["runc"]
    assert results["pysandbox"] == results["runc"]
    assert results["pysandbox"][3] == {"mine": (SUB_IDS, SUB_IDS), "other": (SUB_IDS + 1000, SUB_IDS + 1000)}
    # not yet: a host cgroup for it (its sandbox process, root of the namespace only, can't make one)
    bundle = rootless.bundle(["true"], remap, network=True)
    config = bundle.config()
    _memory_limit(config)
    bundle.write_config(config)
    refused = rootless.run("--root", os.path.join(rootless.top, "limited"), "run", "--bundle", bundle, "limited",
                           as_nobody=False)
    assert (refused.status, refused.err) == (1, "pysandbox: a memory limit for a container with a user namespace "
                                                "is not supported: its sandbox process can't make a host cgroup\n")


def test_root_of_a_user_namespace_runs_a_plain_config(rootless):
    """Rootless Docker and Podman run the runtime as root of their own user namespace, with a
    config.json that has none: it runs as a root run does, its state under $XDG_RUNTIME_DIR."""
    if not shutil.which("unshare"):
        pytest.skip("util-linux's unshare is not installed")
    out = rootless.mkdir("plain-out")
    bundle = write_bundle(os.path.join(rootless.top, "plain"), rootless.rootfs,
                          ["sh", "-c", "id; touch /out/made; exit 5"], out)
    done = rootless.run("run", "--bundle", bundle, "plain", wrapper=["unshare", "--user", "--map-root-user"],
                        env=dict(rootless.env, USER="nobody"))
    assert (done.status, done.out, done.err) == (5, "uid=0(root) gid=0(root)\n", "")
    assert _owner(os.path.join(out, "made")) == (NOBODY, NOBODY)
    assert os.path.isdir(rootless.state_root) and rootless.containers() == []


def _no_user_namespace(config):
    config["linux"]["namespaces"] = [ns for ns in config["linux"]["namespaces"] if ns["type"] != "user"]
    del config["linux"]["uidMappings"], config["linux"]["gidMappings"]


def _unmapped_user(config):
    config["process"]["user"] = {"uid": 5, "gid": 0}


def _memory_limit(config):
    config["linux"]["resources"] = {"memory": {"limit": 64 << 20}}


def _no_uid_mappings(config):
    del config["linux"]["uidMappings"]


def _unmapped_mount_gid(config):
    config["mounts"].append({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                             "options": ["newinstance", "gid=5"]})


@pytest.mark.parametrize("change, message", [
    (_no_user_namespace, "rootless container requires user namespaces"),
    (_no_uid_mappings, "user namespaces enabled, but no uid mappings found"),
    (_unmapped_user, "cannot set uid to unmapped user in user namespace"),
    (_unmapped_mount_gid, "cannot specify gid=5 mount option"),
    (_memory_limit, "cannot set memory limit: container could not join or create cgroup"),
], ids=["no user namespace", "no uid mappings", "unmapped process user", "unmapped mount gid", "memory limit"])
def test_what_runc_refuses_is_refused_in_one_line(rootless, change, message):
    bundle = rootless.bundle(["true"], host_sys=True)
    config = bundle.config()
    change(config)
    bundle.write_config(config)
    refused = rootless.run("run", "--bundle", bundle, "bad")
    assert refused.status == 1 and refused.out == "", refused
    assert refused.err.startswith("pysandbox: ") and refused.err.count("\n") == 1 and message in refused.err, refused
    assert rootless.containers() == []
    if shutil.which("runc"):
        root = rootless.mkdir("runc-root", 0o700)
        assert rootless.run("--root", root, "run", "--bundle", bundle, "bad", runtime="runc").status != 0


def test_ranges_without_newuidmap_say_so(rootless):
    bundle = rootless.bundle(["true"], RANGE_MAPPING)
    refused = rootless.run("run", "--bundle", bundle, "bad", env=dict(rootless.env, PATH="/nonexistent"))
    assert refused.status == 1 and refused.err.count("\n") == 1, refused
    assert "needs newuidmap (Debian's uidmap package), which is not installed" in refused.err
    assert rootless.containers() == []
    if shutil.which("newgidmap") and shutil.which("unshare"):       # installed, but no subids for nobody
        refused = rootless.run("run", "--bundle", bundle, "bad", prefix=_subid_namespace(rootless.top, granted=False))
        assert (refused.status, refused.err) == (
            1, f"pysandbox: cannot map the container's user namespace ids: newgidmap: gid range [1-65537) -> "
               f"[{SUB_IDS}-{SUB_IDS + 65536}) not allowed\n"), refused
        assert rootless.containers() == []


def test_a_host_without_user_namespaces_says_so(rootless):
    bundle = rootless.bundle(["true"])
    refused = rootless.run("run", "--bundle", bundle, "c", as_nobody=False, prefix=[PYTHON, "-c", NO_USER_NAMESPACES])
    assert refused.status != 99, "this host gives root no user namespace to test in"
    assert (refused.status, refused.out) == (1, ""), refused
    assert refused.err == ("pysandbox: cannot make the container's user namespace: "
                           "the host's user.max_user_namespaces is reached\n")
    assert rootless.containers() == []


def test_rootless_flag_and_default_root(rootless):
    bundle = rootless.bundle(["true"])
    # --rootless=false: the cgroup an unprivileged user can't make is an error, as with runc
    refused = rootless.run("--rootless=false", "run", "--bundle", bundle, "c")
    assert refused.status == 1 and "cannot create the container's cgroup: permission denied" in refused.err, refused
    assert rootless.run("--rootless", "true", "run", "--bundle", bundle, "c").status == 0
    # no XDG_RUNTIME_DIR: runc's /run default, which nobody can't write
    env = {name: value for name, value in rootless.env.items() if name != "XDG_RUNTIME_DIR"}
    if not os.stat("/run").st_mode & 0o002:
        no_root = rootless.run("run", "--bundle", bundle, "c", env=env)
        assert no_root.status == 1 and no_root.err.count("\n") == 1, no_root
        assert "set XDG_RUNTIME_DIR or give --root" in no_root.err or "permission denied" in no_root.err, no_root
    assert rootless.containers() == []


def test_spec_rootless_writes_what_runc_writes_and_it_runs(rootless):
    directories = {runtime: rootless.mkdir(f"spec-{runtime}") for runtime in ("runc", "pysandbox")}
    configs = {}
    for runtime, directory in directories.items():
        if runtime == "runc" and not shutil.which("runc"):
            continue
        assert rootless.run("spec", "--rootless", "--bundle", directory, runtime=runtime).status == 0
        with open(os.path.join(directory, "config.json")) as config:
            configs[runtime] = json.load(config)
    ours = configs["pysandbox"]
    expected_mapping = [{"containerID": 0, "hostID": NOBODY, "size": 1}]
    assert ours["linux"]["uidMappings"] == ours["linux"]["gidMappings"] == expected_mapping
    if "runc" in configs:
        for key in ("uidMappings", "gidMappings"):
            assert ours["linux"][key] == configs["runc"]["linux"][key]
        assert sorted(ns["type"] for ns in ours["linux"]["namespaces"]) == \
            sorted(ns["type"] for ns in configs["runc"]["linux"]["namespaces"])
    ours["root"] = {"path": rootless.rootfs, "readonly": True}
    ours["process"].update(terminal=False, args=["sh", "-c", "id -u; exit 4"])
    with open(os.path.join(directories["pysandbox"], "config.json"), "w") as config:
        json.dump(ours, config)
    done = rootless.run("run", "--bundle", directories["pysandbox"], "s")
    assert (done.status, done.out, done.err) == (4, "0\n", "")
