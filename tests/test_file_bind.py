"""Bind mounts of a single file (`-v /etc/hosts:/etc/hosts`, and Docker's resolv.conf, hostname
and hosts): the file's operations and errnos match a native bind mount made under `unshare -m`,
and neither the sentry nor the gofer ever holds the file's directory (docs/GOFER.md)."""
import os
import shutil
import subprocess

import pytest

from helpers import (PYTHON, TEST_ENV, assert_same, descendants, file_identity, run_native, run_sandbox,
                     wait_until)
from pysandbox.security.hostproc import children_of

each_platform = pytest.mark.usefixtures("each_platform")
pytest_plugins = ("oci_fixtures",)        # docker, docker_images
MODES = ["directfs", "gofer"]

# Run in a directory holding etc/hosts (the mount point) and etc/other (its sibling).
FILE_OPERATIONS = r"""
import errno, os, sys
os.chdir(sys.argv[1])
def show(what, call, *args):
    try:
        result = call(*args)
        print(what, "ok" if result is None or isinstance(result, int) else result)
    except OSError as error:
        print(what, errno.errorcode[error.errno])
def attrs(what):
    st = os.stat("etc/hosts")
    print(what, oct(st.st_mode), st.st_size, st.st_nlink, st.st_uid,
          (st.st_atime_ns, st.st_mtime_ns) == (1_000_000_000, 2_000_000_000))
def read():
    with open("etc/hosts") as f:
        return repr(f.read())
def write_at_start():
    fd = os.open("etc/hosts", os.O_WRONLY)
    try:
        return os.write(fd, b"WRITTEN")
    finally:
        os.close(fd)
def append():
    with open("etc/hosts", "a") as f:
        f.write("appended\n")
def ftruncate():
    with open("etc/hosts", "r+") as f:
        f.truncate(11)
show("read", read)
show("write", write_at_start)
show("append", append)
show("read after", read)
show("truncate", os.truncate, "etc/hosts", 20)
show("ftruncate", ftruncate)
show("read truncated", read)
show("chmod", os.chmod, "etc/hosts", 0o640)
show("chown", os.chown, "etc/hosts", 0, 0)
show("utime", lambda: os.utime("etc/hosts", ns=(1_000_000_000, 2_000_000_000)))
attrs("stat")
show("unlink", os.unlink, "etc/hosts")
show("rename onto", os.rename, "etc/other", "etc/hosts")
show("rename away", os.rename, "etc/hosts", "etc/moved")
show("rmdir", os.rmdir, "etc/hosts")
show("link from", os.link, "etc/hosts", "etc/linked")
show("mkdir over", os.mkdir, "etc/hosts")
show("create excl", os.open, "etc/hosts", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
show("as directory", os.open, "etc/hosts", os.O_RDONLY | os.O_DIRECTORY)
show("below", os.stat, "etc/hosts/x")
show("list", lambda: sorted(os.listdir("etc")))
show("sibling", lambda: open("etc/other").read())
"""


@pytest.fixture
def bind_source(tmp_path):
    """(source file, its directory's sibling, directory with etc/hosts and etc/other, reset())."""
    source_dir = tmp_path / "source"
    source_dir.mkdir()
    source = source_dir / "hosts"
    (source_dir / "config.v2.json").write_text("{\"secret\": true}\n")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)

    def reset():
        source.write_text("127.0.0.1 localhost\n")
        os.chmod(source, 0o644)
        (root / "etc" / "hosts").write_text("the image's own\n")
        (root / "etc" / "other").write_text("other\n")
    reset()
    return source, root, reset


def _native(source, root, read_only=False):
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("the native comparison needs root and util-linux's unshare")
    mount_point = root / "etc" / "hosts"
    remount = f" && mount -o remount,bind,ro {mount_point}" if read_only else ""
    return run_native(["unshare", "-m", "sh", "-c", f"mount --bind {source} {mount_point}{remount} && "
                       f"exec python3 -c \"$0\" {root}", FILE_OPERATIONS])


@each_platform
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("read_only", [False, True], ids=["rw", "ro"])
def test_file_bind_matches_a_native_bind_mount(bind_source, mode, read_only):
    source, root, reset = bind_source
    native = _native(source, root, read_only)
    native_after = (source.read_text(), os.stat(source).st_mode, sorted(os.listdir(root / "etc")))
    reset()
    volume = f"{source}:{root}/etc/hosts" + (":ro" if read_only else "")
    sandboxed = run_sandbox(["python3", "-c", FILE_OPERATIONS, str(root)], flags=["--gofer-mode", mode, "-v", volume])
    assert_same(native, sandboxed)
    assert (source.read_text(), os.stat(source).st_mode, sorted(os.listdir(root / "etc"))) == native_after
    if read_only:
        assert "write EROFS\n" in sandboxed.out and "chmod EROFS\n" in sandboxed.out
        assert source.read_text() == "127.0.0.1 localhost\n"
    else:
        assert "read truncated 'WRITTEN.1 l'\n" in sandboxed.out
        assert "stat 0o100640 11 1 0 True\n" in sandboxed.out
    assert "unlink EBUSY\nrename onto EBUSY\nrename away EBUSY\n" in sandboxed.out


def _held(pid):
    """{(st_dev, st_ino): fd} of what process `pid` holds open."""
    held = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            held[file_identity(f"/proc/{pid}/fd/{fd}")] = fd
        except OSError:
            continue
    return held


@each_platform
@pytest.mark.parametrize("mode", MODES)
def test_no_pysandbox_process_holds_the_files_directory(bind_source, mode):
    """The sentry (and the gofer, serving or not) hold the bound file itself and nothing of the
    directory it is in, so a compromised sentry has no way to its siblings (Docker's
    config.v2.json next to a container's hosts file)."""
    if os.geteuid() != 0:
        pytest.skip("the sentry's own pid namespace, where its processes are found, needs root")
    source, root, _ = bind_source
    outer = subprocess.Popen([PYTHON, "-m", "pysandbox", "do", "--gofer-mode", mode, "-v", f"{source}:/etc/hosts",
                              "--", "/bin/sh", "-c", "cat /etc/hosts >/dev/null && echo read && sleep 30"],
                             env=TEST_ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert outer.stdout.readline() == b"read\n"
        sentry = children_of(outer.pid)[0]
        gofer_pid = wait_until(lambda: next((pid for pid, (comm, _) in descendants(sentry).items()
                                             if comm == "pysandbox-gofer"), None))
        directory = file_identity(source.parent)
        sibling = file_identity(source.parent / "config.v2.json")
        for pid in (sentry, gofer_pid):
            held = _held(pid)
            assert directory not in held and sibling not in held, (pid, held)
        holder = gofer_pid if mode == "gofer" else sentry
        assert file_identity(source) in _held(holder), "the file's own handle is where the mode keeps it"
        # In both modes the gofer lives on, chrooted into an empty directory and under its filter.
        wait_until(lambda: "Seccomp:\t2\n" in open(f"/proc/{gofer_pid}/status").read())
        assert os.readlink(f"/proc/{gofer_pid}/root").endswith("(deleted)")
    finally:
        outer.kill()
        outer.wait()


@each_platform
def test_a_file_bind_on_a_busybox_rootfs(busybox_rootfs, bind_source):
    """A busybox image's /etc/hostname, bound from the host as Docker binds it: read, rewritten
    in place, and still the mount point afterwards."""
    source, _, _ = bind_source
    source.write_text("pysandbox-host\n")
    script = ("cat /etc/hostname; echo changed > /etc/hostname; cat /etc/hostname; "
              "rm /etc/hostname 2>&1 | sed 's/.*: //'; mv /etc/hostname /etc/h2 2>&1 | sed 's/.*: //'; "
              "grep -c /etc/hostname /proc/mounts")
    result = run_sandbox(["/bin/sh", "-c", script], rootfs=busybox_rootfs,
                         flags=["-v", f"{source}:/etc/hostname", "--gofer-mode", "directfs"])
    assert result.out == "pysandbox-host\nchanged\nDevice or resource busy\nDevice or resource busy\n1\n", result
    assert source.read_text() == "changed\n"


def test_docker_binds_its_network_files(docker, docker_images):
    """Docker binds /etc/resolv.conf, /etc/hostname and /etc/hosts out of the container's own
    directory: names resolve through /etc/hosts, and the three files read as Docker wrote them
    (on the runtime's default platform)."""
    script = ("import socket\n"
              "print(open('/etc/hostname').read().strip())\n"
              "print(socket.gethostbyname('psb-added'))\n"
              "print([line.split() for line in open('/etc/resolv.conf') if line.startswith('nameserver')])\n"
              "open('/etc/hosts', 'a').write('10.7.7.7 psb-appended\\n')\n"
              "print(socket.gethostbyname('psb-appended'))\n")
    result = docker.sandboxed("--hostname", "psb-host", "--add-host", "psb-added:10.1.2.3", "--dns", "10.9.8.7",
                              docker_images["py"], "python3", "-c", script)
    assert (result.status, result.out) == (0, "psb-host\n10.1.2.3\n[['nameserver', '10.9.8.7']]\n10.7.7.7\n"), result
