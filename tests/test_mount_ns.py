"""Mount namespaces, propagation, setns(2), pivot_root(2), lazy unmounts and IN_UNMOUNT
(sentry/vfs/mountns.py, syscalls/sys_mount.py), compared with Linux run natively inside
`unshare -m` (so the host's mounts are never touched)."""
import errno
import os
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import errno_of, run_sandbox
from rootfs import build_busybox_rootfs
from pysandbox.sentry.vfs import VFS
from pysandbox.sentry.vfs.mountns import mount_of
from pysandbox.sentry.vfs.resolve import AT_FDCWD
from pysandbox.sentry.vfs.testing import FakeTask

# Natively: a private mount namespace, the rootfs a mount point of its own with proc on its
# /proc, then chroot, so the program sees what it sees in the sandbox.
_NATIVE_WRAPPER = ('mount --bind "$1" "$1" && mount -t proc proc "$1/proc" && shift && '
                   'exec chroot "$0" "$@"')


def _run_natively_in_own_namespace(rootfs, argv, stdin=None):
    result = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", _NATIVE_WRAPPER,
                             str(rootfs), str(rootfs), *argv], input=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    return result.returncode, result.stdout.decode()


def _fresh_rootfs(path, program, name):
    (path / "proc").mkdir(parents=True)
    shutil.copy(program, path / name)
    return path


def test_mount_namespaces_match_linux(cprog, tmp_path, as_root):
    """tests/cprogs/mount_ns.c: private and shared mounts between a namespace and its copy,
    slaves, /proc/PID/ns/mnt and setns, pivot_root's errnos, pivot_root into a prepared
    directory, the `.` `.` idiom, a switch_root-style MS_MOVE, busy and lazy unmounts, and
    IN_UNMOUNT. Every line must be the same as Linux's."""
    program = cprog("mount_ns", static=True)
    native_root = _fresh_rootfs(tmp_path / "native", program, "mount_ns")
    status, native_out = _run_natively_in_own_namespace(native_root, ["/mount_ns", str(native_root)])
    assert status == 0, native_out
    sandbox_root = _fresh_rootfs(tmp_path / "sandbox", program, "mount_ns")
    sandboxed = run_sandbox(["/mount_ns", "/"], rootfs=str(sandbox_root))
    assert sandboxed.status == 0, sandboxed
    assert sandboxed.out == native_out
    for line in ("pivot_root . .: ok", "child sees parent's mount: present",
                 "parent sees child's private mount: ENOENT", "pivot_root put_old not under new_root: EINVAL",
                 "events of the file watch: IN_UNMOUNT IN_IGNORED"):
        assert line in sandboxed.out, line


# --- a model: random scripts of mount operations across namespaces, against Linux ---

_POINTS = ("/m/a", "/m/b", "/m/a/s", "/m/b/s")
_OPERATIONS = st.one_of(
    st.just("unshare"),
    st.builds("enter {}".format, st.integers(0, 3)),
    st.builds("{} {}".format, st.sampled_from(["mount", "mount", "umount", "detach", "shared", "private",
                                               "slave", "unbindable"]), st.sampled_from(_POINTS)),
    st.builds("{} {}".format, st.sampled_from(["rshared", "rprivate", "rslave"]),
              st.sampled_from(("/m",) + _POINTS)),
    st.builds("{} {} {}".format, st.sampled_from(["bind", "rbind", "move"]), st.sampled_from(_POINTS),
              st.sampled_from(_POINTS)),
)


@pytest.fixture(scope="module")
def model_rootfs(cprog, tmp_path_factory):
    program = cprog("mount_ns_model", static=True)
    top = tmp_path_factory.mktemp("mount-ns-model")
    return (_fresh_rootfs(top / "native", program, "model"), _fresh_rootfs(top / "sandbox", program, "model"))


@settings(max_examples=int(os.environ.get("PYSANDBOX_MOUNT_NS_MODEL_EXAMPLES", "20")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(script=st.lists(_OPERATIONS, min_size=1, max_size=12))
def test_random_mount_scripts_match_linux(script, model_rootfs, as_root):
    """tests/cprogs/mount_ns_model.c replays a random script (new namespaces, setns between
    them, mounts, binds, unmounts, propagation changes) and prints every namespace's mounts
    under /m with their propagation after each step: the sandbox must print what Linux does."""
    native_root, sandbox_root = model_rootfs
    text = "".join(line + "\n" for line in script)
    status, native_out = _run_natively_in_own_namespace(native_root, ["/model", str(native_root)],
                                                        stdin=text.encode())
    assert status == 0, native_out
    sandboxed = run_sandbox(["/model", "/"], rootfs=str(sandbox_root), stdin=text)
    assert sandboxed.status == 0, sandboxed
    assert sandboxed.out == native_out, f"script:\n{text}"


_BUSYBOX_PIVOT = r"""
set -e
mkdir -p /newroot
unshare -m sh -c '
  set -e
  mount -t tmpfs tmpfs /newroot
  mkdir /newroot/bin /newroot/old /newroot/proc
  cp /bin/busybox /newroot/bin/busybox
  for applet in sh ls cat cut mount umount; do ln -s busybox /newroot/bin/$applet; done
  echo in-new-root > /newroot/marker
  cd /newroot
  pivot_root . old
  exec chroot . /bin/sh -c "
    mount -t proc proc /proc
    umount -l /old
    echo ls /: \$(ls /)
    echo ls /old: \$(ls /old)
    cat /marker
    cut -d\" \" -f2,3 /proc/mounts"
'
echo back in the first namespace:
grep -c newroot /proc/mounts || true
ls /newroot
"""


def _busybox_script_natively_and_sandboxed(tmp_path, script):
    """The output of busybox sh running `script` natively (in a mount namespace of its own) and
    in the sandbox, each on a busybox rootfs of its own; both must succeed."""
    outputs = []
    for where in ("native", "sandbox"):
        rootfs = build_busybox_rootfs(str(tmp_path / where))
        os.makedirs(os.path.join(rootfs, "proc"), exist_ok=True)
        if where == "native":
            status, out = _run_natively_in_own_namespace(rootfs, ["/bin/sh", "-c", script])
        else:
            result = run_sandbox(["/bin/sh", "-c", script], rootfs=rootfs)
            status, out = result.status, result.out + result.err
        assert status == 0, out
        outputs.append(out)
    return outputs


def test_busybox_pivot_root_and_lazy_umount_match_linux(tmp_path, as_root):
    """busybox unshare -m, pivot_root . old, chroot, umount -l: the runc sequence by hand."""
    outputs = _busybox_script_natively_and_sandboxed(tmp_path, _BUSYBOX_PIVOT)
    assert outputs[1] == outputs[0]
    assert "ls /: bin marker old proc\nls /old:\nin-new-root\n/ tmpfs\n/proc proc\n" in outputs[1]


# mountinfo's 4th field (the mount's root inside its filesystem) for a bind of a subdirectory,
# and for a root that is one after pivot_root, before and after unshare -m copies the namespace.
_BUSYBOX_BIND_ROOTS = r"""
set -e
mkdir -p /t /b /nr
mount -t tmpfs tmpfs /t
mkdir -p /t/sub/deeper /t/nr/bin /t/nr/old /t/nr/proc
cp /bin/busybox /t/nr/bin/busybox
for applet in sh cut grep mount umount unshare chroot; do ln -s busybox /t/nr/bin/$applet; done
echo 'echo $1: $(cut -d" " -f4,5 /proc/self/mountinfo | grep -E "$2")' > /t/nr/roots
mount --bind /t/sub/deeper /b
mount --bind /t/nr /nr
sh /nr/roots bound " /(t|b|nr)$"
unshare -m sh /nr/roots copied " /(t|b|nr)$"
cd /nr
exec unshare -m sh -c 'pivot_root . old && exec chroot . /bin/sh -c "
  umount -l /old && mount -t proc proc /proc && sh /roots pivoted \" /$\" &&
  exec unshare -m sh /roots copied \" /$\""'
"""


def test_mount_roots_survive_a_namespace_copy(tmp_path, as_root):
    """A bind of a subdirectory, and a root pivoted onto one, keep their mountinfo root field
    in a copied namespace (clone/unshare(CLONE_NEWNS)), as on Linux."""
    outputs = _busybox_script_natively_and_sandboxed(tmp_path, _BUSYBOX_BIND_ROOTS)
    assert outputs[1] == outputs[0]
    assert "bound: / /t /sub/deeper /b /nr /nr\ncopied: / /t /sub/deeper /b /nr /nr\n" in outputs[1]
    assert "pivoted: /nr /\ncopied: /nr /\n" in outputs[1]


# --- in-process: the namespace objects themselves ---

def _task(tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "srv" / "a").mkdir(parents=True)
    return FakeTask(VFS.for_rootfs(str(rootfs), overlay=True, mounts=[]))


def _mount(t, target, flags=0, fstype="tmpfs", source="tmpfs"):
    from pysandbox.sentry.syscalls import sys_mount
    return sys_mount.mount(t, t.cstr(source) if source else 0, t.cstr(target),
                           t.cstr(fstype) if fstype else 0, flags, 0)


def test_copied_namespace_has_its_own_dentries_over_the_same_files(tmp_path):
    from pysandbox.sentry.vfs import mountns
    t = _task(tmp_path)
    vfs = t.kernel.vfs
    try:
        assert _mount(t, "/srv") == 0
        vfs.mkdir(t, AT_FDCWD, b"/srv/inside", 0o755)
        first_ns, first_srv = t.fs.mntns, vfs.lookup(t, AT_FDCWD, b"/srv")
        mountns.enter_copy(t.fs)
        copy_srv = vfs.lookup(t, AT_FDCWD, b"/srv")
        assert t.fs.mntns is not first_ns and t.fs.mntns.ino != first_ns.ino
        assert copy_srv is not first_srv and copy_srv.inode is first_srv.inode
        assert mount_of(copy_srv).ns is t.fs.mntns and mount_of(first_srv).ns is first_ns
        assert [m.root.path() for m in t.fs.mntns.mounts] == [b"/", b"/proc", b"/dev", b"/dev/pts", b"/sys",
                                                              b"/srv"]  # depth first, as Linux copies
        # An unmount in the copy leaves the original's mount alone.
        from pysandbox.sentry.syscalls import sys_mount
        assert sys_mount.umount2(t, t.cstr("/srv"), 0) == 0
        assert errno_of(vfs.lookup, t, AT_FDCWD, b"/srv/inside") == errno.ENOENT
        assert first_srv.lookup(b"inside").inode.is_dir
        # setns back: root and cwd move to the namespace's root.
        mountns.enter(t.fs, first_ns)
        assert t.fs.root is first_ns.root and vfs.lookup(t, AT_FDCWD, b"/srv/inside").inode.is_dir
    finally:
        vfs.close()


def test_pivot_root_checks_and_moves_every_reference(tmp_path):
    from pysandbox.sentry.syscalls import sys_mount
    t = _task(tmp_path)
    vfs = t.kernel.vfs
    try:
        old_root = t.fs.root
        assert errno_of(sys_mount.pivot_root, t, t.cstr("/srv"), t.cstr("/srv")) == errno.EBUSY
        assert _mount(t, "/srv") == 0
        vfs.mkdir(t, AT_FDCWD, b"/srv/old", 0o755)
        assert errno_of(sys_mount.pivot_root, t, t.cstr("/srv"), t.cstr("/proc")) == errno.EINVAL
        assert errno_of(sys_mount.pivot_root, t, 0x10, t.cstr("/srv")) == errno.EFAULT
        t.fs.cwd = vfs.lookup(t, AT_FDCWD, b"/srv/old")
        assert sys_mount.pivot_root(t, t.cstr("/srv"), t.cstr("/srv/old")) == 0
        new_root = t.fs.root
        assert new_root is not old_root and new_root.parent is None and t.fs.mntns.root is new_root
        assert vfs.lookup(t, AT_FDCWD, b"/old/srv/a").inode.is_dir  # the old root's own /srv, uncovered
        assert vfs.getcwd(t) == b"/old"  # the cwd was not the old root: it stays where it was
        assert vfs.lookup(t, AT_FDCWD, b"/old/..") is new_root
        info = vfs.render_mounts(t, info=True).splitlines()
        assert [line.split()[4] for line in info] == ["/old", "/old/proc", "/old/dev", "/old/dev/pts",
                                                      "/old/sys", "/"]
        assert sys_mount.umount2(t, t.cstr("/old"), 2) == 0  # MNT_DETACH
        assert [line.split()[4] for line in vfs.render_mounts(t, info=True).splitlines()] == ["/"]
        t.creds.effective = 0  # no capabilities: EPERM before anything is looked up
        assert errno_of(sys_mount.pivot_root, t, 0x10, t.cstr("/srv")) == errno.EPERM
    finally:
        vfs.close()


def test_configured_propagation_options_apply(tmp_path):
    """OCI mounts may ask for "rshared", "slave", ... (Docker's `-v SRC:DST:rshared`)."""
    from pysandbox.sentry.vfs.mount import MountSpec
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    vfs = VFS.for_rootfs(str(rootfs), overlay=True, mounts=[
        MountSpec("/shared", "tmpfs", "tmpfs", ["rshared"]),
        MountSpec("/private", "tmpfs", "tmpfs", ["rprivate"])])
    try:
        lines = {line.split()[4]: line for line in vfs.render_mounts(info=True).splitlines()}
        assert " shared:1 - tmpfs" in lines["/shared"]
        assert " shared:" not in lines["/private"]
    finally:
        vfs.close()


# umount2 on the caller's root. Natively always in a tmpfs of its own: Linux remounts the root's
# filesystem read-only, and that must never be a host filesystem.
_UMOUNT_ROOT_IN_TMPFS = ("mkdir -p /nr && mount -t tmpfs tmpfs /nr && cp /umount_root /nr/ && mkdir /nr/proc && "
                         "mount -t proc proc /nr/proc && exec chroot /nr /umount_root")


def test_umount_of_the_root_matches_linux(cprog, tmp_path, as_root):
    """tests/cprogs/umount_root.c: umount2("/") (also as ".", with MNT_FORCE) remounts the root's
    filesystem read-only, MNT_EXPIRE there is EINVAL, MNT_DETACH takes it out of the namespace;
    in a chroot to a tmpfs, and in the sandbox on its own first root too."""
    program = cprog("umount_root", static=True)
    native_root = build_busybox_rootfs(str(tmp_path / "native"))
    sandbox_root = build_busybox_rootfs(str(tmp_path / "sandbox"))
    for rootfs in (native_root, sandbox_root):
        os.makedirs(os.path.join(rootfs, "proc"), exist_ok=True)
        shutil.copy(program, os.path.join(rootfs, "umount_root"))
    status, native_out = _run_natively_in_own_namespace(native_root, ["/bin/sh", "-c", _UMOUNT_ROOT_IN_TMPFS])
    assert status == 0, native_out
    assert "after umount2 /: create EROFS, statvfs ro, mountinfo / rw,relatime ro\n" in native_out
    in_tmpfs = run_sandbox(["/bin/sh", "-c", _UMOUNT_ROOT_IN_TMPFS], rootfs=sandbox_root)
    assert (in_tmpfs.status, in_tmpfs.out) == (0, native_out), in_tmpfs
    # The sandbox's own root (a remount first gives it relatime, as the tmpfs has).
    on_own_root = run_sandbox(["/bin/sh", "-c", "mount -o remount,bind / && exec /umount_root --any-root"],
                              rootfs=sandbox_root)
    assert (on_own_root.status, on_own_root.out) == (0, native_out), on_own_root
    assert os.access(sandbox_root, os.W_OK) and not os.statvfs(sandbox_root).f_flag & os.ST_RDONLY
