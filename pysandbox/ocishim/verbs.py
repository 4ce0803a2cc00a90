"""The OCI verbs, each checked against the container's state the way runc checks it."""
import json
import os
import re
import signal
import sys
import time

from pysandbox.ocishim import control
from pysandbox.ocishim.hooks import run_hooks
from pysandbox.ocishim.state import (CREATED, PAUSED, RUNNING, STOPPED, Container, ContainerError,
                                     process_start_time)
from pysandbox.sentry.errors import SandboxError

STOP_TIMEOUT = 10.0
EXEC_FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                          signal.SIGUSR2, signal.SIGWINCH, signal.SIGCONT, signal.SIGTSTP)


def run(args, log):
    return VERBS[args.verb](args, log)


# -- create, start, run -----------------------------------------------------------------------------------
def create(args, log, foreground=False):
    from pysandbox.ocishim.rootless import check_spec, hand_over_state
    from pysandbox.ocishim.spec import SpecError, load_bundle
    spec = load_bundle(args.bundle)
    check_spec(spec)
    terminal = spec.process.terminal
    if terminal and not args.console_socket and not foreground:
        raise SpecError("process.terminal is true in config.json: --console-socket is required")
    if args.console_socket and not terminal:
        raise SpecError("--console-socket was given but process.terminal is false in config.json")
    if args.preserve_fds < 0:
        raise SandboxError("--preserve-fds must not be negative", 2)
    container = Container.new(args.root, args.id, spec.bundle, spec.root_path, spec.annotations)
    pid = 0
    try:
        if spec.user_namespace:
            hand_over_state(container, spec)
        container.data["hooks"] = {kind: [vars(h) for h in spec.hooks[kind]]
                                   for kind in ("startContainer", "poststart", "poststop")}
        container.save()
        launch = _launch_sandbox(container, spec, args, log, terminal and args.console_socket)
        pid = launch.pid
        container.update(pid=pid, pidStartTime=process_start_time(pid))
        # The sandbox process has its namespaces (what hooks such as Docker's network setup act
        # on) and builds the sentry while they run.
        state = dict(container.state(), status="creating")
        try:
            for kind in ("prestart", "createRuntime", "createContainer"):
                run_hooks(kind, [vars(h) for h in spec.hooks[kind]], state, log)
        except ContainerError:
            launch.wait()            # a hook fails when the sandbox did: the sandbox's reason comes first
            raise
        launch.wait()
        if args.pid_file:
            _write_pid_file(args.pid_file, pid)
    except BaseException:
        if pid:
            _kill_sandbox(pid)
        container.remove()
        raise
    return container, pid


def _launch_sandbox(container, spec, args, log, console_socket):
    """Fork the sandbox process; returns its Launch once its namespaces exist (then wait() for the rest)."""
    return Launch(lambda ready: _sandbox_main(container, spec, args, log, console_socket, ready),
                  "the sandbox process died while starting")


class Readiness:
    """The pipe on which a forked helper says how far it got: lines "ok[ DETAIL]", or "error:MESSAGE"."""

    def __init__(self, fd):
        self.fd = fd

    def say(self, line, last=False):
        if self.fd is None:
            return
        try:
            os.write(self.fd, line.replace("\n", " ").encode() + b"\n")
        except OSError:
            pass
        if last:
            os.close(self.fd)
            self.fd = None

    def fail(self, message):
        self.say("error:" + message, last=True)


class Launch:
    """Fork a process that runs child(Readiness) and exits with what it returns; a failure it raises
    before it is ready goes back as its message. The constructor returns after the child's first
    "ok" line; wait() waits for the next. Either raises ContainerError with the child's message."""

    def __init__(self, child, died_message):
        ready_read, ready_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(ready_read)
            readiness = Readiness(ready_write)
            status = 1
            try:
                status = child(readiness)
            except SandboxError as error:
                readiness.fail(str(error))
            except BaseException as error:  # never a traceback: the message goes to the caller
                readiness.fail(f"internal error: {type(error).__name__}: {error}")
            finally:
                os._exit(status)
        os.close(ready_write)
        self.pid = pid
        self.died_message = died_message
        self._pipe = os.fdopen(ready_read, "rb")
        self.detail = self.wait()

    def wait(self):
        line = self._pipe.readline().decode(errors="replace").rstrip("\n")
        if line == "ok" or line.startswith("ok "):
            return line[3:]
        self._pipe.close()
        os.waitpid(self.pid, 0)
        raise ContainerError(line.removeprefix("error:") or self.died_message)


def _sandbox_main(container, spec, args, log, console_socket, ready):
    """The sandbox process: namespaces, then (reported) the sentry, then (reported) wait for
    start and run; returns the exit status."""
    from pysandbox.ocishim.namespaces import enter_namespaces
    keep = {0, 1, 2, ready.fd} | set(range(3, 3 + args.preserve_fds))
    _close_other_fds(keep)
    log.reopen_after_fork()
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    from pysandbox.ocishim.rootless import CgroupRules, enter_user_namespace
    cgroup_rules = CgroupRules(args.rootless_cgroups, args.systemd_cgroup)     # decided by the caller's ids
    if spec.user_namespace:                  # first: the others then belong to it
        enter_user_namespace(spec)
    enter_namespaces(spec.namespaces)
    ready.say("ok")
    host_cgroup, sandbox_process = _fork_sandbox_process(spec, ready, args, cgroup_rules)
    if sandbox_process:
        return _wait_for_sandbox_process(container, sandbox_process, host_cgroup, log)
    host_fds = (0, 1, 2) + tuple(range(3, 3 + args.preserve_fds))
    options = {"platform": args.platform, "strace": args.strace, "overlay": args.overlay, "pin": args.pin,
               "network": args.network}
    from pysandbox.ocishim.sandbox import SandboxProcess, open_console   # the sentry: imported while hooks run
    if console_socket:
        slave = open_console(console_socket, spec.process.console_size)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        os.close(slave)
    sandbox = SandboxProcess(container, spec, options, log)
    sandbox.host_cgroup = host_cgroup
    sandbox.prepare(host_fds)
    ready.say("ok", last=True)
    status = 1
    try:
        if sandbox.wait_for_start():
            status = sandbox.run()
        else:
            sandbox.close()
            from pysandbox.runner import exit_code
            status = exit_code(sandbox.kernel.exit_status)
    except Exception as error:
        log.error(f"sandbox failed: {type(error).__name__}: {error}")
    finally:
        _write_exit_status(container, status)
        sandbox.server.close()
        _remove_in_directory(container.control_path)
    return status


def _fork_sandbox_process(spec, ready, args, cgroup_rules):
    """The container's cgroup (this process joins it, the sandbox process inherits it; skipped as
    runc's rootless mode skips it, ocishim/rootless.py), then the
    sandbox process, forked as pid 1 of a host pid namespace of its own (security/confine.py).
    Returns (cgroup, the child's pid) here, (cgroup, 0) in the child, (cgroup, None) when there is
    no pid namespace (not root) and this process goes on as the sandbox process."""
    from pysandbox.runner import FORWARDED_SIGNALS
    from pysandbox.security.confine import enter_private_mount_namespace, fork_pid_namespace_init
    from pysandbox.security.limits import HostCgroup
    if spec.process.oom_score_adj is not None:      # the pid Docker knows has it, and passes it on
        try:
            with open("/proc/self/oom_score_adj", "w") as oom_score_adj:
                oom_score_adj.write(str(spec.process.oom_score_adj))
        except OSError:
            pass
    host_cgroup = HostCgroup.create(spec.pids_limit, spec.memory_limit, path=spec.cgroups_path, cpu=spec.cpu,
                                    systemd=args.systemd_cgroup)
    cgroup_rules.check(spec, host_cgroup)
    pid = fork_pid_namespace_init(FORWARDED_SIGNALS)
    if pid:
        os.close(ready.fd)                    # the sandbox process says how far it got
        ready.fd = None
        # The container's stdio is the sandbox process's: kept open here, a caller waiting for the
        # end of runc's own output (containerd's shim under -t) would wait for the container's end.
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        os.closerange(3, 3 + args.preserve_fds)
    elif pid == 0:
        os.setsid()                           # its own session, for the console it may open
        enter_private_mount_namespace()
    return host_cgroup, pid


def _wait_for_sandbox_process(container, pid, host_cgroup, log):
    """The pid Docker knows, confined as the outer process (security/confine.py): passes signals
    on, and ends with the container's exit status, written through a file it opens first (the
    sandbox process writes it too, and removes its control socket; if it was killed, the socket
    left behind refuses connections and `delete` removes it)."""
    from pysandbox.runner import FORWARDED_SIGNALS, exit_code
    from pysandbox.security.confine import (DEFAULT_MODE, confine_outer_process, end_outer_process,
                                            wait_for_sandbox_process)
    try:
        exit_status_fd = os.open(container.exit_status_path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        exit_status_fd = None
    confine_outer_process(pid, DEFAULT_MODE, log.fileno(), host_cgroup, exit_status_fd)
    status = exit_code(wait_for_sandbox_process(pid, FORWARDED_SIGNALS))
    if exit_status_fd is not None:
        text = f"{status}\n".encode()
        try:
            os.write(exit_status_fd, text)
            os.ftruncate(exit_status_fd, len(text))
        except OSError:
            pass
    if host_cgroup is not None:
        host_cgroup.close()
    end_outer_process(status)


def _remove_in_directory(path):
    """unlink(2) through the directory's fd (unlinkat: the call the sentry's seccomp filter allows)."""
    try:
        directory = os.open(os.path.dirname(path), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.unlink(os.path.basename(path), dir_fd=directory)
    except OSError:
        pass
    finally:
        os.close(directory)


def _close_other_fds(keep):
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass


def _write_exit_status(container, status):
    try:
        with open(container.exit_status_path, "w") as out:
            out.write(f"{status}\n")
    except OSError:
        pass


def _write_pid_file(path, pid):
    path = os.path.abspath(path)
    temporary = f"{path}.{os.getpid()}.tmp"
    try:
        with open(temporary, "w") as out:
            out.write(str(pid))
        os.replace(temporary, path)
    except OSError as error:
        raise ContainerError(f"--pid-file {path}: {error.strerror.lower()}") from None


def _kill_sandbox(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        _wait_gone(pid, STOP_TIMEOUT)


def _wait_gone(pid, timeout):
    deadline = time.monotonic() + timeout
    while process_start_time(pid) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _hooks_of(container, kind):
    return container.data.get("hooks", {}).get(kind, [])


def do_create(args, log):
    create(args, log)
    return 0


def do_start(args, log):
    container = Container.load(args.root, args.id)
    with container.lock():
        container.require("start", CREATED)
        run_hooks("startContainer", _hooks_of(container, "startContainer"), container.state(), log)
        control.request(container, {"op": "start"})
        container.update(started=True)
    # the state as it was at start: a short-lived workload may be gone by now
    run_hooks("poststart", _hooks_of(container, "poststart"), dict(container.state(), status=RUNNING,
                                                                    pid=container.pid), log)
    return 0


def do_run(args, log):
    container, pid = create(args, log, foreground=not args.detach)
    try:
        do_start(args, log)
    except BaseException:
        _kill_sandbox(pid)
        container.remove()
        raise
    if args.detach:
        return 0
    forward = {sig: signal.signal(sig, lambda signo, _f: _try_kill(pid, signo))
               for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)}
    try:
        _, status = os.waitpid(pid, 0)
    finally:
        for sig, handler in forward.items():
            signal.signal(sig, handler)
    if not args.keep:
        run_hooks("poststop", _hooks_of(container, "poststop"), dict(container.state(), status=STOPPED), log)
        container.remove()
    from pysandbox.runner import exit_code
    return exit_code(status)


def _try_kill(pid, signo):
    try:
        os.kill(pid, signo)
    except ProcessLookupError:
        pass


# -- state, list, kill, delete, wait --------------------------------------------------------------------
def do_state(args, log):
    container = Container.load(args.root, args.id)
    print(json.dumps(container.state(), indent=2))
    return 0


def do_list(args, log):
    containers = Container.all(args.root)
    if args.quiet:
        for container in containers:
            print(container.id)
    elif args.format == "json":
        print(json.dumps([container.state() for container in containers]))
    else:
        print(f"{'ID':<20} {'PID':<8} {'STATUS':<10} {'BUNDLE':<40} {'CREATED':<32} OWNER")
        for container in containers:
            state = container.state()
            print(f"{state['id']:<20} {state['pid']:<8} {state['status']:<10} {state['bundle']:<40} "
                  f"{state['created']:<32} {state['owner']}")
    return 0


def parse_signal(text):
    """A signal by number, by name (KILL or SIGKILL, any case), or RTMIN+N."""
    text = str(text).strip()
    if text.isdigit():
        number = int(text)
    else:
        name = text.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        match = re.fullmatch(r"SIGRT(MIN|MAX)([+-]\d+)?", name)
        if match:
            base = signal.SIGRTMIN if match.group(1) == "MIN" else signal.SIGRTMAX
            number = int(base) + int(match.group(2) or 0)
        else:
            try:
                number = int(signal.Signals[name])
            except KeyError:
                raise SandboxError(f"unknown signal {text!r}", 1) from None
    if not 1 <= number <= 64:
        raise SandboxError(f"invalid signal number {number}", 1)
    return number


def do_kill(args, log):
    signo = parse_signal(args.signal)
    container = Container.load(args.root, args.id)
    container.require("kill", CREATED, RUNNING, PAUSED)
    control.request(container, {"op": "kill", "signal": signo, "all": args.all})
    return 0


def do_delete(args, log):
    try:
        container = Container.load(args.root, args.id)
    except ContainerError:
        if args.force:
            return 0
        raise
    with container.lock():
        status = container.status
        if status in (RUNNING, PAUSED) and not args.force:
            raise ContainerError(f"cannot delete container {container.id}: it is {status} (stop it, or use --force)")
        if status != STOPPED and container.pid:
            _stop_sandbox(container)
        run_hooks("poststop", _hooks_of(container, "poststop"), dict(container.state(), status=STOPPED), log)
        container.remove()
    return 0


def _stop_sandbox(container):
    try:
        control.request(container, {"op": "kill", "signal": signal.SIGKILL, "all": True})
    except ContainerError:
        pass
    if not _wait_gone(container.pid, STOP_TIMEOUT) and container.alive():
        _try_kill(container.pid, signal.SIGKILL)
        _wait_gone(container.pid, STOP_TIMEOUT)


def do_wait(args, log):
    container = Container.load(args.root, args.id)
    if container.status != STOPPED:
        try:
            with control.connect(container) as sock:
                control.exchange(sock, container, {"op": "wait"})
                control.receive(sock)          # the end of the stream: the sandbox process is gone
        except (ContainerError, OSError):
            pass
        _wait_gone(container.pid, STOP_TIMEOUT)
    status = container.exit_status()
    print(json.dumps({"id": container.id, "exitStatus": -1 if status is None else status}))
    return 0


# -- exec -----------------------------------------------------------------------------------------------
def do_exec(args, log):
    container = Container.load(args.root, args.id)
    from pysandbox.ocishim.spec import SpecError, parse_process
    container.require("exec in", RUNNING)
    raw = _exec_process(args)
    process = parse_process(raw, "process")
    if process.terminal and not args.console_socket and not os.isatty(0):
        raise SpecError("process.terminal is true: --console-socket is required")
    if not args.detach:
        return _exec_holder(container, raw, process, args.console_socket, None)
    def holder(ready):
        os.setsid()
        return _exec_holder(container, raw, process, args.console_socket, ready)
    pid = Launch(holder, "exec failed").pid
    if args.pid_file:
        _write_pid_file(args.pid_file, pid)
    return 0


def _exec_process(args):
    """The process to exec: --process FILE (or - for stdin), else the command line's words."""
    if args.process:
        return _load_json("--process", args.process)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise SandboxError("exec: give --process FILE or a command", 2)
    raw = {"args": command, "env": list(args.env), "cwd": args.cwd or "/", "terminal": args.tty}
    if args.user:
        uid, _, gid = args.user.partition(":")
        try:
            raw["user"] = {"uid": int(uid), "gid": int(gid or 0),
                           "additionalGids": [int(g) for g in args.additional_gids]}
        except ValueError:
            raise SandboxError(f"--user {args.user}: give numeric UID[:GID]", 2) from None
    return raw


def _exec_holder(container, raw, process, console_socket, ready):
    """Run the exec and stay until its process exits; returns its exit status.
    Signals this process receives (the shim sends them to the pid in --pid-file) go to it."""
    from pysandbox.ocishim.sandbox import open_console
    fds = [0, 1, 2]
    slave = None
    if process.terminal and console_socket:
        slave = open_console(console_socket, process.console_size)
        fds = [slave]
    sock = control.connect(container)
    reply = control.exchange(sock, container, {"op": "exec", "process": raw}, fds)
    if slave is not None:
        os.close(slave)
    guest_pid = reply["pid"]
    if ready is not None:
        ready.say(f"ok {guest_pid}", last=True)

    def forward(signo, _frame):
        try:
            control.request(container, {"op": "signal", "pid": guest_pid, "signal": signo})
        except SandboxError:
            pass
    for sig in EXEC_FORWARDED_SIGNALS:
        signal.signal(sig, forward)
    try:
        message, _ = control.receive(sock)
    except OSError:
        message = None
    sock.close()
    return 128 + signal.SIGKILL if message is None else int(message.get("exited", 1))


# -- ps, pause, resume, events, update --------------------------------------------------------------------
def do_ps(args, log):
    container = Container.load(args.root, args.id)
    container.require("ps", CREATED, RUNNING, PAUSED)
    processes = control.request(container, {"op": "ps"})["processes"]
    _to_host_pids(container, processes)
    if args.format == "json":
        print(json.dumps([p["host_pid"] for p in processes if p["host_pid"] is not None]))
        return 0
    print(f"{'UID':<8} {'PID':<8} {'PPID':<8} {'HOST PID':<10} CMD")
    for p in processes:
        host_pid = "-" if p["host_pid"] is None else p["host_pid"]
        print(f"{p['uid']:<8} {p['pid']:<8} {p['ppid']:<8} {host_pid:<10} {p['cmd']}")
    return 0


def _to_host_pids(container, processes):
    """The sandbox knows its stubs by the pids of its own pid namespace: `ps` shows the host's
    (None for a process that ended meanwhile: its pid in the namespace is no host pid)."""
    from pysandbox.security.hostproc import children_of, host_pids_of_namespace, pid_namespace_of
    sandbox_process = (children_of(container.pid) or [container.pid])[0]
    namespace = pid_namespace_of(sandbox_process)
    if namespace is None or namespace == pid_namespace_of("self"):
        return
    host_pids = host_pids_of_namespace(namespace)
    for process in processes:
        process["host_pid"] = host_pids.get(process["host_pid"])


def do_pause(args, log):
    return _set_paused(args, paused=True)


def do_resume(args, log):
    return _set_paused(args, paused=False)


def _set_paused(args, paused):
    verb = "pause" if paused else "resume"
    container = Container.load(args.root, args.id)
    with container.lock():
        container.require(verb, RUNNING if paused else PAUSED)
        control.request(container, {"op": verb})
        container.update(paused=paused)
    return 0


def _stats_event(container):
    stats = control.request(container, {"op": "stats"})
    total_ns = int((stats["cpu_user"] + stats["cpu_system"]) * 1e9)
    return {"type": "stats", "id": container.id, "data": {
        "cpu": {"usage": {"total": total_ns, "user": int(stats["cpu_user"] * 1e9),
                          "kernel": int(stats["cpu_system"] * 1e9)}},
        "memory": {"usage": {"usage": stats["memory"], "limit": stats["memory_limit"]}},
        "pids": {"current": stats["pids"], "limit": stats["pids_limit"]}}}


def _interval(text):
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)?", text.strip())
    if not match:
        raise SandboxError(f"--interval {text!r}: give a duration like 5s or 500ms", 2)
    value = float(match.group(1))
    return value / 1000 if match.group(2) == "ms" else value * 60 if match.group(2) == "m" else value


def do_events(args, log):
    interval = _interval(args.interval)
    container = Container.load(args.root, args.id)
    container.require("get events of", CREATED, RUNNING, PAUSED)
    if args.stats:
        print(json.dumps(_stats_event(container)), flush=True)
        return 0
    while container.status != STOPPED:
        try:
            print(json.dumps(_stats_event(container)), flush=True)
        except ContainerError:
            break
        time.sleep(interval)
    return 0


def do_update(args, log):
    from pysandbox.ocishim.spec import parse_resources
    from pysandbox.security.limits import parse_size
    container = Container.load(args.root, args.id)
    container.require("update", CREATED, RUNNING, PAUSED)
    resources = _load_json("--resources", args.resources) if args.resources else {}
    if args.pids_limit is not None:
        resources.setdefault("pids", {})["limit"] = args.pids_limit
    if args.memory is not None:
        resources.setdefault("memory", {})["limit"] = parse_size(args.memory, "--memory", minimum=0)
    parse_resources(resources)
    control.request(container, {"op": "update", "resources": resources})
    return 0


def _load_json(option, path):
    """The JSON document in the file an option names (- for stdin)."""
    from pysandbox.ocishim.spec import SpecError
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path) as json_file:
            return json.load(json_file)
    except OSError as error:
        raise SpecError(f"{option} {path}: {error.strerror.lower()}") from None
    except ValueError as error:
        raise SpecError(f"{option} {path}: invalid JSON: {error}") from None


# -- features, spec, unsupported ---------------------------------------------------------------------------
def do_features(args, log):
    from pysandbox.ocishim.cli import SPEC_VERSION
    from pysandbox.ocishim.spec import CAPABILITY_SETS, HOOK_KINDS, HOST_NAMESPACES, SENTRY_NAMESPACES
    from pysandbox.sentry.credentials import CAPABILITY_NAMES
    features = {
        "ociVersionMin": "1.0.0", "ociVersionMax": SPEC_VERSION,
        "hooks": list(HOOK_KINDS),
        "mountOptions": ["ro", "rw", "bind", "rbind", "nosuid", "nodev", "noexec", "private", "rprivate",
                         "size", "mode", "strictatime", "relatime"],
        "linux": {
            "namespaces": sorted(set(HOST_NAMESPACES) | SENTRY_NAMESPACES),
            "capabilities": list(CAPABILITY_NAMES),
            "cgroup": {"v1": False, "v2": False, "systemd": False, "systemdUser": False},
            "seccomp": {"enabled": False}, "apparmor": {"enabled": False}, "selinux": {"enabled": False},
        },
        "annotations": {"io.github.pysandbox.platforms": "ptrace",
                        "io.github.pysandbox.capability-sets": ",".join(CAPABILITY_SETS)},
    }
    print(json.dumps(features, indent=2))
    return 0


def do_spec(args, log):
    from pysandbox.ocishim.spec import default_spec
    path = os.path.join(args.bundle, "config.json")
    if os.path.exists(path):
        raise ContainerError(f"{path} exists: remove it first")
    try:
        with open(path, "x") as out:
            json.dump(default_spec(rootless=args.rootless), out, indent=2)
            out.write("\n")
    except OSError as error:
        raise ContainerError(f"{path}: {error.strerror.lower()}") from None
    return 0


def do_unsupported(args, log):
    raise ContainerError(f"{args.verb} is not supported by pysandbox")


VERBS = {"create": do_create, "start": do_start, "run": do_run, "state": do_state, "list": do_list,
         "kill": do_kill, "delete": do_delete, "wait": do_wait, "exec": do_exec, "ps": do_ps,
         "pause": do_pause, "resume": do_resume, "events": do_events, "update": do_update,
         "features": do_features, "spec": do_spec, "checkpoint": do_unsupported, "restore": do_unsupported}
