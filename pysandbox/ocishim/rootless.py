"""Containers without root, as runc's rootless mode has them (docs/OCI.md, "Without root").

An unprivileged caller needs config.json to ask for a user namespace with uid and gid mappings
(`pysandbox spec --rootless` writes one). The sandbox process enters it first, becomes root
there, and every other namespace it makes (and its pid namespace, mount namespace and chroot)
then belongs to it, as when root runs it. The workload's ids stay the sentry's own; the mapping
decides which host ids its files get. Cgroups are skipped when they can't be made, as runc's
rootless cgroup manager skips them, unless a limit needs one.
"""
import errno
import os

from pysandbox.ocishim.spec import SpecError
from pysandbox.ocishim.state import running_in_user_namespace
from pysandbox.sentry.errors import SandboxError

MAPPING_TOOLS = {"uid": "newuidmap", "gid": "newgidmap"}


# -- config.json's user namespace --------------------------------------------------------------------
def check_spec(spec):
    """runc's checks of a config.json with a user namespace, or of one an unprivileged caller
    runs; SpecError saying what is wrong."""
    if not spec.user_namespace:
        if os.geteuid() != 0:
            raise SpecError("rootless container requires user namespaces: add {\"type\": \"user\"} to "
                            "linux.namespaces, with linux.uidMappings and gidMappings "
                            "(`pysandbox spec --rootless` writes such a config.json)")
        if spec.uid_mappings or spec.gid_mappings:
            raise SpecError("linux.uidMappings/gidMappings are given, but linux.namespaces has no user namespace")
        return
    by_kind = {"uid": spec.uid_mappings, "gid": spec.gid_mappings}
    for kind, mappings in by_kind.items():
        if not mappings:
            raise SpecError(f"user namespaces enabled, but no {kind} mappings found (linux.{kind}Mappings)")
        if host_id(mappings, 0) is None:
            raise SpecError(f"linux.{kind}Mappings maps no container {kind} 0: the sandbox process is root "
                            f"of the container's user namespace")
        if os.geteuid() == 0:
            continue
        own = os.geteuid() if kind == "uid" else os.getegid()
        if host_id(mappings, 0) != own:
            raise SpecError(f"linux.{kind}Mappings must map container {kind} 0 to this user's {kind} {own}: the "
                            f"sandbox process runs as the container's root and keeps its state where this user does")
        if not maps_only(mappings, own) and not _installed(MAPPING_TOOLS[kind]):
            raise SpecError(f"linux.{kind}Mappings maps more than this user's own {kind} {own}: that needs "
                            f"{MAPPING_TOOLS[kind]} (Debian's uidmap package), which is not installed")
    check_process_ids(spec, spec.process, "process")
    for index, mount in enumerate(spec.mounts):
        for option in mount.options:
            name, _, value = option.partition("=")
            if name in by_kind and value.isdigit() and host_id(by_kind[name], int(value)) is None:
                raise SpecError(f"mounts[{index}] ({mount.destination}): cannot specify {option} mount option "
                                f"for a container whose user namespace doesn't map it")


def check_process_ids(spec, process, where):
    """A process's uid and gids must be mapped in the container's user namespace (runc: "cannot
    set uid to unmapped user in user namespace")."""
    if not spec.user_namespace:
        return
    if host_id(spec.uid_mappings, process.uid) is None:
        raise SpecError(f"cannot set uid to unmapped user in user namespace ({where}.user.uid {process.uid} "
                        f"is not in linux.uidMappings)")
    for gid in (process.gid, *process.additional_gids):
        if host_id(spec.gid_mappings, gid) is None:
            raise SpecError(f"cannot set gid to unmapped group in user namespace ({where}.user gid {gid} "
                            f"is not in linux.gidMappings)")


def _installed(tool):
    import shutil
    return shutil.which(tool) is not None


def host_id(mappings, container_id):
    """The host id `container_id` maps to, or None."""
    for mapping in mappings:
        mapped = mapping.host_of(container_id)
        if mapped is not None:
            return mapped
    return None


def maps_only(mappings, own_id):
    """Whether `mappings` is one line mapping `own_id` alone: what an unprivileged process may
    write itself (user_namespaces(7)); anything more needs newuidmap/newgidmap."""
    return len(mappings) == 1 and mappings[0].host_id == own_id and mappings[0].size == 1


def enter_user_namespace(spec):
    """Make this process root of a new user namespace with config.json's mappings. A process may
    write its own maps only for a single line of its own id (user_namespaces(7)): anything else
    is written from a helper left in the caller's namespace, as runc's parent writes them: by
    root directly, by anyone else through newuidmap/newgidmap (setuid root, checking
    /etc/subuid and /etc/subgid). SandboxError if the host refuses."""
    from pysandbox.security.confine import CLONE_NEWUSER
    from pysandbox.security.seccomp import libc
    privileged = os.geteuid() == 0
    own = {"uid": os.geteuid(), "gid": os.getegid()}
    maps = {"gid": spec.gid_mappings, "uid": spec.uid_mappings}
    by_self = {kind for kind, mappings in maps.items() if not privileged and maps_only(mappings, own[kind])}
    plans = [(kind, maps[kind]) for kind in maps if kind not in by_self]
    helper = _MappingHelper(plans, with_tool=not privileged) if plans else None
    if libc.unshare(CLONE_NEWUSER) != 0:
        error = libc.errno
        if helper is not None:
            helper.finish(go=False)
        reason = ("the host's user.max_user_namespaces is reached" if error == errno.ENOSPC
                  else os.strerror(error).lower())
        raise SandboxError(f"cannot make the container's user namespace: {reason}", 1)
    if helper is not None:
        helper.finish(go=True)
    try:
        for kind in maps:
            if kind in by_self:
                if kind == "gid":
                    _write_map(os.getpid(), "setgroups", "deny")
                _write_map(os.getpid(), f"{kind}_map", _map_text(maps[kind]))
    except OSError as error:
        raise SandboxError(f"cannot map the container's user namespace ids: {error.strerror.lower()}", 1) from None
    # Root of the namespace (container ids 0, which check_spec made sure are mapped), whatever
    # the caller's ids map to.
    if os.getegid() != 0 or os.geteuid() != 0:
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    try:
        os.setgroups([])
    except OSError:
        pass                          # refused after "deny": the caller's groups show as nobody's


def hand_over_state(container, spec):
    """The container's state directory, owned by whom the sandbox process is on the host (the
    host ids container root maps to): it makes its control socket and exit status there."""
    if os.geteuid() == 0:
        os.chown(container.dir, host_id(spec.uid_mappings, 0), host_id(spec.gid_mappings, 0))


def _map_text(mappings):
    return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in mappings)


def _write_map(pid, name, text):
    fd = os.open(f"/proc/{pid}/{name}", os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


class _MappingHelper:
    """A child forked before the unshare, so that it stays in the caller's user namespace. Told
    to go, it maps its parent's ids, each kind (uid, gid) written directly or, with the tool,
    by newuidmap/newgidmap PID ID HOST SIZE...; the first failure's message goes back through a
    pipe."""

    def __init__(self, plans, with_tool):
        import subprocess
        go_read, self._go = os.pipe2(os.O_CLOEXEC)
        self._result, result_write = os.pipe2(os.O_CLOEXEC)
        parent = os.getpid()
        self.pid = os.fork()
        if self.pid:
            os.close(go_read)
            os.close(result_write)
            return
        os.close(self._go)
        status = 1
        try:
            if os.read(go_read, 1) == b"g":
                for kind, mappings in plans:
                    if not with_tool:
                        _write_map(parent, f"{kind}_map", _map_text(mappings))
                        continue
                    words = [str(number) for m in mappings for number in (m.container_id, m.host_id, m.size)]
                    done = subprocess.run([MAPPING_TOOLS[kind], str(parent), *words], stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                    if done.returncode != 0:
                        lines = done.stderr.decode(errors="replace").strip().splitlines()
                        os.write(result_write, (lines[-1] if lines else f"{MAPPING_TOOLS[kind]} failed").encode())
                        os._exit(1)
                status = 0
        except OSError as error:
            os.write(result_write, (error.strerror or str(error)).lower().encode())
        finally:
            os._exit(status)

    def finish(self, go):
        """Let it map (go) or end it, wait for it, and raise SandboxError if mapping failed."""
        if go:
            os.write(self._go, b"g")
        os.close(self._go)
        message = os.read(self._result, 4096).decode(errors="replace")
        os.close(self._result)
        _, status = os.waitpid(self.pid, 0)
        if go and status != 0:
            raise SandboxError(f"cannot map the container's user namespace ids: {message or 'the helper failed'}", 1)


# -- cgroups ----------------------------------------------------------------------------------------
class CgroupRules:
    """What runc does when a cgroup can't be made, decided by the caller's ids (before a user
    namespace of the container's changes them). --rootless (true, false or auto): whether such a
    cgroup is skipped; auto: yes for an unprivileged caller or root of a user namespace, not with
    --systemd-cgroup."""

    def __init__(self, mode, systemd_cgroup=False):
        self.host_root = os.geteuid() == 0 and not running_in_user_namespace()
        if mode != "auto":
            self.rootless = mode == "true"
        else:
            self.rootless = not self.host_root and not systemd_cgroup

    def check(self, spec, host_cgroup):
        """After HostCgroup.create in the sandbox's namespaces: what runc refuses without a cgroup.
        A memory limit needs one (the sentry enforces the pids limit itself); not rootless, an
        unprivileged runtime must be able to make one even with no limit."""
        if host_cgroup is not None or spec.cgroups_path:
            return
        if self.host_root:            # as before, but a user namespace's root can't make a host cgroup
            if spec.memory_limit is not None and spec.user_namespace:
                raise SandboxError("a memory limit for a container with a user namespace is not supported: "
                                   "its sandbox process can't make a host cgroup", 1)
            return
        if spec.memory_limit is not None:
            raise SandboxError("cannot set memory limit: container could not join or create cgroup "
                               "(the host's cgroups are not delegated to this user)", 1)
        if not self.rootless and not _own_cgroups_writable():
            raise SandboxError("cannot create the container's cgroup: permission denied (--rootless=false; "
                               "--rootless=auto skips cgroups an unprivileged user can't make)", 1)


def _own_cgroups_writable():
    from pysandbox.security.limits import CGROUP_ROOT, _own_cgroup
    if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")):
        controllers = [""]
    else:
        controllers = [name for name in ("memory", "pids") if os.path.isdir(os.path.join(CGROUP_ROOT, name))]
    for controller in controllers:
        own = _own_cgroup(controller)
        if own is None or not os.access(os.path.join(CGROUP_ROOT, controller, own.lstrip("/")), os.W_OK):
            return False
    return True
