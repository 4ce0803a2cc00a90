"""What the OCI and Docker tests share: bundles, a runtime driver, and a Docker engine with images.

Fixtures (import them into a test module with `from oci_fixtures import *`):

  runtime        function  Runtime: `pysandbox --root TMP ...` with its own state root; at the
                           end every container left is deleted with --force and the root must
                           be empty (no stale state)
  bundle         function  callable bundle(args, **config) -> bundle dir around the busybox
                           rootfs, with an /out bind mount to a host dir (bundle.out)
  docker         session   Docker: a running dockerd with the pysandbox runtime registered (skips
                           only when the host cannot run dockerd, saying why)
  docker_images  session   {"bb": tag, "py": tag}: a busybox image and a python3 image, both
                           `docker import`ed from rootfs trees built by the tests
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time

import pytest

import helpers

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYSANDBOX = [helpers.PYTHON, "-m", "pysandbox"]
sys.path.insert(0, REPO)

from pysandbox.ocishim.spec import default_spec  # noqa: E402


class Bundle(str):
    """A bundle directory (the str), with the host directory bound at /out in the container."""
    out: str
    config_path: str

    def config(self):
        with open(self.config_path) as f:
            return json.load(f)

    def write_config(self, config):
        with open(self.config_path, "w") as f:
            json.dump(config, f)


def write_bundle(directory, rootfs, args, out_dir=None, **changes):
    """A bundle at `directory` running `args` in `rootfs` (read-only); `changes` update config.json's
    top level, and process_* keywords update process (process_env=[...], process_user={...})."""
    os.makedirs(directory, exist_ok=True)
    config = default_spec(args)
    config["root"] = {"path": rootfs, "readonly": True}
    config["process"]["terminal"] = False
    config["process"]["env"] = ["PATH=/bin:/usr/bin", "HOME=/root"]
    if out_dir is not None:
        config["mounts"].append({"destination": "/out", "type": "bind", "source": out_dir,
                                 "options": ["rbind", "rw"]})
    for key, value in changes.items():
        if key.startswith("process_"):
            config["process"][key[len("process_"):]] = value
        else:
            config[key] = value
    bundle = Bundle(directory)
    bundle.out = out_dir
    bundle.config_path = os.path.join(directory, "config.json")
    bundle.write_config(config)
    return bundle


class Runtime:
    """Runs `pysandbox --root ROOT VERB ...` the way a shim does."""

    def __init__(self, root, workdir):
        self.root = root
        self.workdir = workdir
        self.global_flags = ["--root", root]

    def argv(self, *args):
        return [*PYSANDBOX, *self.global_flags, *map(str, args)]

    def run(self, *args, stdin=None, timeout=30, check=False):
        """One verb that ends (not create/run, whose sandbox keeps stdio open): a helpers.Result."""
        done = subprocess.run(self.argv(*args), input=stdin.encode() if isinstance(stdin, str) else stdin,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, cwd="/",
                              env=helpers.TEST_ENV, stdin=None if stdin is not None else subprocess.DEVNULL)
        result = helpers.Result(done.returncode, done.stdout.decode(errors="replace"),
                                done.stderr.decode(errors="replace"))
        helpers.no_traceback(result)
        if check:
            assert result.status == 0, f"pysandbox {' '.join(map(str, args))} failed: {result}"
        return result

    def create(self, container_id, bundle, *extra, stdin=None, check=True):
        """`create` with the container's stdio on files: returns (Result, stdout path, stderr path)."""
        out = os.path.join(self.workdir, f"{container_id}.stdout")
        err = os.path.join(self.workdir, f"{container_id}.stderr")
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            done = subprocess.run(self.argv("create", "--bundle", bundle, *extra, container_id),
                                  stdin=stdin if stdin is not None else subprocess.DEVNULL, stdout=stdout,
                                  stderr=stderr, timeout=30, cwd="/", env=helpers.TEST_ENV)
        with open(err, errors="replace") as f:
            result = helpers.Result(done.returncode, "", f.read())
        helpers.no_traceback(result)
        if check:
            assert result.status == 0, f"create {container_id} failed: {result}"
        return result, out, err

    def state(self, container_id):
        result = self.run("state", container_id, check=True)
        return json.loads(result.out)

    def wait_status(self, container_id, status, timeout=15):
        deadline = time.monotonic() + timeout
        while True:
            state = self.state(container_id)
            if state["status"] == status:
                return state
            assert time.monotonic() < deadline, f"{container_id} stayed {state['status']}, not {status}"
            time.sleep(0.05)

    def ids(self):
        return sorted(os.listdir(self.root)) if os.path.isdir(self.root) else []

    def cleanup(self):
        for container_id in self.ids():
            self.run("delete", "--force", container_id)


@pytest.fixture
def runtime(tmp_path):
    rt = Runtime(str(tmp_path / "root"), str(tmp_path))
    yield rt
    left = rt.ids()
    rt.cleanup()
    assert rt.ids() == [], f"delete --force left state behind: {rt.ids()}"
    assert not left, f"the test left containers behind: {left}"


@pytest.fixture
def bundle(tmp_path, busybox_rootfs):
    counter = iter(range(1000))

    def make(args, **changes):
        n = next(counter)
        out = tmp_path / f"out{n}"
        out.mkdir()
        return write_bundle(str(tmp_path / f"bundle{n}"), busybox_rootfs, list(args), str(out), **changes)
    return make


# -- Docker --------------------------------------------------------------------------------------------
class Docker:
    def __init__(self, client):
        self.client = client
        self.names = []                # containers started by sandboxed(), removed by forget_containers()
        self.label = f"pysandbox-test={os.getpid()}"     # on every container this test run starts

    def run(self, *args, stdin=None, timeout=60, check=False):
        done = subprocess.run([self.client, *map(str, args)], input=stdin.encode() if isinstance(stdin, str) else stdin,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                              stdin=None if stdin is not None else subprocess.DEVNULL)
        result = helpers.Result(done.returncode, done.stdout.decode(errors="replace"),
                                done.stderr.decode(errors="replace"))
        if check:
            assert result.status == 0, f"docker {' '.join(map(str, args))} failed: {result}"
        return result

    def sandboxed(self, *args, **kw):
        """docker run --rm --runtime=pysandbox --network=none ARGS... (named, so that a run that
        hangs can still be removed by forget_containers)"""
        name = f"pysandbox-test-{os.getpid()}-{len(self.names)}"
        self.names.append(name)
        return self.run("run", "--rm", "--name", name, "--label", self.label, "--runtime=pysandbox",
                        "--network=none", *args, **kw)

    def forget_containers(self):
        """Remove what sandboxed() started and is still there; returns their names."""
        left = [name for name in self.names if self.run("inspect", name).status == 0]
        for name in left:
            self.run("rm", "-f", name)
        self.names.clear()
        return left


@pytest.fixture(scope="session")
def docker():
    client = shutil.which("docker")
    if client is None or shutil.which("dockerd") is None:
        pytest.skip("docker.io is not installed (scripts/install.sh installs it)")
    if os.geteuid() != 0:
        pytest.skip("dockerd needs root")
    runtime = os.path.join(os.path.dirname(helpers.PYTHON), "pysandbox")
    if not os.path.exists(runtime):
        runtime = shutil.which("pysandbox")
    setup = subprocess.run(["bash", os.path.join(REPO, "scripts", "start-docker.sh"), runtime],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    if setup.returncode != 0:
        pytest.skip(f"this host cannot run dockerd: {setup.stdout.decode(errors='replace').strip()}")
    return Docker(client)


def _import_image(docker, tag, rootfs):
    """`docker import` of a rootfs tree, streamed as a tar."""
    proc = subprocess.Popen([docker.client, "import", "-", tag], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with tarfile.open(fileobj=proc.stdin, mode="w|") as tar:
        tar.add(rootfs, arcname=".")
    proc.stdin.close()
    err = proc.stderr.read()
    proc.stdout.read()
    proc.wait(timeout=300)
    assert proc.returncode == 0, f"docker import {tag} failed: {err.decode(errors='replace')}"


@pytest.fixture(scope="session")
def docker_images(docker, busybox_rootfs, host_rootfs):
    images = {"bb": "pysandbox-test/busybox:latest", "py": "pysandbox-test/python3:latest"}
    _import_image(docker, images["bb"], busybox_rootfs)
    _import_image(docker, images["py"], host_rootfs)
    return images
