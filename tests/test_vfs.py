"""The VFS: rootfs modes, the overlay, stat layouts, directories, /proc and /dev."""
import errno
import os
import stat
import struct

import pytest

from pysandbox.sentry.errors import WouldBlock
from pysandbox.sentry.syscalls import sys_file, sys_getdents, sys_read_write, sys_stat, sys_xattr
from pysandbox.sentry.vfs import VFS
from pysandbox.sentry.vfs.testing import FakeTask
from helpers import errno_of

AT_FDCWD = -100
AT_SYMLINK_NOFOLLOW = 0x100
AT_EMPTY_PATH = 0x1000
AT_REMOVEDIR = 0x200


def build_tree(root):
    (root / "etc").mkdir()
    (root / "etc" / "hosts").write_bytes(b"127.0.0.1 localhost\n")
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_bytes(b"\x7fELF-not-really")
    (root / "bin" / "tool").chmod(0o755)
    (root / "bin" / "noexec").write_bytes(b"data")
    (root / "bin" / "noexec").chmod(0o644)
    (root / "lib").mkdir()
    (root / "lib" / "a").mkdir()
    (root / "lib" / "a" / "deep.txt").write_bytes(b"deep")
    os.symlink("/etc/hosts", root / "hosts-link")
    os.symlink("../../etc", root / "lib" / "a" / "up")


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    build_tree(root)
    return root


@pytest.fixture
def overlay(tree):
    return FakeTask(VFS.for_rootfs(str(tree), overlay=True))


@pytest.fixture
def direct(tree):
    return FakeTask(VFS.for_rootfs(str(tree), overlay=False))


def open_path(t, path, flags=os.O_RDONLY, mode=0o644, dirfd=AT_FDCWD):
    return sys_file.openat(t, dirfd, t.cstr(path), flags, mode)


def read_all(t, fd):
    chunks = []
    buf = t.alloc(4096)
    while n := sys_read_write.read(t, fd, buf, 4096):
        chunks.append(t.copy_in(buf, n))
    return b"".join(chunks)


def read_file(t, path):
    fd = open_path(t, path)
    try:
        return read_all(t, fd)
    finally:
        sys_file.close(t, fd)


def write_file(t, path, data, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC):
    fd = open_path(t, path, flags)
    sys_read_write.write(t, fd, t.alloc(data), len(data))
    sys_file.close(t, fd)


def list_dir(t, path, record=sys_getdents.getdents64, buffer_size=4096):
    fd = open_path(t, path, os.O_RDONLY | os.O_DIRECTORY)
    names = []
    buf = t.alloc(buffer_size)
    while n := record(t, fd, buf, buffer_size):
        names += [name for name, _, _, _ in parse_dirents64(t.copy_in(buf, n))]
    sys_file.close(t, fd)
    return sorted(names)


def parse_dirents64(data):
    entries = []
    offset = 0
    while offset < len(data):
        ino, next_offset, length, kind = struct.unpack_from("<QqHB", data, offset)
        name = data[offset + 19:offset + length].split(b"\0")[0]
        entries.append((name, ino, next_offset, kind))
        offset += length
    return entries


def stat_of(t, path, flags=0):
    buf = t.alloc(144)
    sys_stat.newfstatat(t, AT_FDCWD, t.cstr(path), buf, flags)
    return struct.unpack("<QQQIIIiQqqqqqqqqq24x", t.copy_in(buf, 144))


# --- the overlay ---

def test_overlay_writes_never_reach_the_host(overlay, tree):
    write_file(overlay, "/etc/new.conf", b"fresh")
    write_file(overlay, "/etc/hosts", b"changed\n")
    sys_file.unlink(overlay, overlay.cstr("/bin/noexec"))
    sys_file.mkdir(overlay, overlay.cstr("/lib/a/sub"), 0o755)
    sys_file.rename(overlay, overlay.cstr("/lib/a/deep.txt"), overlay.cstr("/lib/a/sub/moved.txt"))
    sys_file.unlinkat(overlay, AT_FDCWD, overlay.cstr("/lib/a/up"), 0)
    assert read_file(overlay, "/etc/new.conf") == b"fresh"
    assert read_file(overlay, "/etc/hosts") == b"changed\n"
    assert read_file(overlay, "/lib/a/sub/moved.txt") == b"deep"
    assert errno_of(read_file, overlay, "/bin/noexec") == errno.ENOENT
    assert list_dir(overlay, "/lib/a") == [b".", b"..", b"sub"]
    assert list_dir(overlay, "/bin") == [b".", b"..", b"tool"]
    # the host tree is untouched
    assert sorted(os.listdir(tree / "etc")) == ["hosts"]
    assert (tree / "etc" / "hosts").read_bytes() == b"127.0.0.1 localhost\n"
    assert (tree / "bin" / "noexec").exists() and (tree / "lib" / "a" / "deep.txt").exists()
    assert not (tree / "lib" / "a" / "sub").exists() and os.path.islink(tree / "lib" / "a" / "up")


def test_overlay_copy_up_keeps_content_and_identity(overlay, tree):
    before = stat_of(overlay, "/etc/hosts")
    fd = open_path(overlay, "/etc/hosts", os.O_WRONLY | os.O_APPEND)
    sys_read_write.write(overlay, fd, overlay.alloc(b"::1 localhost\n"), 14)
    sys_file.close(overlay, fd)
    after = stat_of(overlay, "/etc/hosts")
    assert read_file(overlay, "/etc/hosts") == b"127.0.0.1 localhost\n::1 localhost\n"
    assert after[1] == before[1]  # st_ino survives the copy-up
    assert after[3] == before[3]  # st_mode
    assert after[8] == before[8] + 14


def test_overlay_whiteout_then_recreate(overlay):
    sys_file.unlinkat(overlay, AT_FDCWD, overlay.cstr("/lib/a/deep.txt"), 0)
    sys_file.unlinkat(overlay, AT_FDCWD, overlay.cstr("/lib/a/up"), 0)
    sys_file.rmdir(overlay, overlay.cstr("/lib/a"))
    assert errno_of(stat_of, overlay, "/lib/a") == errno.ENOENT
    sys_file.mkdir(overlay, overlay.cstr("/lib/a"), 0o700)
    assert list_dir(overlay, "/lib/a") == [b".", b".."]  # opaque: the lower entries stay hidden
    assert stat.S_IMODE(stat_of(overlay, "/lib/a")[3]) == 0o700 & ~0o022
    write_file(overlay, "/lib/a/deep.txt", b"new")
    assert read_file(overlay, "/lib/a/deep.txt") == b"new"


def test_overlay_rmdir_of_non_empty_lower_directory(overlay):
    assert errno_of(sys_file.rmdir, overlay, overlay.cstr("/lib/a")) == errno.ENOTEMPTY
    assert errno_of(sys_file.rmdir, overlay, overlay.cstr("/etc/hosts")) == errno.ENOTDIR
    assert errno_of(sys_file.unlink, overlay, overlay.cstr("/lib")) == errno.EISDIR


def test_overlay_rename_of_lower_directory_is_exdev(overlay):
    assert errno_of(sys_file.rename, overlay, overlay.cstr("/lib"), overlay.cstr("/lib2")) == errno.EXDEV
    sys_file.mkdir(overlay, overlay.cstr("/mine"), 0o755)
    write_file(overlay, "/mine/f", b"x")
    sys_file.rename(overlay, overlay.cstr("/mine"), overlay.cstr("/yours"))
    assert read_file(overlay, "/yours/f") == b"x"
    assert errno_of(stat_of, overlay, "/mine") == errno.ENOENT


def test_cwd_sees_changes_made_through_other_paths(overlay):
    sys_file.chdir(overlay, overlay.cstr("/lib/a"))
    write_file(overlay, "/lib/a/created", b"1")
    assert b"created" in list_dir(overlay, ".")
    assert read_file(overlay, "created") == b"1"
    buf = overlay.alloc(64)
    n = sys_file.getcwd(overlay, buf, 64)
    assert overlay.copy_in(buf, n) == b"/lib/a\0"


def test_overlay_hard_links_and_symlinks(overlay):
    sys_file.link(overlay, overlay.cstr("/etc/hosts"), overlay.cstr("/etc/hosts2"))
    write_file(overlay, "/etc/hosts2", b"shared", os.O_WRONLY | os.O_TRUNC)
    assert read_file(overlay, "/etc/hosts") == b"shared"
    assert stat_of(overlay, "/etc/hosts")[2] == 2
    sys_file.symlink(overlay, overlay.cstr("hosts"), overlay.cstr("/etc/alias"))
    assert read_file(overlay, "/etc/alias") == b"shared"
    buf = overlay.alloc(64)
    n = sys_file.readlink(overlay, overlay.cstr("/etc/alias"), buf, 64)
    assert overlay.copy_in(buf, n) == b"hosts"


def test_o_excl_trunc_and_create_through_dangling_symlink(overlay):
    assert errno_of(open_path, overlay, "/etc/hosts", os.O_CREAT | os.O_EXCL | os.O_WRONLY) == errno.EEXIST
    sys_file.symlink(overlay, overlay.cstr("/etc/target"), overlay.cstr("/dangling"))
    write_file(overlay, "/dangling", b"through")
    assert read_file(overlay, "/etc/target") == b"through"
    assert errno_of(open_path, overlay, "/dangling", os.O_CREAT | os.O_EXCL | os.O_WRONLY) == errno.EEXIST
    write_file(overlay, "/etc/target", b"", os.O_WRONLY | os.O_TRUNC)
    assert read_file(overlay, "/etc/target") == b""


# --- rootfs modes ---

def test_direct_rootfs_writes_to_the_host(direct, tree):
    write_file(direct, "/etc/new", b"on disk")
    assert (tree / "etc" / "new").read_bytes() == b"on disk"
    sys_file.rename(direct, direct.cstr("/etc/new"), direct.cstr("/lib/renamed"))
    assert (tree / "lib" / "renamed").read_bytes() == b"on disk"
    sys_file.mkdir(direct, direct.cstr("/lib/d"), 0o750)
    assert stat.S_IMODE(os.stat(tree / "lib" / "d").st_mode) == 0o750 & ~0o022
    sys_file.rmdir(direct, direct.cstr("/lib/d"))
    sys_file.unlink(direct, direct.cstr("/lib/renamed"))
    assert not (tree / "lib" / "renamed").exists()


def test_read_only_rootfs_is_erofs(tree):
    t = FakeTask(VFS.for_rootfs(str(tree), read_only=True, overlay=False))
    assert errno_of(write_file, t, "/etc/new", b"x") == errno.EROFS
    assert errno_of(open_path, t, "/etc/hosts", os.O_WRONLY) == errno.EROFS
    assert errno_of(sys_file.mkdir, t, t.cstr("/x"), 0o755) == errno.EROFS
    assert errno_of(sys_file.unlink, t, t.cstr("/etc/hosts")) == errno.EROFS
    assert errno_of(sys_file.access, t, t.cstr("/etc/hosts"), os.W_OK) == errno.EROFS
    assert read_file(t, "/etc/hosts").startswith(b"127.0.0.1")
    write_file(t, "/dev/shm/scratch", b"tmpfs still works")
    assert read_file(t, "/dev/shm/scratch") == b"tmpfs still works"


def test_host_root_overlay_leaves_host_untouched():
    t = FakeTask(VFS.for_rootfs("/", overlay=True))
    marker = "/tmp/pysandbox-vfs-test-marker"
    assert not os.path.exists(marker)
    write_file(t, marker, b"only in the sandbox")
    assert read_file(t, marker) == b"only in the sandbox"
    assert not os.path.exists(marker)
    assert read_file(t, "/etc/hostname") == open("/etc/hostname", "rb").read()


# --- stat layouts ---

@pytest.mark.parametrize("path", ["/etc/hosts", "/bin", "/hosts-link"])
def test_struct_stat_matches_the_host(direct, tree, path):
    host = os.lstat(str(tree) + path)
    fields = stat_of(direct, path, AT_SYMLINK_NOFOLLOW)
    dev, ino, nlink, mode, uid, gid, _, rdev, size, blksize, blocks = fields[:11]
    assert (dev, ino, nlink, mode, uid, gid, size, blksize, blocks) == (
        host.st_dev, host.st_ino, host.st_nlink, host.st_mode, host.st_uid, host.st_gid,
        host.st_size, host.st_blksize, host.st_blocks)
    atime, atime_ns, mtime, mtime_ns, ctime, ctime_ns = fields[11:17]
    assert mtime * 10**9 + mtime_ns == host.st_mtime_ns
    assert ctime * 10**9 + ctime_ns == host.st_ctime_ns


def test_stat_lstat_fstat_and_empty_path(direct, tree):
    host = os.stat(tree / "etc" / "hosts")
    buf = direct.alloc(144)
    sys_stat.stat(direct, direct.cstr("/hosts-link"), buf)
    assert struct.unpack_from("<QQ", direct.copy_in(buf, 16)) == (host.st_dev, host.st_ino)
    sys_stat.lstat(direct, direct.cstr("/hosts-link"), buf)
    assert stat.S_ISLNK(struct.unpack_from("<I", direct.copy_in(buf, 144), 24)[0])
    fd = open_path(direct, "/etc/hosts")
    sys_stat.fstat(direct, fd, buf)
    assert struct.unpack_from("<Q", direct.copy_in(buf, 16), 8)[0] == host.st_ino
    sys_stat.newfstatat(direct, fd, direct.cstr(""), buf, AT_EMPTY_PATH)
    assert struct.unpack_from("<Q", direct.copy_in(buf, 16), 8)[0] == host.st_ino
    assert errno_of(sys_stat.newfstatat, direct, fd, direct.cstr(""), buf, 0) == errno.ENOENT
    assert errno_of(sys_stat.newfstatat, direct, AT_FDCWD, direct.cstr("/x"), buf, 0x1) == errno.EINVAL
    assert errno_of(sys_stat.stat, direct, 0x10, buf) == errno.EFAULT


def test_statx_layout(direct, tree):
    host = os.stat(tree / "etc" / "hosts")
    buf = direct.alloc(256)
    sys_stat.statx(direct, AT_FDCWD, direct.cstr("/etc/hosts"), 0, 0x7FF, buf)
    raw = direct.copy_in(buf, 256)
    mask, blksize, _, nlink, uid, gid, mode = struct.unpack_from("<IIQIIIH", raw)
    ino, size, blocks = struct.unpack_from("<QQQ", raw, 32)
    mtime_sec, mtime_nsec = struct.unpack_from("<qI", raw, 112)
    dev_major, dev_minor = struct.unpack_from("<II", raw, 136)
    assert mask & 0x7FF == 0x7FF
    assert (nlink, uid, gid, mode, ino, size, blocks) == (
        host.st_nlink, host.st_uid, host.st_gid, host.st_mode, host.st_ino, host.st_size, host.st_blocks)
    assert mtime_sec * 10**9 + mtime_nsec == host.st_mtime_ns
    assert (dev_major, dev_minor) == (os.major(host.st_dev), os.minor(host.st_dev))
    assert errno_of(sys_stat.statx, direct, AT_FDCWD, direct.cstr("/"), 0, 0x80000000, buf) == errno.EINVAL


# --- directories ---

def test_getdents64_offsets_survive_lseek(direct, tree):
    for n in range(30):
        (tree / "lib" / f"file{n:02}").write_bytes(b"")
    fd = open_path(direct, "/lib", os.O_RDONLY | os.O_DIRECTORY)
    buf = direct.alloc(4096)
    n = sys_getdents.getdents64(direct, fd, buf, 4096)
    entries = parse_dirents64(direct.copy_in(buf, n))
    assert len(entries) == 33
    names = [name for name, *_ in entries]
    cut = entries[10][2]  # d_off of the 11th entry: resume after it
    assert sys_read_write.lseek(direct, fd, cut, os.SEEK_SET) == cut
    n = sys_getdents.getdents64(direct, fd, buf, 4096)
    assert [name for name, *_ in parse_dirents64(direct.copy_in(buf, n))] == names[11:]
    assert sys_getdents.getdents64(direct, fd, buf, 4096) == 0
    sys_read_write.lseek(direct, fd, 0, os.SEEK_SET)
    assert errno_of(sys_getdents.getdents64, direct, fd, buf, 8) == errno.EINVAL
    host_names = sorted(os.fsencode(name) for name in os.listdir(tree / "lib"))
    assert sorted(names) == sorted([b".", b".."] + host_names)


def test_getdents_small_buffers_and_old_format(direct):
    assert list_dir(direct, "/", buffer_size=64) == list_dir(direct, "/")
    fd = open_path(direct, "/etc", os.O_RDONLY | os.O_DIRECTORY)
    buf = direct.alloc(1024)
    n = sys_getdents.getdents(direct, fd, buf, 1024)
    data = direct.copy_in(buf, n)
    offset, names = 0, []
    while offset < n:
        _, _, length = struct.unpack_from("<QQH", data, offset)
        names.append(data[offset + 18:offset + length - 1].split(b"\0")[0])
        assert data[offset + length - 1] in (4, 8)  # d_type is the record's last byte
        offset += length
    assert sorted(names) == [b".", b"..", b"hosts"]
    file_fd = open_path(direct, "/etc/hosts")
    assert errno_of(sys_getdents.getdents64, direct, file_fd, buf, 1024) == errno.ENOTDIR


def test_root_lists_the_synthesized_mounts(direct):
    names = list_dir(direct, "/")
    assert {b"proc", b"dev", b"sys", b"etc"} <= set(names)


# --- open errors ---

def test_open_error_order(direct):
    assert errno_of(open_path, direct, "/nope") == errno.ENOENT
    assert errno_of(open_path, direct, "/etc/hosts/x") == errno.ENOTDIR
    assert errno_of(open_path, direct, "/etc/hosts", os.O_RDONLY | os.O_DIRECTORY) == errno.ENOTDIR
    assert errno_of(open_path, direct, "/etc", os.O_WRONLY) == errno.EISDIR
    assert errno_of(open_path, direct, "/hosts-link", os.O_RDONLY | os.O_NOFOLLOW) == errno.ELOOP
    assert errno_of(open_path, direct, "/etc/", os.O_CREAT | os.O_WRONLY) == errno.EISDIR
    assert errno_of(open_path, direct, "x", os.O_RDONLY, 0, 99) == errno.EBADF
    fd = open_path(direct, "/etc/hosts")
    assert errno_of(open_path, direct, "x", os.O_RDONLY, 0, fd) == errno.ENOTDIR
    assert errno_of(open_path, direct, "") == errno.ENOENT
    assert errno_of(open_path, direct, "/" + "a" * 300) == errno.ENAMETOOLONG


def test_o_path_descriptors(direct):
    fd = open_path(direct, "/hosts-link", os.O_PATH | os.O_NOFOLLOW)
    buf = direct.alloc(144)
    sys_stat.fstat(direct, fd, buf)
    assert stat.S_ISLNK(struct.unpack_from("<I", direct.copy_in(buf, 144), 24)[0])
    assert errno_of(sys_read_write.read, direct, fd, buf, 1) == errno.EBADF
    dir_fd = open_path(direct, "/etc", os.O_PATH)
    hosts = sys_file.openat(direct, dir_fd, direct.cstr("hosts"), os.O_RDONLY, 0)
    assert read_all(direct, hosts).startswith(b"127.0.0.1")


def test_access_and_permissions_for_non_root(tree):
    (tree / "etc" / "secret").write_bytes(b"s")
    (tree / "etc" / "secret").chmod(0o600)
    t = FakeTask(VFS.for_rootfs(str(tree), overlay=True), uid=1000, gid=1000)
    t.creds.fsuid = t.creds.uid = 1000
    assert errno_of(open_path, t, "/etc/secret") == errno.EACCES
    assert errno_of(sys_file.access, t, t.cstr("/etc/secret"), os.R_OK) == errno.EACCES
    assert sys_file.access(t, t.cstr("/etc/hosts"), os.R_OK) == 0
    assert errno_of(sys_file.access, t, t.cstr("/etc/hosts"), os.W_OK) == errno.EACCES
    assert errno_of(write_file, t, "/etc/new", b"x") == errno.EACCES
    assert errno_of(sys_file.access, t, t.cstr("/etc/hosts"), 8) == errno.EINVAL


def test_open_exec(direct):
    file, path = direct.kernel.vfs.open_exec(direct, "/bin/tool")
    assert path == "/bin/tool" and file.pread(0, 4) == b"\x7fELF" and file.size() == 15
    assert file.path == "/bin/tool"
    vfs = direct.kernel.vfs
    for name, expected in (("/bin/noexec", errno.EACCES), ("/bin", errno.EACCES),
                           ("/bin/missing", errno.ENOENT), ("/bin/tool/x", errno.ENOTDIR)):
        assert errno_of(vfs.open_exec, direct, name) == expected
    sys_file.symlink(direct, direct.cstr("/loop2"), direct.cstr("/loop1"))
    sys_file.symlink(direct, direct.cstr("/loop1"), direct.cstr("/loop2"))
    assert errno_of(vfs.open_exec, direct, "/loop1") == errno.ELOOP


# --- changing attributes ---

def test_chmod_chown_utimens_truncate(direct, tree):
    sys_file.chmod(direct, direct.cstr("/etc/hosts"), 0o600)
    assert stat.S_IMODE(os.stat(tree / "etc" / "hosts").st_mode) == 0o600
    fd = open_path(direct, "/etc/hosts", os.O_RDWR)
    sys_file.fchmod(direct, fd, 0o640)
    assert stat.S_IMODE(os.stat(tree / "etc" / "hosts").st_mode) == 0o640
    sys_file.fchownat(direct, AT_FDCWD, direct.cstr("/etc/hosts"), 0xFFFFFFFF, 0xFFFFFFFF, 0)
    times = direct.alloc(struct.pack("<qqqq", 1000, 5, 2000, 7))
    sys_file.utimensat(direct, AT_FDCWD, direct.cstr("/etc/hosts"), times, 0)
    assert os.stat(tree / "etc" / "hosts").st_mtime_ns == 2000 * 10**9 + 7
    sys_file.truncate(direct, direct.cstr("/etc/hosts"), 4)
    assert (tree / "etc" / "hosts").read_bytes() == b"127."
    sys_file.ftruncate(direct, fd, 2)
    assert (tree / "etc" / "hosts").read_bytes() == b"12"
    read_only = open_path(direct, "/etc/hosts")
    assert errno_of(sys_file.ftruncate, direct, read_only, 0) == errno.EINVAL
    assert errno_of(sys_file.truncate, direct, direct.cstr("/etc"), 0) == errno.EISDIR


def test_overlay_chmod_and_umask(overlay, tree):
    sys_file.chmod(overlay, overlay.cstr("/etc/hosts"), 0o600)
    assert stat.S_IMODE(stat_of(overlay, "/etc/hosts")[3]) == 0o600
    assert stat.S_IMODE(os.stat(tree / "etc" / "hosts").st_mode) == 0o644
    assert sys_file.umask(overlay, 0o077) == 0o022
    write_file(overlay, "/private", b"")
    assert stat.S_IMODE(stat_of(overlay, "/private")[3]) == 0o600


def test_rename_rules(overlay):
    vfs_errno = lambda old, new, flags=0: errno_of(  # noqa: E731
        sys_file.renameat2, overlay, AT_FDCWD, overlay.cstr(old), AT_FDCWD, overlay.cstr(new), flags)
    sys_file.mkdir(overlay, overlay.cstr("/d1"), 0o755)
    sys_file.mkdir(overlay, overlay.cstr("/d1/d2"), 0o755)
    write_file(overlay, "/f", b"f")
    assert vfs_errno("/d1", "/d1/d2/inside") == errno.EINVAL
    assert vfs_errno("/d1", "/f") == errno.ENOTDIR
    assert vfs_errno("/f", "/d1") == errno.EISDIR
    assert vfs_errno("/f", "/etc/hosts", 1) == errno.EEXIST
    assert vfs_errno("/missing", "/x") == errno.ENOENT
    write_file(overlay, "/g", b"g")
    sys_file.renameat2(overlay, AT_FDCWD, overlay.cstr("/f"), AT_FDCWD, overlay.cstr("/g"), 2)
    assert read_file(overlay, "/f") == b"g" and read_file(overlay, "/g") == b"f"
    sys_file.rename(overlay, overlay.cstr("/f"), overlay.cstr("/g"))
    assert read_file(overlay, "/g") == b"g" and errno_of(read_file, overlay, "/f") == errno.ENOENT


# --- /proc and /dev ---

def test_proc_self_and_process_files(direct):
    t = direct
    buf = t.alloc(256)
    n = sys_file.readlink(t, t.cstr("/proc/self"), buf, 256)
    assert t.copy_in(buf, n) == b"1"
    assert read_file(t, "/proc/self/cmdline") == b"fake\0--flag\0"
    assert read_file(t, "/proc/1/maps").startswith(b"00400000-00401000 r-xp")
    assert b"Pid:\t1\n" in read_file(t, "/proc/self/status")
    n = sys_file.readlink(t, t.cstr("/proc/self/exe"), buf, 256)
    assert t.copy_in(buf, n) == b"/bin/fake"
    fd = open_path(t, "/etc/hosts")
    n = sys_file.readlink(t, t.cstr(f"/proc/self/fd/{fd}"), buf, 256)
    assert t.copy_in(buf, n) == b"/etc/hosts"
    assert str(fd).encode() in list_dir(t, "/proc/self/fd")
    assert read_file(t, "/proc/sys/kernel/hostname") == b"sandbox\n"
    assert read_file(t, "/proc/cpuinfo").startswith(b"processor\t: 0")
    assert b"MemTotal:" in read_file(t, "/proc/meminfo")
    assert b"1" in list_dir(t, "/proc")
    assert errno_of(read_file, t, "/proc/999") == errno.ENOENT
    sys_file.chdir(t, t.cstr("/etc"))
    n = sys_file.readlink(t, t.cstr("/proc/self/cwd"), buf, 256)
    assert t.copy_in(buf, n) == b"/etc"
    sys_file.chdir(t, t.cstr("/proc/self/.."))
    n = sys_file.getcwd(t, buf, 256)
    assert t.copy_in(buf, n) == b"/proc\0"


def test_dev_files(direct):
    t = direct
    assert read_file(t, "/dev/null") == b""
    fd = open_path(t, "/dev/zero")
    buf = t.alloc(16)
    assert sys_read_write.read(t, fd, buf, 16) == 16 and t.copy_in(buf, 16) == bytes(16)
    fd = open_path(t, "/dev/urandom")
    assert sys_read_write.read(t, fd, buf, 16) == 16
    fd = open_path(t, "/dev/full", os.O_WRONLY)
    assert errno_of(sys_read_write.write, t, fd, buf, 1) == errno.ENOSPC
    fd = open_path(t, "/dev/null", os.O_WRONLY)
    assert sys_read_write.write(t, fd, buf, 16) == 16
    assert errno_of(open_path, t, "/dev/tty") == errno.ENXIO
    statbuf = t.alloc(144)
    sys_stat.stat(t, t.cstr("/dev/null"), statbuf)
    mode, _, _, _, rdev = struct.unpack_from("<IIIiQ", t.copy_in(statbuf, 144), 24)
    assert stat.S_ISCHR(mode) and rdev == os.makedev(1, 3)


def test_dev_fd_reaches_open_files(direct):
    t = direct
    fd = open_path(t, "/etc/hosts")
    assert read_file(t, f"/dev/fd/{fd}") == b"127.0.0.1 localhost\n"
    sys_file.close(t, fd)
    assert errno_of(read_file, t, f"/dev/fd/{fd}") == errno.ENOENT


def test_statfs(direct, overlay):
    buf = direct.alloc(120)
    sys_file.statfs(direct, direct.cstr("/etc"), buf)
    assert struct.unpack_from("<q", direct.copy_in(buf, 8))[0] == 0xEF53
    sys_file.statfs(overlay, overlay.cstr("/etc"), buf)
    assert struct.unpack_from("<q", overlay.copy_in(buf, 8))[0] == 0x794C7630
    sys_file.statfs(direct, direct.cstr("/proc"), buf)
    assert struct.unpack_from("<q", direct.copy_in(buf, 8))[0] == 0x9FA0


def test_named_pipes_in_memory(overlay):
    t = overlay
    sys_file.mknod(t, t.cstr("/tmp-fifo"), stat.S_IFIFO | 0o644, 0)
    assert stat.S_ISFIFO(stat_of(t, "/tmp-fifo")[3])
    assert errno_of(open_path, t, "/tmp-fifo", os.O_WRONLY | os.O_NONBLOCK) == errno.ENXIO
    with pytest.raises(WouldBlock):
        open_path(t, "/tmp-fifo", os.O_RDONLY)
    t.syscall_state.clear()
    reader = open_path(t, "/tmp-fifo", os.O_RDONLY | os.O_NONBLOCK)
    writer = open_path(t, "/tmp-fifo", os.O_WRONLY)
    sys_read_write.write(t, writer, t.alloc(b"fifo"), 4)
    assert read_all_available(t, reader) == b"fifo"
    buf = t.alloc(144)
    sys_stat.fstat(t, reader, buf)
    assert stat.S_ISFIFO(struct.unpack_from("<I", t.copy_in(buf, 144), 24)[0])


def read_all_available(t, fd):
    buf = t.alloc(64)
    return t.copy_in(buf, sys_read_write.read(t, fd, buf, 64))


def test_extended_attributes_of_host_files_are_the_hosts(direct, tree):
    """Host rootfs files in directfs mode have the host's xattrs, made by the gofer (tmpfs and
    the overlay keep their own: tests/test_file_syscalls.py; against Linux: test_xattr_host.py)."""
    try:
        os.setxattr(tree / "etc", "user.probe", b"1")
    except OSError as error:
        pytest.skip(f"{tree}'s filesystem has no user xattrs: {error.strerror}")
    t = direct
    buf = t.alloc(64)
    name = t.cstr("user.test")
    assert errno_of(sys_xattr.getxattr, t, t.cstr("/etc/hosts"), name, buf, 64) == errno.ENODATA
    assert errno_of(sys_xattr.lgetxattr, t, t.cstr("/missing"), name, buf, 64) == errno.ENOENT
    assert sys_xattr.listxattr(t, t.cstr("/etc"), buf, 64) == len(b"user.probe\0")
    assert sys_xattr.setxattr(t, t.cstr("/etc/hosts"), name, t.alloc(b"v"), 1, 0) == 0
    assert os.getxattr(tree / "etc" / "hosts", "user.test") == b"v"
    assert errno_of(sys_xattr.getxattr, t, t.cstr("/etc/hosts"), t.cstr(""), buf, 64) == errno.ERANGE


def test_the_weak_containers_drop_what_dies_and_keep_what_lives():
    import gc
    from pysandbox.sentry.weakrefs import WeakKeyMap, WeakOrderedSet

    class Thing:
        pass

    kept, dropped, third = Thing(), Thing(), Thing()
    members = WeakOrderedSet()
    for thing in (kept, dropped, third, kept):
        members.add(thing)
    mapping = WeakKeyMap()
    mapping[kept], mapping[dropped] = "kept", "dropped"
    assert list(members) == [kept, dropped, third] and len(members) == 3 and dropped in members
    del dropped
    gc.collect()
    assert list(members) == [kept, third] and mapping.get(kept) == "kept" and len(mapping._entries) == 1
    members.discard(third)
    assert list(members) == [kept] and third not in members and bool(members)
    newcomer = Thing()                          # may reuse a dead one's id: still not a member
    assert newcomer not in members and mapping.get(newcomer, "none") == "none"
    for attempt in (lambda: mapping.__setitem__(1, "ints can't be referenced weakly"), lambda: mapping.get(1)):
        with pytest.raises(TypeError):
            attempt()
