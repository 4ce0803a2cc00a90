"""Build root filesystems for tests out of the host's own files.

Two kinds:

* ``build_busybox_rootfs(dest)``: /bin/busybox (static) with applet symlinks,
  /etc/passwd and /etc/group, a few data files and the usual empty mount
  points. Small; runs natively under ``chroot`` too.
* ``RootfsBuilder(dest)``: the host's dynamically linked programs with
  everything they need: the shared libraries ``ldd`` reports, the dynamic
  loader, and (for python3) Debian's standard library. Symlinks on the way
  (``/bin -> usr/bin``, ``libfoo.so.6 -> libfoo.so.6.4``) are reproduced as
  symlinks, so paths inside the rootfs look the same as on the host.

Files are copied, never hard-linked: a sandbox bug that writes into the
rootfs must not be able to change the host's own binaries.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess

# Debian's interpreter and its standard library. The test runner itself may be
# another Python (pyenv); the rootfs always gets Debian's, whose stdlib lives
# at a fixed place.
HOST_PYTHON = "/usr/bin/python3"

BUSYBOX = "/bin/busybox"
BUSYBOX_APPLETS = [
    "sh", "ls", "cat", "sort", "sleep", "wc", "echo", "kill", "true", "false",
    "head", "tail", "tr", "uname", "id", "env", "mkdir", "rm", "seq", "grep",
    "test", "[", "printf", "uniq", "pwd", "stat", "touch", "dd", "find", "xargs",
]

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
)
GROUP = "root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n"

# Directories a Linux root is expected to have; the sandbox may mount its own
# /proc, /dev, /sys and /tmp over them.
MOUNT_POINTS = ["dev", "proc", "sys", "tmp", "root", "etc"]

# Parts of the stdlib that no test needs (the static libpython alone is 25 MB).
STDLIB_SKIP = {"test", "config-3.11-x86_64-linux-gnu", "idlelib", "tkinter",
               "turtledemo", "ensurepip", "lib2to3", "site-packages", "dist-packages"}


def _write(path: str, data: str, mode: int = 0o644) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(data)
    os.chmod(path, mode)


def _base_layout(dest: str) -> None:
    os.makedirs(dest, exist_ok=True)
    for d in MOUNT_POINTS:
        os.makedirs(os.path.join(dest, d), exist_ok=True)
    os.chmod(os.path.join(dest, "tmp"), 0o1777)
    os.chmod(os.path.join(dest, "root"), 0o700)
    _write(os.path.join(dest, "etc/passwd"), PASSWD)
    _write(os.path.join(dest, "etc/group"), GROUP)
    _write(os.path.join(dest, "etc/hostname"), "sandbox\n")
    _make_devices(os.path.join(dest, "dev"))


# (name, major, minor): the character devices a shell expects; a native run
# under chroot needs them (busybox sh opens /dev/null for `cmd &`). The
# sandbox may show its own /dev instead.
DEVICES = [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
           ("urandom", 1, 9), ("tty", 5, 0)]


def _make_devices(devdir: str) -> None:
    for name, major, minor in DEVICES:
        path = os.path.join(devdir, name)
        if os.path.lexists(path):
            continue
        try:
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
            os.chmod(path, 0o666)
        except PermissionError:         # not root: no device nodes, no chroot runs
            return


def build_busybox_rootfs(dest: str) -> str:
    """A small rootfs around the static busybox. Returns dest."""
    if not os.path.exists(BUSYBOX):
        raise FileNotFoundError(f"{BUSYBOX} is missing (apt-get install busybox-static)")
    _base_layout(dest)
    bindir = os.path.join(dest, "bin")
    os.makedirs(bindir, exist_ok=True)
    shutil.copy2(BUSYBOX, os.path.join(bindir, "busybox"))
    for applet in BUSYBOX_APPLETS:
        link = os.path.join(bindir, applet)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    _write(os.path.join(dest, "data/hello.txt"), "hello from the rootfs\nsecond line\n")
    _write(os.path.join(dest, "data/unsorted.txt"), "pear\napple\nfig\nbanana\n")
    _write(os.path.join(dest, "data/script.sh"),
           "#!/bin/sh\necho script args: \"$@\"\nexit 3\n", 0o755)
    os.symlink("hello.txt", os.path.join(dest, "data/link-to-hello"))
    return dest


_LDD_LINE = re.compile(r"^\s*(?:(\S+)\s+=>\s+)?(/\S+)\s+\(0x[0-9a-f]+\)\s*$")


def shared_libraries(path: str) -> list[str]:
    """Absolute paths of the shared libraries and loader that `ldd path` lists.

    Returns [] for static executables and for files ldd doesn't understand.
    """
    r = subprocess.run(["ldd", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"})
    if r.returncode != 0:
        return []
    libs = []
    for line in r.stdout.decode(errors="replace").splitlines():
        if "not found" in line:
            raise RuntimeError(f"ldd {path}: {line.strip()}")
        m = _LDD_LINE.match(line)
        if m:
            libs.append(m.group(2))
    return libs


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


class RootfsBuilder:
    """Copies host files into `dest`, reproducing symlinks on their paths."""

    def __init__(self, dest: str):
        self.dest = os.path.abspath(dest)
        self._done: set[str] = set()
        _base_layout(self.dest)

    # -- paths --------------------------------------------------------------

    def _in_root(self, host_path: str) -> str:
        return os.path.join(self.dest, host_path.lstrip("/"))

    def add(self, host_path: str, *, with_libs: bool = True) -> str:
        """Copy host_path (file, symlink chain or directory tree) into the
        rootfs at the same path, with the shared libraries of every ELF file
        copied. Returns the path inside the rootfs."""
        host_path = os.path.normpath(os.path.abspath(host_path))
        real = self._add_path(host_path, depth=0)
        if with_libs:
            self._add_libs(real)
        return host_path

    def _add_path(self, host_path: str, depth: int) -> str:
        """Walk host_path component by component; reproduce symlinks; copy the
        final object. Returns the host path of the final (non-link) object."""
        if depth > 40:
            raise RuntimeError(f"too many symlinks resolving {host_path}")
        parts = [p for p in host_path.split("/") if p]
        cur = "/"
        for i, comp in enumerate(parts):
            nxt = os.path.join(cur, comp)
            dst = self._in_root(nxt)
            st = os.lstat(nxt)
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(nxt)
                if not os.path.lexists(dst):
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    os.symlink(target, dst)
                resolved = target if target.startswith("/") else os.path.join(cur, target)
                rest = parts[i + 1:]
                return self._add_path(os.path.normpath(os.path.join(resolved, *rest)), depth + 1)
            last = i == len(parts) - 1
            if stat.S_ISDIR(st.st_mode):
                if not os.path.isdir(dst):
                    os.makedirs(dst, exist_ok=True)
                    shutil.copystat(nxt, dst)
                if last:
                    self._copy_tree(nxt, dst)
            elif last:
                self._copy_file(nxt, dst)
            else:
                raise NotADirectoryError(nxt)
            cur = nxt
        return host_path

    def _copy_file(self, src: str, dst: str) -> None:
        if src in self._done:
            return
        self._done.add(src)
        if not os.path.exists(dst):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(src, dst)

    def _copy_tree(self, src: str, dst: str) -> None:
        if src in self._done:
            return
        self._done.add(src)
        for dirpath, dirnames, filenames in os.walk(src):
            rel = os.path.relpath(dirpath, src)
            dirnames[:] = [d for d in dirnames
                           if d not in STDLIB_SKIP and not os.path.islink(os.path.join(dirpath, d))]
            out = os.path.normpath(os.path.join(dst, rel))
            os.makedirs(out, exist_ok=True)
            for name in os.listdir(dirpath):
                s = os.path.join(dirpath, name)
                d = os.path.join(out, name)
                if os.path.lexists(d):
                    continue
                if os.path.islink(s):
                    os.symlink(os.readlink(s), d)
                elif name in filenames:
                    shutil.copy2(s, d)

    def _add_libs(self, real_path: str) -> None:
        elfs = []
        if os.path.isdir(real_path):
            for dirpath, dirnames, filenames in os.walk(real_path):
                dirnames[:] = [d for d in dirnames if d not in STDLIB_SKIP]
                elfs += [os.path.join(dirpath, f) for f in filenames
                         if f.endswith(".so") or ".so." in f]
        elif _is_elf(real_path):
            elfs.append(real_path)
        for elf in elfs:
            for lib in shared_libraries(elf):
                self._add_path(os.path.normpath(lib), depth=0)

    # -- conveniences --------------------------------------------------------

    def add_program(self, name_or_path: str) -> str:
        """Add a program by path or by name (looked up in /usr/bin, /bin)."""
        path = name_or_path
        if "/" not in path:
            for d in ("/usr/bin", "/bin", "/usr/sbin", "/sbin"):
                if os.path.exists(os.path.join(d, path)):
                    path = os.path.join(d, path)
                    break
            else:
                raise FileNotFoundError(f"program {name_or_path!r} not found on the host")
        return self.add(path)

    def add_python(self, python: str = HOST_PYTHON) -> str:
        """Debian's python3 with its standard library and extension modules."""
        if not os.path.exists(python):
            raise FileNotFoundError(f"{python} is missing (apt-get install python3)")
        self.add(python)
        real = os.path.realpath(python)
        version = os.path.basename(real).replace("python", "")        # "3.11"
        stdlib = f"/usr/lib/python{version}"
        if not os.path.isdir(stdlib):
            raise FileNotFoundError(f"{python}'s standard library {stdlib} is missing")
        self.add(stdlib)                      # also ldd's every lib-dynload/*.so
        for extra in (f"/etc/python{version}",):
            if os.path.isdir(extra):
                self.add(extra, with_libs=False)
        return python

    def add_file(self, src: str, dst: str, mode: int | None = None) -> str:
        """Copy one host file to an arbitrary path inside the rootfs."""
        out = self._in_root(dst)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        shutil.copy2(src, out)
        if mode is not None:
            os.chmod(out, mode)
        if _is_elf(src):
            for lib in shared_libraries(src):
                self._add_path(os.path.normpath(lib), depth=0)
        return dst

    def write(self, dst: str, data: str, mode: int = 0o644) -> str:
        _write(self._in_root(dst), data, mode)
        return dst


def build_host_rootfs(dest: str, programs: list[str] = (), python: bool = True) -> str:
    """A rootfs holding bash, coreutils basics, python3 and `programs`."""
    b = RootfsBuilder(dest)
    # Reproduce the host's top-level symlinks first (merged /usr: /bin -> usr/bin).
    for top in ("bin", "sbin", "lib", "lib64", "lib32", "libx32"):
        p = "/" + top
        if os.path.islink(p) and not os.path.lexists(os.path.join(b.dest, top)):
            target = os.readlink(p)
            os.symlink(target, os.path.join(b.dest, top))
            os.makedirs(os.path.join(b.dest, os.path.normpath(os.path.join("/", target)).lstrip("/")),
                        exist_ok=True)
    base = ["bash", "sh", "echo", "cat", "ls", "true", "false", "tr", "wc", "seq",
            "sort", "head", "sleep", "env", "id", "uname"]
    for prog in [*base, *programs]:
        b.add_program(prog)
    if python:
        b.add_python()
    b.write("/etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files\n")
    b.write("/etc/hosts", "127.0.0.1 localhost\n")
    return dest
