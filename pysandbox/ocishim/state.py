"""Per-container state under --root: one directory per container id.

    ROOT/ID/state.json    what `state` prints, plus the sandbox process's start time
    ROOT/ID/control.sock  the sandbox process's control socket (see control.py)
    ROOT/ID/exit-status   the container's exit status, written as the sandbox process ends

The status is never stored: it is worked out from the sandbox process (alive or
not) and the `started`/`paused` flags the verbs record.
"""
import contextlib
import fcntl
import json
import os
import re

from pysandbox.sentry.errors import SandboxError

DEFAULT_ROOT = "/run/pysandbox"
XDG_ROOT_NAME = "pysandbox"          # the default root under $XDG_RUNTIME_DIR, as runc's is "runc"
OCI_VERSION = "1.0.2"
VALID_ID = re.compile(r"^[\w+\-.]+$")
RUNTIME_MARK = "pysandbox"        # in state.json: a --root shared with runc holds its containers too
CREATING, CREATED, RUNNING, PAUSED, STOPPED = "creating", "created", "running", "paused", "stopped"


class ContainerError(SandboxError):
    def __init__(self, message):
        super().__init__(message, 1)


def check_id(container_id):
    if not container_id or not VALID_ID.match(container_id) or container_id in (".", ".."):
        raise ContainerError(f"invalid container id {container_id!r}: use letters, digits, _ + - and .")
    return container_id


def running_in_user_namespace():
    """Whether this process is in a user namespace other than the host's first one."""
    try:
        with open("/proc/self/uid_map") as uid_map:
            return uid_map.read().split() != ["0", "0", "4294967295"]
    except OSError:
        return False


def default_root():
    """The --root used when none is given, as runc decides its own: $XDG_RUNTIME_DIR/pysandbox
    when XDG_RUNTIME_DIR is set and the caller is unprivileged (or root of a user namespace, other
    than USER=root), DEFAULT_ROOT otherwise."""
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if runtime_dir and (os.geteuid() != 0 or (os.environ.get("USER") != "root" and running_in_user_namespace())):
        return os.path.join(runtime_dir, XDG_ROOT_NAME)
    return DEFAULT_ROOT


def make_root(root):
    """Create --root if it is missing. Directly under $XDG_RUNTIME_DIR it is 0700 with the sticky
    bit (which keeps the XDG cleanup away), as runc makes its own; elsewhere 0711."""
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    private = bool(runtime_dir) and os.path.dirname(os.path.abspath(root)) == os.path.abspath(runtime_dir)
    try:
        os.makedirs(root, mode=0o700 if private else 0o711, exist_ok=True)
        if private:
            os.chmod(root, 0o1700)
    except OSError as error:
        hint = " (not root: set XDG_RUNTIME_DIR or give --root)" if os.geteuid() != 0 and root == DEFAULT_ROOT else ""
        raise ContainerError(f"--root {root}: {error.strerror.lower()}{hint}") from None


def now_rfc3339():
    import datetime
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def process_start_time(pid):
    """Field 22 of /proc/PID/stat (None if it is gone): tells a process from a later one with its pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


class Container:
    """One container's state directory."""

    def __init__(self, root, container_id):
        self.root = root
        self.id = container_id
        self.dir = os.path.join(root, container_id)
        self.control_path = os.path.join(self.dir, "control.sock")
        self.exit_status_path = os.path.join(self.dir, "exit-status")
        self.data = {}

    # -- loading ------------------------------------------------------------------
    @classmethod
    def load(cls, root, container_id):
        container = cls(root, check_id(container_id))
        try:
            with open(os.path.join(container.dir, "state.json")) as state:
                container.data = json.load(state)
        except FileNotFoundError:
            raise ContainerError(f"container {container_id} does not exist") from None
        except (OSError, ValueError) as error:
            raise ContainerError(f"container {container_id}: state unreadable ({error})") from None
        if not isinstance(container.data, dict) or container.data.get("runtime") != RUNTIME_MARK:
            raise ContainerError(f"container {container_id} is not a pysandbox container")
        return container

    @classmethod
    def all(cls, root):
        containers = []
        try:
            names = sorted(os.listdir(root))
        except FileNotFoundError:
            return containers
        for name in names:
            try:
                containers.append(cls.load(root, name))
            except ContainerError:
                continue
        return containers

    @classmethod
    def new(cls, root, container_id, bundle, rootfs, annotations):
        """Claim the id (an existing one is refused) and write the first state."""
        container = cls(root, check_id(container_id))
        make_root(root)
        try:
            os.mkdir(container.dir, 0o711)
        except FileExistsError:
            raise ContainerError(f"container with id {container_id} already exists") from None
        except OSError as error:
            raise ContainerError(f"{container.dir}: {error.strerror.lower()}") from None
        container.data = {"runtime": RUNTIME_MARK, "ociVersion": OCI_VERSION, "id": container_id, "pid": 0, "bundle": bundle,
                          "rootfs": rootfs, "created": now_rfc3339(), "owner": "",
                          "annotations": annotations, "started": False, "paused": False}
        container.save()
        return container

    def save(self):
        temporary = os.path.join(self.dir, ".state.json.tmp")
        with open(temporary, "w") as state:
            json.dump(self.data, state)
        os.replace(temporary, os.path.join(self.dir, "state.json"))

    def update(self, **changes):
        self.data.update(changes)
        self.save()

    def remove(self):
        import shutil
        shutil.rmtree(self.dir, ignore_errors=True)

    @contextlib.contextmanager
    def lock(self):
        """An exclusive lock on this container's state for the `with` block."""
        try:
            fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise ContainerError(f"container {self.id} does not exist") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    # -- what it is now ----------------------------------------------------------
    @property
    def pid(self):
        return self.data.get("pid", 0)

    def alive(self):
        pid = self.pid
        return bool(pid) and process_start_time(pid) == self.data.get("pidStartTime")

    @property
    def status(self):
        if not self.pid:
            return CREATING
        if not self.alive():
            return STOPPED
        if self.data.get("paused"):
            return PAUSED
        return RUNNING if self.data.get("started") else CREATED

    def exit_status(self):
        try:
            with open(self.exit_status_path) as status:
                return int(status.read().strip())
        except (OSError, ValueError):
            return None

    def state(self):
        """The OCI state object, as `state` prints it."""
        status = self.status
        return {"ociVersion": self.data["ociVersion"], "id": self.id, "status": status,
                "pid": self.pid if status not in (STOPPED, CREATING) else 0,
                "bundle": self.data["bundle"], "rootfs": self.data["rootfs"],
                "created": self.data["created"], "owner": self.data.get("owner", ""),
                "annotations": self.data.get("annotations") or {}}

    def require(self, verb, *allowed):
        status = self.status
        if status not in allowed:
            raise ContainerError(f"cannot {verb} container {self.id}: it is {status} "
                                 f"(needs {' or '.join(allowed)})")
        return status
