"""Resource limits of a sandbox: pids and memory.

The sentry enforces the pids limit itself (clone/fork fail with EAGAIN past it, as under a
pids cgroup). Where the host offers cgroups (v2, or v1's memory and pids hierarchies), the
sandbox process moves into a cgroup of its own before it starts any stub, so that every
stub it ever makes is charged there too: the memory limit is enforced by the host kernel
(a stub over it is OOM-killed and the workload process sees SIGKILL, as in runc and runsc;
the sentry itself is never chosen), and the pids limit has a host backstop.
"""
import os

from pysandbox.sentry.errors import SandboxError

CGROUP_ROOT = "/sys/fs/cgroup"
# Host threads of the sandbox that are not guest tasks: the sentry's parent on the host, the
# sentry, the template stub, the gofer.
HOST_PIDS_SLACK = 6
# cgroup v1 hierarchies a container (linux.cgroupsPath) joins, as runc does: Docker's stats read
# memory, cpu, cpuacct, blkio and pids.
V1_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct", "cpuset", "blkio", "freezer", "devices")


def parse_size(text, flag="--memory-limit", minimum=4 << 20):
    """'268435456', '256m', '256MiB', '1g' -> bytes; SandboxError (naming `flag`) for anything
    else, or for less than `minimum` bytes."""
    import re  # here, not at the top: `re` costs every `pysandbox do` ~2 ms, and few give a size
    match = re.match(r"^(\d+)([kmgt]?)(i?b)?$", text.strip(), re.IGNORECASE)
    if not match:
        raise SandboxError(f"{flag} {text}: not a size (examples: 268435456, 256m, 1g)", 2)
    number, unit = int(match.group(1)), match.group(2).lower()
    size = number << {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}[unit]
    if size < minimum:
        raise SandboxError(f"{flag} {text}: at least {minimum >> 20} MiB", 2)
    return size


def parse_pids(text):
    try:
        pids = int(text)
    except ValueError:
        pids = 0
    if pids < 1:
        raise SandboxError(f"--pids-limit {text}: a positive number of processes", 2)
    return pids


def _own_cgroup(controller):
    """This process's cgroup path for a v1 controller, or for v2 ("")."""
    with open("/proc/self/cgroup") as cgroups:
        for line in cgroups:
            _hierarchy, controllers, path = line.rstrip("\n").split(":", 2)
            if controller in controllers.split(","):
                return path
            if controller == "" and controllers == "":
                return path
    return None


class HostCgroup:
    """The sandbox's own host cgroups; `close` moves back out and removes them."""

    def __init__(self):
        self.created = []           # (directory, the cgroup.procs to go back to)
        self.made = []              # directories made for a cgroupsPath, removed deepest first
        self.directory_fds = []     # of the cgroups joined: limits change through them after the chroot
        self.owner = os.getpid()    # the process that removes them (not a child it forks)
        self.held = None            # hold_for_close's fds

    @classmethod
    def create(cls, pids_limit=None, memory_limit=None, path=None, cpu=None, systemd=False):
        """A cgroup holding this process with the given limits, or None when the host has no
        usable cgroups (not root, no controllers): the sentry's own limits still apply. With
        `path` (config.json's linux.cgroupsPath), that cgroup, placed by runc's rules."""
        if path:
            return cls._create_at(path, pids_limit, memory_limit, cpu or {}, systemd)
        if pids_limit is None and memory_limit is None:
            return None
        group = cls()
        try:
            if group._v2_available():
                group._v2(pids_limit, memory_limit)
            else:
                for controller in ("memory", "pids"):
                    limits = _v1_limits(controller, pids_limit, memory_limit, {})
                    if limits:
                        group._v1(controller, limits)
        except OSError:
            group.close()
            return None
        import atexit
        atexit.register(group.close)         # also when the sandbox fails before it runs
        return group

    @classmethod
    def _create_at(cls, path, pids_limit, memory_limit, cpu, systemd):
        if systemd:
            path = systemd_cgroup_path(path)
        group = cls()
        try:
            if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")):      # v2 only
                group._join(_placed(CGROUP_ROOT, _own_cgroup(""), path),
                            _v2_limits(pids_limit, memory_limit, cpu), CGROUP_ROOT)
            else:
                for controller in V1_CONTROLLERS:
                    base = os.path.join(CGROUP_ROOT, controller)
                    own = _own_cgroup(controller)
                    if os.path.isdir(base) and own is not None:
                        group._join(_placed(base, own, path), _v1_limits(controller, pids_limit, memory_limit, cpu),
                                    os.path.join(base, own.lstrip("/")))
        except OSError as error:
            group.close()
            raise SandboxError(f"linux.cgroupsPath {path}: {error.strerror or error}", 1) from None
        return group

    def _join(self, directory, limits, home):
        """Join `directory` (made if missing, limits written); `home`: the cgroup to go back to."""
        missing = []
        parent = directory
        while not os.path.isdir(parent):
            missing.append(parent)
            parent = os.path.dirname(parent)
        for made in reversed(missing):
            os.mkdir(made)
            self.made.append(made)
            _inherit_cpuset(made)
        self._hold(directory, limits, home)

    def _hold(self, directory, limits, home):
        """Write `limits` ((file, value) pairs) in cgroup `directory` and move this process there;
        `home`: the cgroup to go back to."""
        self.created.append((directory, os.path.join(home, "cgroup.procs")))
        self.directory_fds.append(os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
        for name, value in limits:
            path = os.path.join(directory, name)
            if os.path.exists(path):          # memsw/swap files exist only with swap accounting
                with open(path, "w") as limit:
                    limit.write(str(value))
        with open(os.path.join(directory, "cgroup.procs"), "w") as procs:
            procs.write(str(os.getpid()))

    @staticmethod
    def _v2_available():
        try:
            with open(os.path.join(CGROUP_ROOT, "cgroup.controllers")) as controllers:
                return {"memory", "pids"} <= set(controllers.read().split())
        except OSError:
            return False

    def _v2(self, pids_limit, memory_limit):
        parent = os.path.join(CGROUP_ROOT, (_own_cgroup("") or "/").lstrip("/"))
        self._enter(parent, _v2_limits(pids_limit, memory_limit, {}))

    def _v1(self, controller, limits):
        base = os.path.join(CGROUP_ROOT, controller)
        if not os.path.isdir(base):
            return
        own = _own_cgroup(controller)
        if own is None:
            return
        self._enter(os.path.join(base, own.lstrip("/")), limits)

    def _enter(self, parent, limits):
        _remove_stale(parent)
        directory = os.path.join(parent, f"pysandbox-{os.getpid()}")
        os.mkdir(directory)
        self._hold(directory, limits, parent)

    def oom_kills(self):
        """How many processes of the sandbox the host killed for going over the memory limit."""
        for counters in self.hold_for_close().oom_counters:
            try:
                text = os.pread(counters, 4096, 0).decode()
            except OSError:
                continue
            for line in text.splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        return 0

    def hold_for_close(self):
        """Open now what oom_kills and close need, so that they make no path-based call later (the
        outer process's seccomp filter allows none): a HeldForClose, opened once."""
        if self.held is None:
            self.held = HeldForClose(self)
        return self.held

    def set_memory_limit(self, limit):
        """A new memory limit for the sandbox (this process and every stub); OSError if refused.
        Through the cgroups' fds: the sandbox process may be chrooted by now."""
        for directory_fd in self.directory_fds:
            # v1 refuses a memory limit above memory+swap's: raising, memsw goes first
            for name in ("memory.max", "memory.memsw.limit_in_bytes", "memory.limit_in_bytes",
                         "memory.memsw.limit_in_bytes"):
                try:
                    limit_fd = os.open(name, os.O_WRONLY | os.O_CLOEXEC, dir_fd=directory_fd)
                except FileNotFoundError:
                    continue
                try:
                    os.write(limit_fd, str(limit).encode())
                except OSError:
                    if name != "memory.memsw.limit_in_bytes":
                        raise
                finally:
                    os.close(limit_fd)

    def close(self):
        """Leave the cgroups (every stub is gone by now) and remove them; only in the process
        that made them."""
        if os.getpid() != self.owner:
            return
        held = self.hold_for_close()
        for (directory, _parent_procs), procs in reversed(list(zip(self.created, held.parent_procs))):
            try:
                os.write(procs, held.pid)
                if not self.made:
                    held.remove(directory)
            except (OSError, TypeError):         # TypeError: cgroup.procs could not be opened
                pass
        for made in reversed(self.made):
            try:
                held.remove(made)
            except OSError:
                pass
        for directory_fd in self.directory_fds:
            os.close(directory_fd)
        held.close()
        self.created, self.made, self.directory_fds, self.held = [], [], [], None


class HeldForClose:
    """A HostCgroup's fds for its end, opened at once: the OOM-kill counters, the cgroup.procs
    of each cgroup to go back to, the parent of each directory to remove (rmdir through
    unlinkat). A file that can't be opened is left out (None in parent_procs)."""

    def __init__(self, cgroup):
        self.pid = str(os.getpid()).encode()
        self.oom_counters = []
        for directory, _parent_procs in cgroup.created:
            for name in ("memory.oom_control", "memory.events"):          # v1, v2
                try:
                    self.oom_counters.append(os.open(os.path.join(directory, name), os.O_RDONLY | os.O_CLOEXEC))
                except OSError:
                    pass
        self.parent_procs = []
        for _directory, parent_procs in cgroup.created:
            try:
                self.parent_procs.append(os.open(parent_procs, os.O_WRONLY | os.O_CLOEXEC))
            except OSError:
                self.parent_procs.append(None)
        self.parents = {}
        removed = cgroup.made or [directory for directory, _ in cgroup.created]
        for parent in {os.path.dirname(directory) for directory in removed}:
            try:
                self.parents[parent] = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except OSError:
                pass

    def write_fds(self):
        return [fd for fd in self.parent_procs if fd is not None]

    def removal_needs_dac_override(self):
        """Whether a directory to remove is in one its owner, root, can't write to: a cgroup v1
        hierarchy's root is mode 0555, so removing a cgroup made there needs CAP_DAC_OVERRIDE."""
        for fd in self.parents.values():
            status = os.fstat(fd)
            if status.st_uid != os.geteuid() or not status.st_mode & 0o200:
                return True
        return False

    def remove(self, directory):
        """rmdir(directory) through its parent's held fd: unlinkat(AT_REMOVEDIR)."""
        parent = self.parents.get(os.path.dirname(directory))
        if parent is None:
            raise FileNotFoundError(directory)
        os.rmdir(os.path.basename(directory), dir_fd=parent)

    def close(self):
        for fd in self.oom_counters + self.write_fds() + list(self.parents.values()):
            os.close(fd)
        self.oom_counters, self.parent_procs, self.parents = [], [], {}


def systemd_cgroup_path(path):
    """runc's --systemd-cgroup form "slice:prefix:name" -> "/<slice path>/<prefix>-<name>.scope";
    a slice a-b.slice sits in a.slice, as systemd nests them."""
    parts = path.split(":")
    if len(parts) != 3 or not parts[2]:
        raise SandboxError(f"linux.cgroupsPath {path!r}: with --systemd-cgroup it must be slice:prefix:name", 1)
    slice_name, prefix, name = parts
    slice_name = slice_name or "system.slice"
    words = slice_name.removesuffix(".slice").split("-")
    slices = [] if slice_name == "-.slice" else ["-".join(words[:i + 1]) + ".slice" for i in range(len(words))]
    return "/" + "/".join(slices + [f"{prefix}-{name}.scope" if prefix else f"{name}.scope"])


def _placed(base, own, path):
    """runc's rule: an absolute cgroupsPath is below the hierarchy's root, a relative one below
    the caller's own cgroup."""
    if path.startswith("/"):
        return os.path.normpath(base + "/" + path.lstrip("/"))
    return os.path.normpath(os.path.join(base, (own or "/").lstrip("/"), path))


def _v1_limits(controller, pids_limit, memory_limit, cpu):
    """(file, value) pairs for one v1 hierarchy, in the order they must be written."""
    if controller == "memory" and memory_limit is not None:
        return [("memory.limit_in_bytes", memory_limit), ("memory.memsw.limit_in_bytes", memory_limit)]
    if controller == "pids" and pids_limit is not None:
        return [("pids.max", pids_limit + HOST_PIDS_SLACK)]
    if controller == "cpu":
        return [(f"cpu.{name}", cpu[key]) for key, name in (("shares", "shares"), ("period", "cfs_period_us"),
                                                              ("quota", "cfs_quota_us")) if key in cpu]
    return []


def _v2_limits(pids_limit, memory_limit, cpu):
    limits = []
    if memory_limit is not None:
        limits += [("memory.max", memory_limit), ("memory.swap.max", 0)]
    if pids_limit is not None:
        limits.append(("pids.max", pids_limit + HOST_PIDS_SLACK))
    if "shares" in cpu:                  # runc's conversion of shares (2..262144) to a weight
        limits.append(("cpu.weight", 1 + ((max(cpu["shares"], 2) - 2) * 9999) // 262142))
    if "quota" in cpu:
        limits.append(("cpu.max", f"{cpu['quota']} {cpu.get('period', 100000)}"))
    return limits


def _inherit_cpuset(directory):
    """A new v1 cpuset cgroup starts with no CPUs and no memory nodes: its parent's, as runc copies them."""
    for name in ("cpuset.cpus", "cpuset.mems"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            with open(path) as own:
                if own.read().strip():
                    continue
            with open(os.path.join(os.path.dirname(directory), name)) as parent, open(path, "w") as own:
                own.write(parent.read().strip())


def _remove_directory(path):
    """rmdir through unlinkat(AT_REMOVEDIR), a call the sentry's filter already allows."""
    parent = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.rmdir(os.path.basename(path), dir_fd=parent)
    finally:
        os.close(parent)


def _remove_stale(parent):
    """The cgroups of sandboxes whose sentry was killed (an empty cgroup is all that is left)."""
    for name in os.listdir(parent):
        if name.startswith("pysandbox-") and name[10:].isdigit() and not os.path.exists(f"/proc/{name[10:]}"):
            try:
                _remove_directory(os.path.join(parent, name))
            except OSError:
                pass


def protect_sentry_from_oom_killer():
    """Over the memory limit, the host kernel must kill a stub (the workload's process), not the
    sentry: it keeps the sandbox's state and reports the workload's death. Lowering the sentry's
    own oom_score_adj needs CAP_SYS_RESOURCE, so its stubs' is raised instead; called once the
    template stub exists, since every later stub is a fork of it and inherits its score."""
    from pysandbox.security.hostproc import children_of, open_proc
    for pid in children_of(os.getpid()):     # os.getpid(): as the sandbox's /proc (hostproc) numbers it
        try:
            adj = open_proc(f"{pid}/oom_score_adj", os.O_WRONLY)
        except OSError:
            continue
        try:
            os.write(adj, b"1000")
        except OSError:
            pass
        finally:
            os.close(adj)
