"""/proc: the sandbox's own processes and a few system files, generated when opened."""
import errno
import itertools
import os
import stat as st
import struct
import time

from ..errors import SyscallError
from ..sched import HOST_CPUS
from ..signals import SIG_DFL, SIG_IGN
from ..version import RELEASE, SYSNAME, VERSION
from .devpts import controlling_terminal, new_encode_dev
from .dirfile import DirFile
from .file import ContentFile
from .inode import DirEntry, Inode, new_synthetic_dev
from .stat import StatResult, dirent_type

PROC_SUPER_MAGIC = 0x9FA0
PROC_DEV = new_synthetic_dev()
_proc_inode_numbers = itertools.count(4026531840)
FILESYSTEMS = ("sysfs", "tmpfs", "proc", "cgroup", "cgroup2", "devpts", "mqueue", "overlay", "ext4")
_CPU_FLAGS = ("fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr "
              "sse sse2 ht syscall nx lm constant_tsc rep_good nopl xtopology cpuid pni ssse3 cx16 "
              "sse4_1 sse4_2 popcnt aes xsave avx hypervisor lahf_lm")


class ProcInode(Inode):
    def __init__(self, mode, owner=None):
        self.mode = mode
        self.ino = next(_proc_inode_numbers)
        self.owner = owner  # the ThreadGroup whose credentials own it, or None for root

    def stat(self):
        uid = gid = 0
        leader = self.owner.leader if self.owner is not None else None
        if leader is not None:
            uid, gid = leader.creds.euid, leader.creds.egid
        now = time.time_ns()
        return StatResult(dev=PROC_DEV, ino=self.ino, mode=self.mode, nlink=1, uid=uid, gid=gid,
                          atime_ns=now, mtime_ns=now, ctime_ns=now)

    def statfs(self):
        return (PROC_SUPER_MAGIC, 4096, 0, 0, 0, 0, 0, 255, 4096, 0)


class ProcFile(ProcInode):
    """A read-only file whose text `generate(t)` makes at open time."""

    def __init__(self, generate, owner=None, mode=0o444):
        super().__init__(st.S_IFREG | mode, owner)
        self.generate = generate

    def open(self, t, dentry, flags):
        content = self.generate(t)
        return ContentFile(flags, dentry, b"", content.encode() if isinstance(content, str) else content)


class SysctlFile(ProcInode):
    """/proc/sys/<name>: the sandbox's value of sysctl `name`; writing changes that value."""

    def __init__(self, sysctls, name):
        super().__init__(st.S_IFREG | (0o644 if sysctls.writable(name) else 0o444))
        self.sysctls = sysctls
        self.name = name

    def open(self, t, dentry, flags):
        return _SysctlValueFile(flags, dentry, self.sysctls, self.name, t)


class _SysctlValueFile(ContentFile):
    def __init__(self, flags, dentry, sysctls, name, t=None):
        super().__init__(flags, dentry, b"", (sysctls.get(name, t) + "\n").encode())
        self.sysctls = sysctls
        self.name = name

    def write(self, t, data):
        written = len(data)
        if self.offset == 0:
            text = data.decode(errors="surrogateescape")
            taken = self.sysctls.write(t, self.name, text)
            if taken is not None:                        # kernel.sem takes four numbers, no more
                written = len(text[:taken].encode(errors="surrogateescape"))
        self.offset += written
        return written


class ProcSymlink(ProcInode):
    def __init__(self, target, owner=None, jump=None):
        super().__init__(st.S_IFLNK | 0o777, owner)
        self.target = target  # target(t) -> bytes
        self.jump = jump      # jump(t) -> Dentry for magic links, or None

    def readlink(self, t):
        return self.target(t)

    def magic_link_target(self, t):
        return self.jump(t) if self.jump is not None else None


class ProcDir(ProcInode):
    """A directory whose children come from `children()`: name -> factory of the child inode."""

    cache_children = False  # processes and descriptors come and go

    def __init__(self, children, owner=None):
        super().__init__(st.S_IFDIR | 0o555, owner)
        self.children = children

    def open(self, t, dentry, flags):
        return DirFile(flags, dentry)

    def lookup(self, name):
        factory = self.children().get(name)
        if factory is None:
            raise SyscallError(errno.ENOENT)
        return factory()

    def list(self):
        entries = []
        for name, factory in self.children().items():
            child = factory()
            entries.append(DirEntry(name, child.ino, dirent_type(child.mode)))
        return entries


class ProcessDir(ProcDir):
    """/proc/<pid>: an fd of it names the process, as a pidfd does (pidfd_send_signal(2))."""


class ProcFS:
    """Builds the /proc tree; `vfs.kernel` supplies the processes."""

    def __init__(self, vfs):
        self.vfs = vfs
        self.root = ProcDir(self._root_children)

    @property
    def kernel(self):
        return self.vfs.kernel

    def _root_children(self):
        children = {
            b"self": lambda: ProcSymlink(lambda t: b"%d" % t.tg.tgid),
            b"thread-self": lambda: ProcSymlink(lambda t: b"%d/task/%d" % (t.tg.tgid, t.tid)),
            b"mounts": lambda: ProcSymlink(lambda t: b"self/mounts"),
            b"net": lambda: ProcSymlink(lambda t: b"self/net"),
            b"cpuinfo": lambda: ProcFile(cpuinfo),
            b"meminfo": lambda: ProcFile(meminfo),
            b"stat": lambda: ProcFile(self._system_stat),
            b"uptime": lambda: ProcFile(self._uptime),
            b"loadavg": lambda: ProcFile(self._loadavg),
            b"version": lambda: ProcFile(lambda t: f"{SYSNAME} version {RELEASE} (pysandbox@pysandbox) {VERSION}\n"),
            b"filesystems": lambda: ProcFile(lambda t: "".join(
                f"{'nodev' if name != 'ext4' else ''}\t{name}\n" for name in FILESYSTEMS)),
            b"sys": lambda: ProcDir(self._sys_children),
            b"sysvipc": lambda: ProcDir(_sysvipc_children),
        }
        kernel = self.kernel
        if kernel is not None:
            for tgid, tg in sorted(kernel.thread_groups.items()):
                if not getattr(tg, "reaped", False):
                    children[b"%d" % tgid] = lambda tg=tg: ProcessDir(lambda: self._process_children(tg), tg)
        return children

    def _sys_children(self, prefix=""):
        """/proc/sys and its subdirectories: the kernel's sysctls (sentry/sysctl.py) whose dotted
        names start with `prefix`."""
        sysctls = self.kernel.sysctls
        children = {}
        for name in sysctls.names():
            if not name.startswith(prefix):
                continue
            head, dot, _ = name[len(prefix):].partition(".")
            if dot:
                children[head.encode()] = lambda sub=f"{prefix}{head}.": ProcDir(lambda: self._sys_children(sub))
            else:
                children[head.encode()] = lambda name=name: SysctlFile(sysctls, name)
        return children

    def _process_children(self, tg, thread=None):
        """The entries of /proc/<pid>, or of /proc/<pid>/task/<tid> as `thread` sees them."""
        def leader():
            task = tg.leader if thread is None else thread
            if task is None or task not in tg.tasks:
                raise SyscallError(errno.ESRCH)
            return task

        def file(generate, mode=0o444):
            return lambda: ProcFile(lambda t: generate(leader()), tg, mode)

        children = {
            b"exe": lambda: ProcSymlink(lambda t: os.fsencode(tg.exe), tg),
            b"cwd": lambda: ProcSymlink(lambda t: leader().fs.cwd.path(leader().fs.root), tg),
            b"root": lambda: ProcSymlink(lambda t: b"/", tg),
            b"fd": lambda: ProcDir(lambda: self._fd_children(leader(), tg), tg),
            b"fdinfo": lambda: ProcDir(lambda: self._fdinfo_children(leader(), tg), tg),
            b"personality": file(lambda task: f"{task.personality:08x}\n", 0o400),
            b"cmdline": file(lambda task: b"".join(_as_bytes(arg) + b"\0" for arg in tg.argv)),
            b"environ": file(lambda task: b"".join(_as_bytes(var) + b"\0" for var in tg.envp), 0o400),
            b"auxv": file(lambda task: b"".join(struct.pack("<QQ", *pair) for pair in getattr(tg, "auxv", ())),
                          0o400),
            b"comm": file(lambda task: (task.comm or os.path.basename(tg.exe))[:15] + "\n", 0o644),
            b"maps": file(lambda task: task.mm.render_maps()),
            b"mem": lambda: _process_memory(leader, tg),
            b"status": file(lambda task: process_status(task, tg)),
            b"stat": lambda: ProcFile(lambda t: process_stat(leader(), tg, self.kernel, _boot_offset(t)), tg),
            b"mounts": file(lambda task: self.vfs.render_mounts(task)),
            b"mountinfo": file(lambda task: self.vfs.render_mounts(task, info=True)),
            b"ns": lambda: ProcDir(lambda: _namespace_children(leader, tg), tg),
            b"timens_offsets": lambda: _timens_offsets(leader, tg),
            b"cgroup": lambda: ProcFile(lambda t: _cgroup_line(t, leader()), tg),
            b"net": lambda: ProcDir(_net_children, tg),
        }
        if thread is None:
            children[b"task"] = lambda: ProcDir(lambda: self._task_children(tg), tg)
        return children

    def _task_children(self, tg):
        """/proc/<pid>/task: a directory per thread."""
        return {b"%d" % task.tid: lambda task=task: ProcDir(lambda: self._process_children(tg, task), tg)
                for task in list(tg.tasks)}

    @staticmethod
    def _fd_children(task, tg):
        def link(file):
            return lambda: ProcSymlink(lambda t: os.fsencode(file.path), tg,
                                       jump=lambda t: file.dentry)
        return {b"%d" % fd: link(file) for fd, file in task.fds}

    def _fdinfo_children(self, task, tg):
        def info(fd, file):
            return lambda: ProcFile(lambda t: self._fdinfo(task, fd, file), tg)
        return {b"%d" % fd: info(fd, file) for fd, file in task.fds}

    def _fdinfo(self, task, fd, file):
        """/proc/<pid>/fdinfo/<fd>: position, flags (close-on-exec as O_CLOEXEC), mount and
        inode, then what the kind of file adds (a pidfd its Pid: lines)."""
        flags = file.flags | (os.O_CLOEXEC if fd in task.fds and task.fds.get_cloexec(fd) else 0)
        try:
            ino = file.stat().ino
        except SyscallError:
            ino = 0
        mount = self.vfs.mount_of(file.dentry) if file.dentry is not None else self.vfs.mount_table.root_mount
        extra = file.fdinfo() if hasattr(file, "fdinfo") else ""
        return f"pos:\t{getattr(file, 'offset', 0)}\nflags:\t0{flags:o}\nmnt_id:\t{mount.id}\nino:\t{ino}\n{extra}"

    def _system_stat(self, t):
        cpus = HOST_CPUS
        lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
        lines += [f"cpu{n} 0 0 0 0 0 0 0 0 0 0" for n in range(cpus)]
        from ..syscalls.sys_time import CLOCK_BOOTTIME, NSEC_PER_SEC, clock_now_ns
        boot = (time.time_ns() - clock_now_ns(t, CLOCK_BOOTTIME)) // NSEC_PER_SEC    # timens too
        lines += ["intr 0", "ctxt 0", f"btime {boot}", f"processes {len(t.kernel.thread_groups)}",
                  "procs_running 1", "procs_blocked 0"]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _uptime(t):
        """CLOCK_BOOTTIME as the reader sees it, and the idle time of all CPUs, which the
        reader's time namespace does not shift. Linux truncates both to hundredths."""
        from ..syscalls.sys_time import CLOCK_BOOTTIME, clock_now_ns, sandbox_monotonic_ns
        up = clock_now_ns(t, CLOCK_BOOTTIME) // 10_000_000
        idle = sandbox_monotonic_ns(t.kernel) * HOST_CPUS // 10_000_000
        return f"{up // 100}.{up % 100:02} {idle // 100}.{idle % 100:02}\n"

    @staticmethod
    def _loadavg(t):
        return f"0.00 0.00 0.00 1/{len(t.kernel.tasks)} {max(t.kernel.tasks, default=1)}\n"


def _namespace_children(leader, tg):
    """/proc/<pid>/ns: `mnt` reads as mnt:[inode] and opens the namespace, for setns(2); so do
    `uts`, `ipc`, `cgroup`, `time` and `time_for_children`."""
    from .. import cgroupns, sysv_ipc, timens, utsns

    def link(namespace_of):
        return lambda: ProcSymlink(lambda t: namespace_of(leader()).link_target(), tg,
                                   jump=lambda t: namespace_of(leader()).ns_file_dentry())
    return {b"mnt": link(lambda task: task.fs.mntns), b"uts": link(utsns.of), b"ipc": link(sysv_ipc.namespace_of),
            b"cgroup": link(cgroupns.of), b"time": link(timens.of), b"time_for_children": link(timens.for_children)}


def _uptime_at(when, kernel):
    """CLOCK_BOOTTIME (before time namespaces) at host monotonic time `when`, in seconds."""
    from ..syscalls.sys_time import NSEC_PER_SEC, UPTIME_AT_BOOT_NS
    return when - kernel.boot_time + UPTIME_AT_BOOT_NS / NSEC_PER_SEC


def _boot_offset(reader):
    """CLOCK_BOOTTIME's offset in the reader's time namespace, in seconds (timens.py)."""
    namespace = getattr(reader, "time_ns", None)     # test stand-ins have none
    if namespace is None:
        return 0.0
    from ..timens import CLOCK_BOOTTIME
    return namespace.offset_ns(CLOCK_BOOTTIME) / 1e9


def _net_children():
    """/proc/<pid>/net: the sandbox's one network (procnet.py, imported when first read)."""
    from .procnet import net_children
    return net_children()


def _timens_offsets(leader, tg):
    from ..timens import OffsetsInode       # time namespaces: off the start-up path
    return OffsetsInode(leader, tg)


def _cgroup_line(reader, task):
    from ..cgroupns import render_proc_cgroup
    return render_proc_cgroup(reader, task)


def _sysvipc_children():
    """/proc/sysvipc: the SysV IPC objects of the reader's IPC namespace."""
    from ..sysv_ipc import render_proc
    return {kind.encode(): lambda kind=kind: ProcFile(lambda t: render_proc(t, kind)) for kind in ("msg", "sem", "shm")}


def cpuinfo(t):
    blocks = []
    for n in range(HOST_CPUS):
        blocks.append(f"processor\t: {n}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n"
                      f"model name\t: pysandbox virtual CPU\nstepping\t: 7\ncpu MHz\t\t: 2000.000\n"
                      f"cache size\t: 32768 KB\nphysical id\t: 0\nsiblings\t: {HOST_CPUS}\n"
                      f"core id\t\t: {n}\ncpu cores\t: {HOST_CPUS}\napicid\t\t: {n}\n"
                      f"fpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: 13\nwp\t\t: yes\n"
                      f"flags\t\t: {_CPU_FLAGS}\nbogomips\t: 4000.00\nclflush size\t: 64\n"
                      f"cache_alignment\t: 64\naddress sizes\t: 46 bits physical, 48 bits virtual\n"
                      f"power management:\n")
    return "\n".join(blocks) + "\n"


def meminfo(t):
    page = os.sysconf("SC_PAGE_SIZE")
    total_kb = os.sysconf("SC_PHYS_PAGES") * page // 1024
    free_kb = os.sysconf("SC_AVPHYS_PAGES") * page // 1024
    rows = [("MemTotal", total_kb), ("MemFree", free_kb), ("MemAvailable", free_kb), ("Buffers", 0),
            ("Cached", 0), ("SwapCached", 0), ("Active", 0), ("Inactive", 0), ("SwapTotal", 0),
            ("SwapFree", 0), ("Shmem", 0), ("Slab", 0), ("CommitLimit", total_kb), ("Committed_AS", 0),
            ("HugePages_Total", 0), ("HugePages_Free", 0), ("Hugepagesize", 2048)]
    return "".join(f"{name + ':':<16}{value:>8} kB\n" if not name.startswith("HugePages_")
                   else f"{name + ':':<16}{value:>8}\n" for name, value in rows)


def _process_memory(task_of, tg):
    from .procmem import ProcessMemory       # debuggers only: off the start-up path
    return ProcessMemory(task_of, tg)


def process_status(task, tg):
    from .. import seccomp_guest           # off the start-up path
    creds = task.creds
    parent = tg.parent.tgid if tg.parent is not None else 0
    state = "T (stopped)" if tg.stopped else "S (sleeping)"
    tracing = getattr(task, "ptrace", None)      # ptrace.Tracee while a task of the sandbox traces it
    if tracing is not None and tracing.stop is not None:
        state = "t (tracing stop)"
    return (f"Name:\t{(task.comm or os.path.basename(tg.exe))[:15]}\nUmask:\t{task.fs.umask:04o}\n"
            f"State:\t{state}\nTgid:\t{tg.tgid}\nNgid:\t0\nPid:\t{tg.tgid}\nPPid:\t{parent}\n"
            f"TracerPid:\t{tracing.tracer.tid if tracing is not None else 0}\n"
            f"Uid:\t{creds.uid}\t{creds.euid}\t{creds.suid}\t{creds.fsuid}\n"
            f"Gid:\t{creds.gid}\t{creds.egid}\t{creds.sgid}\t{creds.fsgid}\n"
            f"FDSize:\t64\nGroups:\t{' '.join(map(str, creds.groups))}\n"
            f"Threads:\t{len(tg.tasks)}\nSigPnd:\t{task.pending.signals:016x}\n"
            f"ShdPnd:\t{tg.pending.signals:016x}\nSigBlk:\t{task.sigmask:016x}\n"
            f"SigIgn:\t{_handler_mask(tg, lambda h: h == SIG_IGN):016x}\n"
            f"SigCgt:\t{_handler_mask(tg, lambda h: h not in (SIG_DFL, SIG_IGN)):016x}\n"
            f"CapInh:\t{creds.inheritable:016x}\nCapPrm:\t{creds.permitted:016x}\n"
            f"CapEff:\t{creds.effective:016x}\nCapBnd:\t{creds.bounding:016x}\n"
            f"CapAmb:\t{creds.ambient:016x}\nNoNewPrivs:\t{int(creds.no_new_privs)}\n"
            f"Seccomp:\t{seccomp_guest.mode_of(task)}\nSeccomp_filters:\t{seccomp_guest.filter_count(task)}\n")


def _handler_mask(tg, wanted):
    """Signals whose handler passes `wanted`, as a mask with bit signo-1 (SigIgn, SigCgt)."""
    return sum(1 << (signo - 1) for signo, action in enumerate(tg.sighand) if signo and wanted(action.handler))


def process_stat(task, tg, kernel, boot_offset=0.0):
    """/proc/<pid>/stat: the 52 fields of proc(5), those the sandbox does not track as 0;
    starttime as the reader's time namespace counts boot time (`boot_offset` seconds)."""
    parent = tg.parent.tgid if tg.parent is not None else 0
    comm = (task.comm or os.path.basename(tg.exe))[:15]
    state = "T" if tg.stopped else "S"
    ticks = os.sysconf("SC_CLK_TCK")
    start = int((_uptime_at(tg.start_time, kernel) + boot_offset) * ticks) if kernel is not None else 0
    pty = controlling_terminal(tg) if kernel is not None else None
    tty_nr, tpgid = (new_encode_dev(pty.rdev), pty.foreground or -1) if pty is not None else (0, -1)
    user, system = tg.cpu_times()
    fields = [tg.tgid, f"({comm})", state, parent, tg.pgid, tg.sid, tty_nr, tpgid, 0, 0, 0, 0, 0,
              int(user * ticks), int(system * ticks), 0, 0, 20, 0, len(tg.tasks), 0, start]
    fields += [0] * (52 - len(fields))
    return " ".join(map(str, fields)) + "\n"


def _as_bytes(value):
    return value if isinstance(value, bytes) else os.fsencode(value)
