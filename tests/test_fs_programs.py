"""Real programs doing file work, each run natively (chroot) and under pysandbox on the same
rootfs, with identical output required: busybox's cp -a, tar, find, du, mv across mounts,
ln -s, chmod and stat -c; sqlite3 with its journal and locking; python3's tempfile,
shutil.copytree, os.walk, os.scandir, fcntl.flock and a shared mmap; and the overlay, whose
lower directory must come out of a run byte for byte and mtime for mtime unchanged.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

import rootfs as rootfs_mod
from helpers import assert_same, run_native, run_sandbox, tree_snapshot

APPLETS = ["cp", "tar", "ln", "chmod", "du", "mv", "mkfifo", "stat", "find", "md5sum", "diff",
           "readlink", "sed", "touch", "ls", "cat", "sort", "rm", "mkdir", "echo", "wc", "head",
           "sh", "test", "true", "dd", "rmdir", "cut"]

pytestmark = pytest.mark.usefixtures("as_root")  # the native runs chroot into the rootfs


@pytest.fixture(scope="module")
def busybox_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("fs-busybox"))
    os.chmod(root, 0o755)
    rootfs_mod.build_busybox_rootfs(root)
    for applet in APPLETS:
        link = os.path.join(root, "bin", applet)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    os.makedirs(os.path.join(root, "mnt"), exist_ok=True)
    return root


@pytest.fixture(scope="module")
def programs_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("fs-programs"))
    os.chmod(root, 0o755)
    return rootfs_mod.build_host_rootfs(root, programs=["sqlite3", "mkdir", "mkfifo", "rm"])


def compare_script(root, script, flags=(), **kw):
    """Run `sh -c script` in `root` natively and sandboxed; both must succeed alike."""
    argv = ["/bin/sh", "-c", script]
    native = run_native(argv, chroot=root, **kw)
    sandboxed = run_sandbox(argv, rootfs=root, flags=flags, **kw)
    assert_same(native, sandboxed)
    assert sandboxed.status == 0, sandboxed
    return sandboxed.out


TREE = """
set -e
W=/tmp/work.$$
mkdir -p $W/src/sub/deeper && cd $W
echo hello > src/a.txt
dd if=/dev/zero of=src/sub/zeros bs=1024 count=40 2>/dev/null
printf 'line\\n%.0s' 1 2 3 4 5 > src/sub/deeper/lines
ln -s a.txt src/link-to-a
ln -s ../a.txt src/sub/up-link
ln src/a.txt src/hard-a
mkfifo src/pipe
chmod 640 src/a.txt
chmod 1777 src/sub
chmod u=rwx,g=rx,o= src/sub/deeper
touch -d '2020-01-02 03:04:05' src/sub/zeros
"""


def test_busybox_cp_a_tar_find_du(busybox_root):
    out = compare_script(busybox_root, TREE + """
cp -a src copy
find copy | sort
stat -c '%n %a %F %s %h' $(find copy | sort)
for f in sub/zeros a.txt sub/deeper/lines; do
  test $(stat -c %Y src/$f) = $(stat -c %Y copy/$f) && echo "$f: mtime kept"
done
readlink copy/link-to-a; readlink copy/sub/up-link
test $(stat -c %i copy/a.txt) = $(stat -c %i copy/hard-a) && echo "hard link kept"
tar cf t.tar src
tar tf t.tar | sort
mkdir x && cd x && tar xf ../t.tar && cd ..
diff -r src x/src && echo "tar round trip identical"
stat -c '%n %a %F %s' $(find x | sort)
find src -type f -size +10k
find src -name '*.txt' -o -type l | sort
find src -newer src/sub/zeros -type f | sort
du -s src copy x/src | sed 's/\\t.*\\//\\t/'
du -a src | sort -k2
md5sum $(find copy x -type f | sort)
cd / && rm -rf $W && echo cleaned
""")
    assert "tar round trip identical\n" in out
    assert "sub/zeros: mtime kept\n" in out
    assert "hard link kept\n" in out


def test_busybox_ln_chmod_stat(busybox_root):
    out = compare_script(busybox_root, """
set -e
W=/tmp/perm.$$
mkdir $W && cd $W
touch f && mkdir d && touch d/inner
ln -s f sym && ln -s /nonexistent dangling && ln -s d dirlink
ln -sf f sym
ln -s f sym 2>&1 || echo "ln: exists, status $?"
chmod 4755 f; stat -c '%n %a %A' f
chmod g+s,o-x f; stat -c '%n %a %A' f
chmod -R go-rwx d; stat -c '%n %a %A' d d/inner
chmod 0 f; stat -c '%n %a %A' f
chmod a+rX d; stat -c '%n %a' d
stat -c '%n %F %N %s' sym dangling dirlink
stat -L -c '%n %F' sym dirlink
stat -c '%n %h %U %G %o' f d
stat -f -c '%l' . >/dev/null && echo "statfs ok"
readlink -f dirlink/inner | sed "s,$W,W,"
cat dangling 2>/dev/null || echo "dangling: status $?"
cd / && rm -rf $W
""")
    assert "f 4755 -rwsr-xr-x\n" in out
    assert "sym symbolic link 'sym' -> 'f' 1\n" in out


@pytest.fixture
def native_tmpfs_at_mnt(busybox_root):
    """The native run's tmpfs at /mnt of the rootfs (the sandbox gets --tmpfs /mnt)."""
    mnt = os.path.join(busybox_root, "mnt")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,nr_inodes=64", "tmpfs", mnt]).returncode != 0:
        pytest.skip("cannot mount a tmpfs for the native run")
    yield
    subprocess.run(["umount", mnt], check=True)


def test_busybox_mv_across_mounts(busybox_root, native_tmpfs_at_mnt):
    out = compare_script(busybox_root, TREE + """
mv src /mnt/moved
test -e src || echo "source gone"
find /mnt/moved | sort
stat -c '%n %a %F %s' $(find /mnt/moved -type f | sort)
test $(stat -c %Y /mnt/moved/sub/zeros) = 1577934245 && echo "mtime moved along"
mv /mnt/moved/sub/deeper/lines /mnt/moved/lines && cat /mnt/moved/lines | wc -l
mv /mnt/moved back && find back -type f | sort
cd / && rm -rf $W
""", flags=["--tmpfs", "/mnt:size=16m,nr_inodes=64"])
    assert "source gone\n" in out
    assert "mtime moved along\n" in out


def test_busybox_tmpfs_full_is_enospc(busybox_root, native_tmpfs_at_mnt):
    """A size- and inode-limited tmpfs fills up with ENOSPC, and frees its space and inodes
    again on unlink."""
    out = compare_script(busybox_root, """
dd if=/dev/zero of=/mnt/big bs=1M count=20 2>&1 | head -1
ls -l /mnt/big | sed 's/  */ /g' | cut -d' ' -f5
echo more > /mnt/small || echo "small write failed"
rm /mnt/big
dd if=/dev/zero of=/mnt/again bs=1M count=8 2>/dev/null && echo "space is back"
stat -f -c '%b blocks of %S' /mnt
rm /mnt/again /mnt/small 2>/dev/null
for i in $(seq 1 100); do touch /mnt/f$i 2>/dev/null || { echo "inode limit reached at file $i"; break; }; done
stat -f -c '%c inodes, %d free' /mnt
rm /mnt/f*
touch /mnt/after && echo "inodes are back"
rm /mnt/after
""", flags=["--tmpfs", "/mnt:size=16m,nr_inodes=64"])
    assert "No space left on device" in out
    assert "16777216\n" in out
    assert "space is back\n" in out
    assert "inode limit reached at file 64\n" in out and "inodes are back\n" in out


SQLITE = r"""
set -e
D=/tmp/sqlite.$$
mkdir $D; cd $D
{ echo "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, value REAL);"
  echo "BEGIN;"
  for i in $(seq 1 10000); do echo "INSERT INTO t(name, value) VALUES('row$i', $i * 0.5);"; done
  echo "COMMIT;"; } > insert.sql
sqlite3 test.db < insert.sql
sqlite3 test.db "SELECT count(*), sum(value), min(name), max(name) FROM t;"
sqlite3 test.db "SELECT name FROM t WHERE id % 2500 = 0 ORDER BY id;"
sqlite3 test.db "PRAGMA integrity_check;"
sqlite3 test.db "BEGIN; DELETE FROM t WHERE id > 10; ROLLBACK; SELECT count(*) FROM t;"
ls
# Locking: while one connection holds an exclusive lock, another is refused.
mkfifo go
(echo "BEGIN EXCLUSIVE;"; echo "SELECT 'holding';"; cat go; echo "COMMIT;") | sqlite3 test.db > holder.out &
for i in $(seq 1 200); do test -s holder.out && break; sleep 0.05; done
cat holder.out
sqlite3 test.db "INSERT INTO t(name) VALUES('blocked');" 2>&1 || echo "refused, status $?"
echo > go
wait
sqlite3 test.db "INSERT INTO t(name) VALUES('after');" && echo "inserted after the lock"
# Write-ahead logging: a shared-memory index mapped by every connection.
sqlite3 test.db "PRAGMA journal_mode=WAL;"
sqlite3 test.db "INSERT INTO t(name) VALUES('wal'); SELECT count(*) FROM t;"
sqlite3 test.db "SELECT name FROM t ORDER BY id DESC LIMIT 2;"
cd / && rm -rf $D
"""


def test_sqlite3_transactions_journal_and_locks(programs_root):
    out = compare_script(programs_root, SQLITE, timeout=120)
    assert "10000|25002500.0|row1|row9999\n" in out
    assert "database is locked" in out and "refused, status 5\n" in out
    assert "inserted after the lock\n" in out
    assert "wal\n" in out


PYTHON = r"""
import fcntl, mmap, os, shutil, tempfile
base = tempfile.mkdtemp(prefix="pyfs-")
os.makedirs(os.path.join(base, "src/a/b"))
for i in range(6):
    with open(os.path.join(base, f"src/a/f{i}"), "w") as f:
        f.write("x" * i * 1000)
os.symlink("f1", os.path.join(base, "src/a/link"))
shutil.copytree(os.path.join(base, "src"), os.path.join(base, "dst"), symlinks=True)
for root, dirs, files in sorted(os.walk(base)):
    print(os.path.relpath(root, base), sorted(dirs), sorted(files))
print(sorted((e.name, e.is_dir(), e.is_symlink(), e.stat(follow_symlinks=False).st_size)
             for e in os.scandir(os.path.join(base, "dst/a"))))
with tempfile.NamedTemporaryFile(dir=base, delete=True) as named:
    named.write(b"temporary"); named.flush()
    print("named temp exists", os.path.exists(named.name))
with tempfile.TemporaryFile() as anonymous:
    anonymous.write(b"abc"); anonymous.seek(0); print("anonymous temp", anonymous.read())

lock_path = os.path.join(base, "lock")
fd = os.open(lock_path, os.O_CREAT | os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    other = os.open(lock_path, os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(w, b"child got the lock (wrong)\n")
    except BlockingIOError:
        os.write(w, b"child locked out\n")
    os.write(w, b"ready\n")
    fcntl.flock(other, fcntl.LOCK_EX)  # waits for the parent's unlock
    os.write(w, b"child got the lock after the unlock\n")
    os._exit(0)
os.close(w)
reader = os.fdopen(r)
print(reader.readline(), end="")
print(reader.readline(), end="")
fcntl.flock(fd, fcntl.LOCK_UN)
print(reader.readline(), end="")
os.waitpid(pid, 0)

shared_path = os.path.join(base, "shared")
with open(shared_path, "wb") as f:
    f.write(b"\0" * 8192)
with open(shared_path, "r+b") as f:
    m = mmap.mmap(f.fileno(), 8192, mmap.MAP_SHARED)
    pid = os.fork()
    if pid == 0:
        m[0:11] = b"from child!"
        m[4096:4100] = b"page"
        m.flush()
        os._exit(0)
    os.waitpid(pid, 0)
    print("parent mapping sees", m[0:11], m[4096:4100])
    m[20:25] = b"later"
    m.flush()
with open(shared_path, "rb") as f:
    data = f.read()
print("read() sees", data[0:11], data[20:25], data[4096:4100])
shutil.rmtree(base)
print("removed", not os.path.exists(base))
"""


def test_python3_file_modules(programs_root):
    native = run_native(["/usr/bin/python3", "-c", PYTHON], chroot=programs_root)
    sandboxed = run_sandbox(["/usr/bin/python3", "-c", PYTHON], rootfs=programs_root)
    assert_same(native, sandboxed)
    assert "child locked out\n" in sandboxed.out
    assert "child got the lock after the unlock\n" in sandboxed.out
    assert "parent mapping sees b'from child!' b'page'\n" in sandboxed.out
    assert "read() sees b'from child!' b'later' b'page'\n" in sandboxed.out


OVERLAY = """
set -e
cd "$1"
echo changed >> keep.txt
echo new > created.txt
rm gone.txt
mv old-name.txt new-name.txt
mkdir -p newdir/inner && echo deep > newdir/inner/file
rm -r dir/sub
mv dir moved-dir
chmod 600 mode.txt
touch -d '2001-01-01' keep.txt
ln -s new-name.txt a-link
find . | sort
cat keep.txt new-name.txt newdir/inner/file
stat -c '%n %a %s' mode.txt keep.txt
"""


def test_overlay_changes_stay_in_memory(tmp_path):
    """On the host's / (the default overlay), a script changes a directory; inside, every change
    shows, and the same script natively on a copy gives the same view; the lower directory
    itself is unchanged afterwards, byte for byte and mtime for mtime."""
    lower = tmp_path / "lower"
    (lower / "dir" / "sub").mkdir(parents=True)
    for name, text in (("keep.txt", "kept\n"), ("gone.txt", "bye\n"), ("old-name.txt", "renamed\n"),
                       ("mode.txt", "mode\n"), ("dir/sub/x", "x\n"), ("dir/y", "y\n")):
        (lower / name).write_text(text)
    os.utime(lower / "keep.txt", ns=(1_000_000_000, 1_000_000_000))
    before = tree_snapshot(lower)
    copy = tmp_path / "native-copy"
    shutil.copytree(lower, copy, symlinks=True)
    native = run_native(["/bin/busybox", "sh", "-c", OVERLAY, "sh", str(copy)])
    sandboxed = run_sandbox(["/bin/busybox", "sh", "-c", OVERLAY, "sh", str(lower)])
    assert_same(native, sandboxed)
    assert "./newdir/inner/file\n" in sandboxed.out and "./gone.txt" not in sandboxed.out
    assert tree_snapshot(lower) == before
