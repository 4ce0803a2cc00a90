"""Resource limits of a sandbox: pids and memory.

The sentry enforces the pids limit itself (clone/fork fail with EAGAIN past it, as under a
pids cgroup). Where the host offers cgroups (v2, or v1's memory and pids hierarchies), the
sandbox process moves into a cgroup of its own before it starts any stub, so that every
stub it ever makes is charged there too: the memory limit is enforced by the host kernel
(a stub over it is OOM-killed and the workload process sees SIGKILL, as in runc and runsc;
the sentry itself is never chosen), and the pids limit has a host backstop.
"""
import os
import re

from pysandbox.sentry.errors import SandboxError

CGROUP_ROOT = "/sys/fs/cgroup"
# Host threads of the sandbox that are not guest tasks: the sentry and the template stub.
HOST_PIDS_SLACK = 4
_SIZE = re.compile(r"^(\d+)([kmgt]?)(i?b)?$", re.IGNORECASE)


def parse_size(text):
    """'268435456', '256m', '256MiB', '1g' -> bytes; SandboxError for anything else."""
    match = _SIZE.match(text.strip())
    if not match:
        raise SandboxError(f"--memory-limit {text}: not a size (examples: 268435456, 256m, 1g)", 2)
    number, unit = int(match.group(1)), match.group(2).lower()
    size = number << {"": 0, "k": 10, "m": 20, "g": 30, "t": 40}[unit]
    if size < (4 << 20):
        raise SandboxError(f"--memory-limit {text}: at least 4 MiB", 2)
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

    @classmethod
    def create(cls, pids_limit=None, memory_limit=None):
        """A cgroup holding this process with the given limits, or None when the host has no
        usable cgroups (not root, no controllers): the sentry's own limits still apply."""
        if pids_limit is None and memory_limit is None:
            return None
        group = cls()
        try:
            if group._v2_available():
                group._v2(pids_limit, memory_limit)
            else:
                if memory_limit is not None:
                    group._v1("memory", {"memory.limit_in_bytes": memory_limit,
                                         "memory.memsw.limit_in_bytes": memory_limit})
                if pids_limit is not None:
                    group._v1("pids", {"pids.max": pids_limit + HOST_PIDS_SLACK})
        except OSError:
            group.close()
            return None
        import atexit
        atexit.register(group.close)         # also when the sandbox fails before it runs
        return group

    @staticmethod
    def _v2_available():
        try:
            with open(os.path.join(CGROUP_ROOT, "cgroup.controllers")) as controllers:
                return {"memory", "pids"} <= set(controllers.read().split())
        except OSError:
            return False

    def _v2(self, pids_limit, memory_limit):
        parent = os.path.join(CGROUP_ROOT, (_own_cgroup("") or "/").lstrip("/"))
        limits = {}
        if memory_limit is not None:
            limits.update({"memory.max": memory_limit, "memory.swap.max": 0})
        if pids_limit is not None:
            limits["pids.max"] = pids_limit + HOST_PIDS_SLACK
        self._enter(parent, limits)

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
        self.created.append((directory, os.path.join(parent, "cgroup.procs")))
        for name, value in limits.items():
            path = os.path.join(directory, name)
            if os.path.exists(path):          # memsw/swap files exist only with swap accounting
                with open(path, "w") as limit:
                    limit.write(str(value))
        with open(os.path.join(directory, "cgroup.procs"), "w") as procs:
            procs.write(str(os.getpid()))

    def oom_kills(self):
        """How many processes of the sandbox the host killed for going over the memory limit."""
        for directory, _parent in self.created:
            for name in ("memory.oom_control", "memory.events"):          # v1, v2
                try:
                    with open(os.path.join(directory, name)) as counters:
                        for line in counters:
                            key, _, value = line.partition(" ")
                            if key == "oom_kill":
                                return int(value)
                except OSError:
                    continue
        return 0

    def set_memory_limit(self, limit):
        """A new memory limit for the sandbox (this process and every stub); OSError if refused."""
        for directory, _parent in self.created:
            for name in ("memory.max", "memory.limit_in_bytes"):        # v2, v1
                path = os.path.join(directory, name)
                if os.path.exists(path):
                    with open(path, "w") as limit_file:
                        limit_file.write(str(limit))

    def close(self):
        """Leave the cgroups (every stub is gone by now) and remove them."""
        for directory, parent_procs in reversed(self.created):
            try:
                with open(parent_procs, "w") as procs:
                    procs.write(str(os.getpid()))
                _remove_directory(directory)
            except OSError:
                pass
        self.created = []


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
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as children:
                pids = children.read().split()
        except OSError:
            continue
        for pid in pids:
            try:
                with open(f"/proc/{pid}/oom_score_adj", "w") as adj:
                    adj.write("1000")
            except OSError:
                pass
