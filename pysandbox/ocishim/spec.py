"""config.json: read a bundle's OCI runtime spec, check it, and turn it into what the sandbox needs.

Every field the sandbox can honour is translated here; a field it cannot honour
is refused with a sentence naming the field. Unknown fields are ignored, as the
spec asks of runtimes.
"""
import json
import os
from dataclasses import dataclass, field

from pysandbox.sentry.credentials import CAPABILITY_NUMBERS, capability_mask
from pysandbox.sentry.errors import SandboxError
from pysandbox.sentry.sysctl import namespace_problem, value_problem

SPEC_FAILURE = 1
SUPPORTED_MAJOR = 1
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# The namespaces the sandbox process can be given on the host (unshare(2) flags).
HOST_NAMESPACES = {"network": 0x40000000, "uts": 0x04000000, "ipc": 0x08000000,
                   "mount": 0x00020000, "cgroup": 0x02000000}
# The sentry itself provides these to the workload: its pids and users are always its own. A
# "user" namespace also gives the sandbox process a host user namespace with linux.uidMappings and
# gidMappings (ocishim/rootless.py), which is how an unprivileged caller gets one.
SENTRY_NAMESPACES = {"pid", "user", "time"}

HOOK_KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")

# Linux's resource numbers (include/uapi/asm-generic/resource.h), in order.
RLIMITS = {f"RLIMIT_{name}": number for number, name in enumerate(
    ("CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE", "MEMLOCK", "AS", "LOCKS",
     "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"))}
CAPABILITY_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


class SpecError(SandboxError):
    def __init__(self, message):
        super().__init__(message, SPEC_FAILURE)


@dataclass
class Process:
    """process (or an exec's --process file): what to run and as whom."""
    args: list
    env: list
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    additional_gids: list = field(default_factory=list)
    umask: int = 0o022
    terminal: bool = False
    console_size: tuple = None          # (height, width)
    rlimits: dict = field(default_factory=dict)   # resource -> (soft, hard)
    capabilities: dict = None           # set name -> capability mask; None: not configured (all kept)
    no_new_privileges: bool = False
    oom_score_adj: int = None


@dataclass
class Mount:
    destination: str
    type: str
    source: str
    options: list


@dataclass
class IdMapping:
    """One line of a user namespace's uid_map or gid_map (user_namespaces(7))."""
    container_id: int
    host_id: int
    size: int

    def host_of(self, container_id):
        """The host id `container_id` maps to through this line, or None."""
        offset = container_id - self.container_id
        return self.host_id + offset if 0 <= offset < self.size else None


@dataclass
class Hook:
    path: str
    args: list
    env: list
    timeout: float = None


@dataclass
class ContainerSpec:
    bundle: str
    oci_version: str
    process: Process
    root_path: str
    root_readonly: bool
    hostname: str = None
    domainname: str = None
    mounts: list = field(default_factory=list)
    namespaces: list = field(default_factory=list)     # (unshare flag, path or None)
    user_namespace: bool = False                        # linux.namespaces has a (fresh) user namespace
    uid_mappings: list = field(default_factory=list)    # [IdMapping] of linux.uidMappings
    gid_mappings: list = field(default_factory=list)
    masked_paths: list = field(default_factory=list)
    readonly_paths: list = field(default_factory=list)
    sysctl: dict = field(default_factory=dict)
    pids_limit: int = None
    memory_limit: int = None
    cgroups_path: str = None                            # linux.cgroupsPath, as config.json has it
    cpu: dict = field(default_factory=dict)             # linux.resources.cpu: shares, quota, period
    hooks: dict = field(default_factory=dict)           # kind -> [Hook]
    annotations: dict = field(default_factory=dict)


def load_bundle(bundle):
    """The ContainerSpec of bundle directory `bundle`, or SpecError saying what is wrong."""
    bundle = os.path.abspath(bundle)
    if not os.path.isdir(bundle):
        raise SpecError(f"bundle {bundle}: no such directory")
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as config:
            raw = config.read()
    except FileNotFoundError:
        raise SpecError(f"bundle {bundle}: config.json not found") from None
    except OSError as error:
        raise SpecError(f"{path}: {error.strerror.lower()}") from None
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise SpecError(f"{path}: invalid JSON: {error}") from None
    return parse_spec(document, bundle)


def parse_spec(document, bundle):
    _check_type(document, dict, "config.json")
    version = _check_oci_version(document.get("ociVersion"))
    process = parse_process(_required(document, "process", dict, "config.json"), "process")
    root = _required(document, "root", dict, "config.json")
    root_path = _required(root, "path", str, "root")
    if not os.path.isabs(root_path):
        root_path = os.path.join(bundle, root_path)
    if not os.path.isdir(root_path):
        raise SpecError(f"root.path {root_path}: rootfs directory not found")
    linux = _optional(document, "linux", dict, "config.json", {})
    spec = ContainerSpec(
        bundle=bundle, oci_version=version, process=process, root_path=root_path,
        root_readonly=bool(_optional(root, "readonly", bool, "root", False)),
        hostname=_optional(document, "hostname", str, "config.json"),
        domainname=_optional(document, "domainname", str, "config.json"),
        mounts=[_parse_mount(m, i) for i, m in enumerate(_optional(document, "mounts", list, "config.json", []))],
        hooks=_parse_hooks(_optional(document, "hooks", dict, "config.json", {})),
        annotations=_parse_annotations(_optional(document, "annotations", dict, "config.json", {})),
    )
    _parse_linux(linux, spec)
    return spec


def parse_process(data, where):
    """A `process` object (config.json's, or the one `exec --process` reads)."""
    _check_type(data, dict, where)
    args = _required(data, "args", list, where)
    if not args or not all(isinstance(a, str) for a in args):
        raise SpecError(f"{where}.args must be a non-empty list of strings")
    env = _optional(data, "env", list, where, [])
    for item in env:
        if not isinstance(item, str) or "=" not in item:
            raise SpecError(f"{where}.env: {item!r} is not KEY=VALUE")
    cwd = _optional(data, "cwd", str, where, "/")
    if not cwd.startswith("/"):
        raise SpecError(f"{where}.cwd {cwd!r} must be an absolute path")
    user = _optional(data, "user", dict, where, {})
    uid = _id(user.get("uid", 0), f"{where}.user.uid")
    gid = _id(user.get("gid", 0), f"{where}.user.gid")
    groups = [_id(g, f"{where}.user.additionalGids") for g in _optional(user, "additionalGids", list, "user", [])]
    if "username" in user and "uid" not in user:
        raise SpecError(f"{where}.user.username is not supported: give a numeric uid")
    umask = _optional(user, "umask", int, f"{where}.user", 0o022)
    if not 0 <= umask <= 0o777:
        raise SpecError(f"{where}.user.umask {umask} is out of range")
    console = _optional(data, "consoleSize", dict, where)
    console_size = None
    if console is not None:
        console_size = (_id(console.get("height", 0), "consoleSize.height"),
                        _id(console.get("width", 0), "consoleSize.width"))
    process = Process(
        args=list(args), env=list(env), cwd=cwd, uid=uid, gid=gid, additional_gids=groups, umask=umask,
        terminal=bool(_optional(data, "terminal", bool, where, False)), console_size=console_size,
        rlimits=_parse_rlimits(_optional(data, "rlimits", list, where, []), where),
        capabilities=_parse_capabilities(_optional(data, "capabilities", dict, where), where),
        no_new_privileges=bool(_optional(data, "noNewPrivileges", bool, where, False)),
        oom_score_adj=_optional(data, "oomScoreAdj", int, where))
    if process.oom_score_adj is not None and not -1000 <= process.oom_score_adj <= 1000:
        raise SpecError(f"{where}.oomScoreAdj {process.oom_score_adj} is out of range (-1000..1000)")
    # apparmorProfile and selinuxLabel are host LSM labels: the sentry is the workload's boundary,
    # as with runsc, so they are ignored
    return process


def _check_oci_version(version):
    if not isinstance(version, str) or not version:
        raise SpecError("config.json: ociVersion is missing")
    parts = version.split("-", 1)[0].split(".")
    try:
        major, minor = int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        raise SpecError(f"config.json: ociVersion {version!r} is not a version") from None
    if major != SUPPORTED_MAJOR or minor < 0:
        raise SpecError(f"config.json: ociVersion {version} is not supported (1.0.0 up to 1.x)")
    return version


def _parse_rlimits(items, where):
    limits = {}
    for item in items:
        _check_type(item, dict, f"{where}.rlimits[]")
        name = item.get("type")
        if name not in RLIMITS:
            raise SpecError(f"{where}.rlimits: unknown type {name!r}")
        soft, hard = item.get("soft"), item.get("hard")
        if not isinstance(soft, int) or not isinstance(hard, int) or soft < 0 or hard < 0:
            raise SpecError(f"{where}.rlimits {name}: soft and hard must be non-negative integers")
        if soft > hard:
            raise SpecError(f"{where}.rlimits {name}: soft limit {soft} is above hard limit {hard}")
        limits[RLIMITS[name]] = (soft, hard)
    return limits


def _parse_capabilities(caps, where):
    """Each set's mask. As runc does, names this kernel model does not know are ignored."""
    if caps is None:
        return None
    parsed = {}
    for name in CAPABILITY_SETS:
        values = _optional(caps, name, list, f"{where}.capabilities", [])
        for value in values:
            if not isinstance(value, str) or not value.startswith("CAP_"):
                raise SpecError(f"{where}.capabilities.{name}: {value!r} is not a capability name")
        parsed[name] = capability_mask(value for value in values if value in CAPABILITY_NUMBERS)
    return parsed


def _parse_mount(item, index):
    where = f"mounts[{index}]"
    _check_type(item, dict, where)
    destination = _required(item, "destination", str, where)
    if not destination.startswith("/"):
        raise SpecError(f"{where}.destination {destination!r} must be an absolute path")
    options = _optional(item, "options", list, where, [])
    if not all(isinstance(o, str) for o in options):
        raise SpecError(f"{where}.options must be strings")
    kind = _optional(item, "type", str, where, "")
    if kind in ("", "none") and ("bind" in options or "rbind" in options):
        kind = "bind"
    source = _optional(item, "source", str, where, kind)
    if kind == "bind":
        if not os.path.isabs(source):
            raise SpecError(f"{where} ({destination}): bind source {source!r} must be an absolute path")
        if not os.path.exists(source):
            raise SpecError(f"{where} ({destination}): bind source {source} does not exist")
    return Mount(destination, kind, source, list(options))


def _parse_hooks(hooks):
    parsed = {}
    for kind in HOOK_KINDS:
        entries = _optional(hooks, kind, list, "hooks", [])
        parsed[kind] = []
        for i, entry in enumerate(entries):
            where = f"hooks.{kind}[{i}]"
            _check_type(entry, dict, where)
            path = _required(entry, "path", str, where)
            if not os.path.isabs(path):
                raise SpecError(f"{where}.path {path!r} must be an absolute path")
            timeout = _optional(entry, "timeout", int, where)
            if timeout is not None and timeout <= 0:
                raise SpecError(f"{where}.timeout must be positive")
            parsed[kind].append(Hook(path, list(_optional(entry, "args", list, where, [path])),
                                     list(_optional(entry, "env", list, where, [])), timeout))
    return parsed


def _parse_annotations(annotations):
    for key, value in annotations.items():
        if not isinstance(value, str):
            raise SpecError(f"annotations.{key} must be a string")
    return dict(annotations)


def _parse_linux(linux, spec):
    for i, ns in enumerate(_optional(linux, "namespaces", list, "linux", [])):
        _check_type(ns, dict, f"linux.namespaces[{i}]")
        kind, path = ns.get("type"), ns.get("path") or None
        if kind in SENTRY_NAMESPACES:
            if kind == "user":
                spec.user_namespace = True
            if path:
                raise SpecError(f"linux.namespaces: joining an existing {kind} namespace ({path}) is not "
                                f"supported: the sandbox's {kind}s are the sentry's own")
            continue
        if kind not in HOST_NAMESPACES:
            raise SpecError(f"linux.namespaces: unknown namespace type {kind!r}")
        if path is not None and not os.path.exists(path):
            raise SpecError(f"linux.namespaces: {kind} namespace path {path} does not exist")
        spec.namespaces.append((kind, path))
    spec.uid_mappings = _parse_id_mappings(linux, "uidMappings")
    spec.gid_mappings = _parse_id_mappings(linux, "gidMappings")
    spec.masked_paths = [p for p in _optional(linux, "maskedPaths", list, "linux", []) if isinstance(p, str)]
    spec.readonly_paths = [p for p in _optional(linux, "readonlyPaths", list, "linux", []) if isinstance(p, str)]
    sysctl = _optional(linux, "sysctl", dict, "linux", {})
    namespace_types = {kind for kind, path in spec.namespaces if not _is_host_namespace(kind, path)}
    for key, value in sysctl.items():
        if not isinstance(value, str):
            raise SpecError(f"linux.sysctl.{key} must be a string")
        problem = namespace_problem(key, namespace_types) or value_problem(key, value)
        if problem:
            raise SpecError(f"linux.sysctl: {problem}")
    spec.sysctl = dict(sysctl)
    resources = _optional(linux, "resources", dict, "linux", {})
    spec.pids_limit, spec.memory_limit = parse_resources(resources)
    spec.cgroups_path = _optional(linux, "cgroupsPath", str, "linux") or None
    cpu = _optional(resources, "cpu", dict, "linux.resources", {})
    for name in ("shares", "quota", "period"):
        if cpu.get(name) is not None and not isinstance(cpu[name], int):
            raise SpecError(f"linux.resources.cpu.{name} must be an integer")
    spec.cpu = {name: cpu[name] for name in ("shares", "quota", "period") if cpu.get(name)}
    for i, device in enumerate(_optional(linux, "devices", list, "linux", [])):
        _check_type(device, dict, f"linux.devices[{i}]")
        if device.get("type") not in ("c", "b", "u", "p"):
            raise SpecError(f"linux.devices[{i}]: type must be c, b, u or p")


def _parse_id_mappings(linux, key):
    mappings = []
    for i, item in enumerate(_optional(linux, key, list, "linux", [])):
        where = f"linux.{key}[{i}]"
        _check_type(item, dict, where)
        mapping = IdMapping(*(_id(item.get(name), f"{where}.{name}") for name in ("containerID", "hostID", "size")))
        if mapping.size == 0:
            raise SpecError(f"{where}.size must be at least 1")
        mappings.append(mapping)
    return mappings


def _is_host_namespace(kind, path):
    """Whether joining namespace `path` means staying in this host's own (Docker passes the
    host's network namespace by path for --network=host)."""
    if path is None:
        return False
    proc_name = {"network": "net", "mount": "mnt"}.get(kind, kind)
    try:
        joined, own = os.stat(path), os.stat(f"/proc/self/ns/{proc_name}")
    except OSError:
        return False
    return (joined.st_dev, joined.st_ino) == (own.st_dev, own.st_ino)


def parse_resources(resources):
    """(pids limit, memory limit in bytes) from a LinuxResources object; None where unset or unlimited."""
    _check_type(resources, dict, "resources")
    pids = (resources.get("pids") or {}).get("limit")
    memory = (resources.get("memory") or {}).get("limit")
    for name, value in (("pids.limit", pids), ("memory.limit", memory)):
        if value is not None and not isinstance(value, int):
            raise SpecError(f"resources.{name} must be an integer")
    return (pids if pids and pids > 0 else None), (memory if memory and memory > 0 else None)


def default_spec(args=("sh",), rootless=False):
    """The config.json `spec` writes: runc's defaults, for a rootfs in ./rootfs. `rootless` (runc's
    `spec --rootless`): a user namespace mapping root to the caller's ids, the host's network (an
    unprivileged user has no way to connect a new one), and no devpts gid the mapping lacks."""
    namespaces = ["pid", "network", "ipc", "uts", "mount"]
    if rootless:
        namespaces = [name for name in namespaces if name != "network"] + ["user"]
    spec = {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": True, "user": {"uid": 0, "gid": 0}, "args": list(args),
            "env": [DEFAULT_PATH, "TERM=xterm"], "cwd": "/",
            "capabilities": {name: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
                             for name in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "pysandbox",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": name} for name in namespaces],
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }
    if rootless:
        spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": os.geteuid(), "size": 1}]
        spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": os.getegid(), "size": 1}]
        devpts = next(mount for mount in spec["mounts"] if mount["type"] == "devpts")
        devpts["options"].remove("gid=5")
    return spec


def _id(value, where):
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 32:
        raise SpecError(f"{where} must be an integer from 0 to 4294967295")
    return value


def _check_type(value, kind, where):
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = {dict: "an object", list: "a list", str: "a string", bool: "true or false", int: "an integer"}
        raise SpecError(f"{where} must be {names[kind]}")


def _required(data, key, kind, where):
    if key not in data:
        raise SpecError(f"{where}: {key} is missing")
    _check_type(data[key], kind, f"{where}.{key}")
    return data[key]


def _optional(data, key, kind, where, default=None):
    if data.get(key) is None:
        return default
    _check_type(data[key], kind, f"{where}.{key}")
    return data[key]
