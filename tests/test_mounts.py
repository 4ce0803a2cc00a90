"""The mount table: configured mounts (MountSpec, `do -v/--tmpfs`), /proc/<pid>/mounts and
mountinfo, mount(2)/umount2(2) inside the sandbox compared with Linux, EXDEV, ro and noexec."""
import errno
import os
import shutil
import struct
import subprocess

import pytest

from helpers import errno_of, run_pysandbox, run_sandbox
from rootfs import build_busybox_rootfs
from pysandbox.sentry.errors import SandboxError
from pysandbox.sentry.vfs import VFS
from pysandbox.sentry.vfs.mount import MountSpec, parse_options, tmpfs_spec, volume_spec
from pysandbox.sentry.vfs.resolve import AT_FDCWD
from pysandbox.sentry.vfs.testing import FakeTask


@pytest.fixture
def host_dirs(tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "hostname").write_text("image\n")
    (rootfs / "link-to-mnt").symlink_to("/srv/target")
    data = tmp_path / "data"
    data.mkdir()
    (data / "file.txt").write_text("from the host\n")
    single = tmp_path / "resolv.conf"
    single.write_text("nameserver 192.0.2.1\n")
    return rootfs, data, single


def _task(rootfs, mounts, overlay=True, **kw):
    return FakeTask(VFS.for_rootfs(str(rootfs), overlay=overlay, mounts=mounts, **kw))


def _read(t, path):
    file = t.kernel.vfs.open(t, AT_FDCWD, path, os.O_RDONLY, 0)
    try:
        return file.pread(0, 4096)
    finally:
        file.decref()


# --- MountSpec and VFS.for_rootfs ---

def test_option_words_split_into_flags_and_data():
    flags, bind, data = parse_options(["rbind", "ro", "nosuid", "rprivate", "size=1m", "mode=755", "rw", "exec"])
    assert (flags, bind, data) == (2, 4096 | 16384, ["size=1m", "mode=755"])
    assert volume_spec("/a:/b:ro") == MountSpec("/b", "bind", "/a", ["rbind", "ro"])
    assert tmpfs_spec("/t:size=1m,noexec") == MountSpec("/t", "tmpfs", "tmpfs", ["size=1m", "noexec"])
    for bad in ("a:/b", "/a", "/a:b", "/a:/b:ro:x"):
        with pytest.raises(ValueError):
            volume_spec(bad)


def test_every_filesystem_type_mounts_where_configured(host_dirs):
    rootfs, data, single = host_dirs
    t = _task(rootfs, [
        MountSpec("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"]),
        MountSpec("/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k"]),
        MountSpec("/dev/pts", "devpts", "devpts", ["nosuid", "noexec", "newinstance", "ptmxmode=0666"]),
        MountSpec("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        MountSpec("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"]),
        MountSpec("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "ro"]),
        MountSpec("/sys/fs/cgroup", "cgroup", "cgroup", ["nosuid", "noexec", "nodev", "relatime", "ro"]),
        MountSpec("/data", "bind", str(data), ["rbind", "rw"]),
        MountSpec("/etc/resolv.conf", "bind", str(single), ["rbind", "ro"]),
        MountSpec("/srv/target", "tmpfs", "tmpfs", []),
    ])
    vfs = t.kernel.vfs
    try:
        assert _read(t, b"/data/file.txt") == b"from the host\n"
        assert _read(t, b"/etc/resolv.conf") == b"nameserver 192.0.2.1\n"
        assert _read(t, b"/sys/fs/cgroup/memory.max") == b"max\n"
        assert _read(t, b"/sys/devices/system/cpu/online").startswith(b"0")
        assert vfs.lookup(t, AT_FDCWD, b"/dev/null").inode.stat().rdev == os.makedev(1, 3)
        assert _read(t, b"/proc/self/mounts").decode() == (
            "overlay / overlay rw 0 0\n"
            "proc /proc proc rw,nosuid,nodev,noexec 0 0\n"
            "tmpfs /dev tmpfs rw,nosuid,mode=755,size=65536k 0 0\n"
            "devpts /dev/pts devpts rw,nosuid,noexec,newinstance,ptmxmode=0666 0 0\n"
            "shm /dev/shm tmpfs rw,nosuid,nodev,noexec,mode=1777,size=65536k 0 0\n"
            "mqueue /dev/mqueue mqueue rw,nosuid,nodev,noexec 0 0\n"
            "sysfs /sys sysfs ro,nosuid,nodev,noexec 0 0\n"
            "cgroup /sys/fs/cgroup cgroup ro,nosuid,nodev,noexec,relatime 0 0\n"
            f"{data} /data bind rw 0 0\n"
            f"{single} /etc/resolv.conf bind ro 0 0\n"
            "tmpfs /srv/target tmpfs rw 0 0\n")
        info = _read(t, b"/proc/self/mountinfo").decode().splitlines()
        assert [line.split(" - ")[1] for line in info][-3:] == [
            f"bind {data} rw", f"bind {single} ro", "tmpfs tmpfs rw"]
        ids = [int(line.split()[0]) for line in info]
        assert len(set(ids)) == len(ids)
        assert all(int(line.split()[1]) in ids for line in info)
        assert info[7].split()[1] == info[6].split()[0]   # /sys/fs/cgroup hangs on /sys
        # The symlink in the image leads to the mount; the rootfs itself gained nothing.
        assert vfs.mount_of(vfs.lookup(t, AT_FDCWD, b"/link-to-mnt")).fstype == "tmpfs"
        assert _read(t, b"/link-to-mnt/../../etc/hostname") == b"image\n"
        assert sorted(os.listdir(rootfs)) == ["etc", "link-to-mnt"]
        assert errno_of(vfs.open, t, AT_FDCWD, b"/etc/resolv.conf", os.O_WRONLY, 0) == errno.EROFS
        assert errno_of(vfs.open, t, AT_FDCWD, b"/sys/fs/cgroup/x", os.O_CREAT | os.O_WRONLY, 0o644) == errno.EROFS
        assert errno_of(vfs.mkdir, t, AT_FDCWD, b"/sys/new", 0o755) == errno.EROFS
    finally:
        vfs.close()


def test_mounts_go_through_the_gofer_in_gofer_mode(host_dirs):
    rootfs, data, _ = host_dirs
    t = _task(rootfs, [MountSpec("/data", "bind", str(data), ["rbind"])], overlay=False, gofer_mode="gofer")
    try:
        vfs = t.kernel.vfs
        file = vfs.open(t, AT_FDCWD, b"/data/new.txt", os.O_CREAT | os.O_WRONLY, 0o644)
        file.pwrite(0, b"written inside\n")
        file.decref()
        assert (data / "new.txt").read_text() == "written inside\n"
        assert errno_of(vfs.rename, t, AT_FDCWD, b"/data/new.txt", AT_FDCWD, b"/moved", 0) == errno.EXDEV
        assert errno_of(vfs.link, t, AT_FDCWD, b"/data/new.txt", AT_FDCWD, b"/linked", 0) == errno.EXDEV
    finally:
        t.kernel.vfs.close()


@pytest.mark.parametrize("spec, message", [
    (MountSpec("relative", "tmpfs", "tmpfs", []), "must be an absolute path"),
    (MountSpec("/", "tmpfs", "tmpfs", []), "the root is the rootfs"),
    (MountSpec("/x", "nfs", "server:/export", []), "mount /x (nfs): no such device"),
    (MountSpec("/x", "tmpfs", "tmpfs", ["size=lots"]), "mount /x (tmpfs): invalid argument"),
    (MountSpec("/x", "bind", "/nonexistent/dir", ["rbind"]), "/nonexistent/dir: no such file or directory"),
    (MountSpec("/etc/hostname/x", "tmpfs", "tmpfs", []), "mount /etc/hostname/x (tmpfs): not a directory"),
    (MountSpec("/etc/hostname", "tmpfs", "tmpfs", []), "mount /etc/hostname (tmpfs): not a directory"),
])
def test_bad_mounts_are_clear_errors(host_dirs, spec, message):
    rootfs, _, _ = host_dirs
    with pytest.raises(SandboxError, match=message.replace("(", r"\(").replace(")", r"\)")):
        VFS.for_rootfs(str(rootfs), overlay=True, mounts=[spec])


def test_read_only_rootfs_cannot_grow_mount_points(host_dirs):
    rootfs, _, _ = host_dirs
    with pytest.raises(SandboxError, match="read-only file system"):
        VFS.for_rootfs(str(rootfs), read_only=True, overlay=False,
                       mounts=[MountSpec("/new/dir", "tmpfs", "tmpfs", [])])
    assert sorted(os.listdir(rootfs)) == ["etc", "link-to-mnt"]


# --- mount(2) and umount2(2) on bad arguments (in-process) ---

def test_mount_syscall_arguments_are_checked(host_dirs):
    from pysandbox.sentry.syscalls import sys_mount
    rootfs, _, _ = host_dirs
    t = _task(rootfs, [])
    bad = 0x10
    target, tmpfs = t.cstr("/etc"), t.cstr("tmpfs")
    try:
        assert errno_of(sys_mount.mount, t, tmpfs, bad, tmpfs, 0, 0) == errno.EFAULT
        assert errno_of(sys_mount.mount, t, tmpfs, target, bad, 0, 0) == errno.EFAULT
        assert errno_of(sys_mount.mount, t, bad, target, tmpfs, 0, 0) == errno.EFAULT
        assert errno_of(sys_mount.mount, t, tmpfs, target, tmpfs, 0, bad) == errno.EFAULT
        assert errno_of(sys_mount.mount, t, tmpfs, target, t.cstr("x" * 300), 0, 0) == errno.EINVAL
        assert errno_of(sys_mount.mount, t, tmpfs, target, tmpfs, 0, t.cstr("size=1m,colour=red")) == errno.EINVAL
        assert errno_of(sys_mount.umount2, t, bad, 0) == errno.EFAULT
        assert errno_of(sys_mount.umount2, t, t.cstr("/"), 4) == errno.EINVAL  # MNT_EXPIRE: never the root
        assert errno_of(sys_mount.umount2, t, t.cstr("/"), 4 | 2) == errno.EINVAL
        assert sys_mount.mount(t, tmpfs, target, tmpfs, 0xC0ED0000 | 1, t.cstr("size=50%,mode=711")) == 0
        line = _read(t, b"/proc/self/mounts").decode().splitlines()[-1]
        assert line == "tmpfs /etc tmpfs ro,relatime,size=50%,mode=711 0 0"
        assert errno_of(t.kernel.vfs.mkdir, t, AT_FDCWD, b"/etc/x", 0o755) == errno.EROFS
        statfs = bytearray(120)
        address = t.alloc(bytes(statfs))
        from pysandbox.sentry.syscalls import sys_file
        assert sys_file.statfs(t, target, address) == 0
        f_type, f_flags = struct.unpack_from("<q", t.copy_in(address, 8))[0], \
            struct.unpack_from("<q", t.copy_in(address + 80, 8))[0]
        assert (f_type, f_flags) == (0x01021994, 0x20 | 0x1 | 0x1000)  # TMPFS_MAGIC; ST_VALID|ST_RDONLY|ST_RELATIME
        t.creds.effective = 0                 # no CAP_SYS_ADMIN
        assert errno_of(sys_mount.umount2, t, target, 0) == errno.EPERM
        assert errno_of(sys_mount.umount2, t, t.cstr("/nope"), 0) == errno.ENOENT  # lookup comes first
        t.creds.effective = t.creds.permitted
        assert sys_mount.umount2(t, target, 0) == 0
        assert _read(t, b"/etc/hostname") == b"image\n"
    finally:
        t.kernel.vfs.close()


# --- whole sandboxes ---

@pytest.fixture
def own_rootfs(tmp_path):
    """A busybox rootfs of this test's own: configured mount points are made in a writable rootfs."""
    rootfs = tmp_path / "own-rootfs"
    rootfs.mkdir()
    return build_busybox_rootfs(str(rootfs))


def test_do_reports_mounts_exactly_as_given(own_rootfs, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.txt").write_text("host data\n")
    result = run_sandbox(["/bin/sh", "-c", "grep -E ' /(vol|scratch)' /proc/mounts; "
                          "grep -E ' /(vol|scratch) ' /proc/self/mountinfo | cut -d' ' -f4-; cat /vol/in.txt"],
                         rootfs=own_rootfs, flags=["-v", f"{data}:/vol:ro", "--tmpfs", "/scratch:size=1m,mode=700"])
    assert result.status == 0, result
    assert result.out == (f"{data} /vol bind ro 0 0\n"
                          "tmpfs /scratch tmpfs rw,size=1m,mode=700 0 0\n"
                          f"/ /vol ro - bind {data} ro\n"
                          "/ /scratch rw - tmpfs tmpfs rw,size=1m,mode=700\n"
                          "host data\n")
    # As runc does, the missing mount points were made in the (writable) rootfs.
    assert os.path.isdir(os.path.join(own_rootfs, "vol")) and os.path.isdir(os.path.join(own_rootfs, "scratch"))
    again = run_sandbox(["/bin/sh", "-c", "umount /scratch && mount -t tmpfs -o size=2m none /scratch && "
                         "grep /scratch /proc/mounts"], rootfs=own_rootfs, flags=["--tmpfs", "/scratch"])
    assert again.out == "none /scratch tmpfs rw,relatime,size=2048k 0 0\n", again


def test_bind_mounts_read_and_write_the_host(own_rootfs, tmp_path):
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "keep.txt").write_text("unchanged\n")
    before = os.stat(ro / "keep.txt").st_mtime_ns
    script = ("echo out > /rw/made.txt; echo bad > /ro/keep.txt; echo status $?; rm /ro/keep.txt; echo status $?; "
              "mkdir /ro/d; echo status $?; cat /ro/keep.txt")
    result = run_sandbox(["/bin/sh", "-c", script], rootfs=own_rootfs,
                         flags=["-v", f"{rw}:/rw", "-v", f"{ro}:/ro:ro"])
    assert result.out == "status 1\nstatus 1\nstatus 1\nunchanged\n", result
    assert result.err.count("Read-only file system") == 3, result
    assert (rw / "made.txt").read_text() == "out\n"
    assert os.listdir(ro) == ["keep.txt"] and os.stat(ro / "keep.txt").st_mtime_ns == before


def test_full_tmpfs_noexec_and_mv_across_mounts(own_rootfs):
    script = ("dd if=/dev/zero of=/small/f bs=4096 count=64 2>&1 | head -1; ls -l /small/f | awk '{print $5}'; "
              "cp /bin/busybox /noexec/bb && /noexec/bb true; echo exec status $?; "
              "rm /small/f; echo moved > /small/m && mv /small/m /tmp/m && cat /tmp/m && ls /small/m")
    result = run_sandbox(["/bin/sh", "-c", script], rootfs=own_rootfs,
                         flags=["--tmpfs", "/small:size=64k", "--tmpfs", "/noexec:noexec"])
    lines = result.out.splitlines()
    assert "No space left on device" in lines[0], result
    assert lines[1] == str(64 * 1024)
    assert "exec status 126" in lines, result
    assert lines[-1] == "moved" and "/small/m" not in result.out, result


def test_bad_mount_flags_are_one_line_errors(own_rootfs, tmp_path):
    for args, status, text in (
            (["-v", "relative:/x"], 2, "SRC and DST must be absolute paths"),
            (["--tmpfs", "/t:bogus=1"], 125, "mount /t (tmpfs): invalid argument"),
            (["-v", f"{tmp_path}/missing:/x"], 125, "missing: no such file or directory")):
        result = run_pysandbox(["do", "--rootfs", own_rootfs, *args, "--", "/bin/true"])
        assert result.status == status, result
        assert text in result.err and len(result.err.strip().splitlines()) == 1, result
        assert "Traceback" not in result.err


def test_mount_syscalls_match_linux(cprog, tmp_path, as_root):
    """tests/cprogs/mount_ops.c natively (unshare -m, the rootfs a mount point, chroot) and
    in the sandbox: every errno and every /mnt line of mountinfo must agree."""
    rootfs = tmp_path / "rootfs"
    (rootfs / "proc").mkdir(parents=True)
    program = rootfs / "mount_ops"
    shutil.copy(cprog("mount_ops", static=True), program)
    program.chmod(0o755)
    native = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c",
         'mount --bind "$1" "$1" && mount -t proc proc "$1/proc" && exec chroot "$1" /mount_ops', "sh",
         str(rootfs)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    assert native.returncode == 0, native.stdout
    for leftover in ("mnt/plain", "mnt/a", "mnt/b", "mnt/c", "mnt"):
        path = rootfs / leftover
        path.unlink() if path.is_file() else path.rmdir()
    sandboxed = run_sandbox(["/mount_ops"], rootfs=str(rootfs))
    assert sandboxed.status == 0, sandboxed
    assert sandboxed.out == native.stdout.decode()
    assert "rename across mounts: EXDEV" in sandboxed.out
    assert "/ /mnt/b ro,relatime tmpfs tmpfs rw,size=64k,mode=700" in sandboxed.out
