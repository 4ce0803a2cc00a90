"""Shared fixtures for pysandbox's tests.

Fixtures (see tests/helpers.py for run_native / run_sandbox):

  busybox_rootfs   session  str: a small rootfs around the static busybox
  host_rootfs      session  str: a rootfs with the host's bash, coreutils basics,
                            python3 (Debian's) and their shared libraries
  cprog            session  callable cprog(name, static=False) -> str: compiles
                            tests/cprogs/NAME.c with gcc -O2 -pthread (and -static)
                            once per session and returns the binary's host path
  as_root          function skips the test unless we are root (chroot, setuid)
  no_stray_processes  autouse: fails a test that leaves host processes behind

Options: --sandbox-platform NAME (or PYSANDBOX_TEST_PLATFORM) selects the
platform passed to `pysandbox do --platform`.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import helpers  # noqa: E402
import rootfs as rootfs_mod  # noqa: E402

CPROGS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cprogs")


def pytest_addoption(parser):
    parser.addoption("--sandbox-platform", default=None,
                     help="platform for `pysandbox do --platform` (default: ptrace)")


def pytest_configure(config):
    plat = config.getoption("--sandbox-platform")
    if plat:
        helpers.PLATFORM = plat
    # Orphans of a sandbox come back to us (and can be counted), not to init.
    helpers.enable_subreaper()
    # Crashing test programs (SIGSEGV tests) must not litter core files.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def pytest_generate_tests(metafunc):
    # Modules marked with usefixtures("each_platform") run every test on each platform
    # (only the one --sandbox-platform names, when given).
    if "each_platform" in metafunc.fixturenames:
        chosen = metafunc.config.getoption("--sandbox-platform")
        names = [chosen] if chosen else list(helpers.ALL_PLATFORMS)
        metafunc.parametrize("each_platform", names, indirect=True)


@pytest.fixture
def each_platform(request, monkeypatch):
    """The platform this run of the test uses: skipped, with the reason, where the host lacks it."""
    usable, reason = helpers.platform_support(request.param)
    if not usable:
        pytest.skip(f"{request.param} platform unavailable here: {reason}")
    monkeypatch.setattr(helpers, "PLATFORM", request.param)
    return request.param


def pytest_report_header(config):
    return f"pysandbox platform under test: {helpers.PLATFORM}"


@pytest.fixture(autouse=True)
def no_stray_processes():
    """A test must not leave host processes (stubs, sentries, children) behind."""
    before = set(helpers.descendants())
    yield
    strays = helpers.collect_strays(before, wait=5.0)
    if strays:
        pytest.fail("host processes left behind after the test (killed now): "
                    + helpers.format_procs(strays), pytrace=False)


@pytest.fixture(autouse=True)
def end_gofers_of_dropped_vfses(no_stray_processes):
    """A VFS a test builds in this process has a gofer process (in directfs mode too, where it
    serves xattrs) that lives until VFS.close(): end those the test left, before the check above
    (which this fixture's teardown runs ahead of)."""
    yield
    client = sys.modules.get("pysandbox.gofer.client")
    if client is not None:
        client.GoferClient.close_all()


@pytest.fixture
def as_root():
    if os.geteuid() != 0:
        pytest.skip("needs root (chroot for the native run, setuid)")


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory) -> str:
    if not os.path.exists(rootfs_mod.BUSYBOX):
        pytest.fail(f"{rootfs_mod.BUSYBOX} is missing: run scripts/install.sh "
                    "(apt-get install busybox-static)", pytrace=False)
    dest = tmp_path_factory.mktemp("busybox-rootfs")
    os.chmod(dest, 0o755)
    return rootfs_mod.build_busybox_rootfs(str(dest))


@pytest.fixture(scope="session")
def host_rootfs(tmp_path_factory) -> str:
    if not os.path.exists(rootfs_mod.HOST_PYTHON):
        pytest.fail(f"{rootfs_mod.HOST_PYTHON} is missing: run scripts/install.sh "
                    "(apt-get install python3)", pytrace=False)
    dest = tmp_path_factory.mktemp("host-rootfs")
    os.chmod(dest, 0o755)
    return rootfs_mod.build_host_rootfs(str(dest))


@pytest.fixture(scope="session")
def cprog(tmp_path_factory):
    """cprog(name, static=False) -> path of tests/cprogs/NAME.c, compiled."""
    gcc = shutil.which("gcc")
    outdir = tmp_path_factory.mktemp("cprogs")
    built: dict[tuple[str, bool], str] = {}

    def build(name: str, static: bool = False) -> str:
        key = (name, static)
        if key in built:
            return built[key]
        if gcc is None:
            pytest.fail("gcc is missing: run scripts/install.sh", pytrace=False)
        src = os.path.join(CPROGS, name + ".c")
        if not os.path.exists(src):
            raise FileNotFoundError(src)
        out = os.path.join(str(outdir), name + ("-static" if static else ""))
        cmd = [gcc, "-O2", "-pthread", "-Wall", "-o", out, src]
        if static:
            cmd.insert(1, "-static")
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            pytest.fail(f"compiling {name}.c failed:\n{r.stdout.decode(errors='replace')}",
                        pytrace=False)
        built[key] = out
        return out

    return build


@pytest.fixture(params=["dynamic", "static"])
def build(request, cprog):
    """build(name) -> tests/cprogs/NAME.c compiled, once dynamic and once static."""
    return lambda name: cprog(name, static=request.param == "static")
