"""The sandbox process: one per container, forked by `create`, alive until the container's init exits.

It holds the sentry. By the time `create` returns it has built the sandbox,
loaded init, started its control thread and put itself under the sentry's
seccomp filter. The control thread takes each request off the control socket
and queues it; before `start` the main thread serves the queue itself, and
`start` hands the main thread to the kernel's loop, after which the control
thread nudges it with a signal whose handler schedules the queued requests on
that loop as a timer: the kernel's state is only ever touched by the thread
that runs it.
"""
import fcntl
import os
import queue
import select
import signal
import socket
import struct
import termios
import threading

from pysandbox.ocishim import control
from pysandbox.ocishim.rootless import check_process_ids
from pysandbox.ocishim.spec import parse_process, parse_resources
from pysandbox.sentry import signals
from pysandbox.sentry.errors import SandboxError
from pysandbox.sentry.task import Credentials, default_rlimits, host_cpu_times

CONTROL_SIGNAL = signal.SIGRTMIN + 3     # "a control request is queued", to the main thread
RESEND_INTERVAL = 0.05
REPLIED = object()                       # a request handler already sent its reply


class SandboxProcess:
    def __init__(self, container, spec, options, log):
        self.container = container
        self.spec = spec
        self.options = options
        self.log = log
        self.kernel = None
        self.vfs = None
        self.platform = None
        self.init_task = None
        self.server = None
        self.started = False
        self.paused = False
        self.requests = queue.Queue()
        self.exec_watchers = {}          # tgid -> control connection waiting for its exit
        self.waiters = []                # connections of `wait` verbs, closed by this process's end
        self.memory_limit = spec.memory_limit
        self.host_cgroup = None
        self._handled = threading.Event()   # set once the request being handled needs no more nudges

    @property
    def network(self):
        """"none": loopback only; otherwise inet sockets are host sockets of this process's network
        namespace, which is the container's (fresh, or the one config.json names)."""
        return "none" if self.options.get("network") == "none" else "host"

    # -- before start --------------------------------------------------------------------------
    def prepare(self, host_fds):
        """What `create` promises once the namespaces exist: the sentry built, init loaded (host_fds
        are its stdio), the control socket served, the process confined."""
        from pysandbox.platform import get_platform
        from pysandbox.runner import _pin_cpu, _raise_fd_limit
        from pysandbox.security.confine import chroot_sentry
        from pysandbox.security.limits import protect_sentry_from_oom_killer
        from pysandbox.sentry.kernel import Kernel
        from pysandbox.sentry.vfs.inet import new_network

        # process.oom_score_adj and the host cgroup (self.host_cgroup, None if the host has none):
        # set and made before the fork of this process (verbs._fork_sandbox_process).
        process = self.spec.process
        cpu = _pin_cpu(self.options.get("pin", True))
        _raise_fd_limit()
        self.platform = get_platform(self.options.get("platform", "ptrace"), cpu=cpu)
        if self.host_cgroup is not None:
            protect_sentry_from_oom_killer()
        self.vfs = _build_vfs(self.spec, overlay=self.options.get("overlay", False))
        self.server = control.listen(self.container.control_path)
        self.log.fileno()                    # the log file open before the chroot
        # Before the chroot: host sockets use ctypes, a C extension, which can't be loaded after it.
        network = new_network("host") if self.network == "host" else None
        problem = network.apply_sysctls(self.spec.sysctl) if network is not None else None
        if problem:
            self.log.warning(problem)
        chroot_sentry()                      # from here on, host files only through the fds it holds
        self.kernel = Kernel(self.platform, self.vfs, hostname=self.spec.hostname or self.container.id[:12],
                             strace=self._strace_writer(), log=self.log.warning, protect_init=True)
        # Loopback only is built on the first inet or netlink socket (inet.network_of), as in `do`.
        self.kernel.network = network
        if self.spec.domainname:
            self.kernel.domainname = self.spec.domainname
        self.kernel.sysctls.configure(self.spec.sysctl)
        self.kernel.pids_limit = self.spec.pids_limit
        self.kernel.on_orphan_exit = self._orphan_exited
        self.init_task = _start_process(self.kernel, self.vfs, process, tgid=1, host_fds=host_fds)
        self.kernel.init = self.init_task.tg
        signal.signal(CONTROL_SIGNAL, lambda _s, _f: self.kernel.add_timer(0, self._drain))
        threading.Thread(target=self._control_loop, name="control", daemon=True).start()
        self._confine()

    def _strace_writer(self):
        if not self.options.get("strace"):
            return None
        return lambda line: self.log.write("debug" if self.log.debug_enabled else "info", line)

    def wait_for_start(self):
        """Serve control requests until `start` (True) or until init is gone (False)."""
        while not self.started:
            self._serve_one(self.requests.get())
            if self.kernel.init.zombie:
                return False
        return True

    # -- running -------------------------------------------------------------------------------
    def run(self):
        """Start init and run the sandbox until init exits; returns the container's exit status."""
        from pysandbox.runner import FORWARDED_SIGNALS, _forward, exit_code
        # Handlers only schedule work on the kernel's loop: they may run in the middle of a syscall.
        for sig in FORWARDED_SIGNALS:
            signal.signal(sig, lambda signo, _f: self.kernel.add_timer(
                0, lambda: _forward(self.kernel, self.vfs.terminal, signo)))
        try:
            status = self.kernel.run() if not self.kernel.init.zombie else self.kernel.exit_status
        finally:
            self.close()
        return exit_code(status)

    def _confine(self):
        """The sentry's seccomp filter on this process (all its threads), as `pysandbox do` has it,
        plus the control socket's accept4."""
        from pysandbox.security.confine import DEFAULT_MODE, confine_sentry
        from pysandbox.security.seccomp import OCI_RULES
        confine_sentry(self.options.get("seccomp") or DEFAULT_MODE, self.network, self.log.fileno(),
                       self.options.get("platform", "ptrace"), extra_rules=OCI_RULES)
        self.platform.confine_threads(self.options.get("seccomp") or DEFAULT_MODE, self.log.fileno())

    def close(self):
        """Kill and reap everything of the sandbox: stubs, the gofer, host sockets, its cgroup."""
        from pysandbox.runner import close_sandbox
        self.kernel.shutdown()
        close_sandbox(self.kernel, self.platform, self.vfs)
        if self.host_cgroup is not None:
            self.host_cgroup.close()

    def _control_loop(self):
        """The control thread: takes each request off the socket and queues it for the main
        thread, and watches the connections of exec holders (poll). It starts no threads of its
        own: under the sentry's seccomp filter, the process makes no new ones."""
        poller = select.poll()
        poller.register(self.server, select.POLLIN)
        holders = {}                   # fd -> the connection of an exec whose holder is attached
        while True:
            for fd, _events in poller.poll():
                if fd in holders:
                    # The holder went (or closed after its process's exit status): if its process
                    # still runs, it goes too, as a process whose runc exec was killed would.
                    conn = holders.pop(fd)
                    poller.unregister(fd)
                    self._submit(conn, {"op": "holder_gone"}, [])
                    continue
                conn = None
                try:
                    conn, _ = self.server.accept()
                    message, fds = control.receive(conn)
                except OSError:
                    if conn is not None:
                        conn.close()
                    continue
                if message is None:
                    conn.close()
                    continue
                self._submit(conn, message, fds)
                if message.get("op") == "exec" and conn.fileno() >= 0:     # closed: the exec failed
                    holders[conn.fileno()] = conn
                    poller.register(conn, select.POLLIN)

    def _submit(self, conn, message, fds):
        """Queue a request for the main thread and nudge it until the request was handled."""
        handled = threading.Event()
        self.requests.put((conn, message, fds, handled))
        main = threading.main_thread().ident
        while True:
            if not self.paused:       # a paused sentry reads its requests without being nudged
                signal.pthread_kill(main, CONTROL_SIGNAL)
            if handled.wait(RESEND_INTERVAL):
                return

    def _drain(self):
        while True:
            try:
                self._serve_one(self.requests.get_nowait())
            except queue.Empty:
                return

    def _serve_one(self, request):
        conn, message, fds, handled = request
        self._handled = handled
        try:
            self._handle(conn, message, fds)
        finally:
            handled.set()

    def _handle(self, conn, message, fds):
        op = message.get("op")
        handler = getattr(self, f"_op_{op}", None) if isinstance(op, str) else None
        try:
            if handler is None:
                raise SandboxError(f"unknown control request {op!r}", 1)
            reply = handler(message, fds, conn) or {}
        except SandboxError as error:
            reply = {"ok": False, "error": str(error)}
        except Exception as error:  # a bad request must not end the sandbox
            reply = {"ok": False, "error": f"internal error: {type(error).__name__}: {error}"}
        finally:
            for fd in fds:
                os.close(fd)
        if reply is REPLIED:
            conn.close()
            return
        keep_open = reply.pop("_keep_open", False)
        reply.setdefault("ok", True)
        try:
            control.send(conn, reply)
        except OSError:
            keep_open = False
        if not keep_open:
            conn.close()

    # -- requests --------------------------------------------------------------------------------
    def _op_start(self, message, fds, conn):
        if self.started:
            raise SandboxError("container already started", 1)
        self.started = True
        self.kernel.make_runnable(self.init_task)
        return {}

    def _op_kill(self, message, fds, conn):
        signo = int(message["signal"])
        groups = list(self.kernel.thread_groups.values()) if message.get("all") else [self.kernel.init]
        if self.paused and signo == signals.SIGKILL:
            self._op_resume(message, fds, conn)
        for tg in groups:
            if tg is not None and not tg.zombie and not tg.exiting:
                signals.send_signal(tg, signals.SigInfo(signo, signals.SI_USER, forced=True))
        return {}

    def _op_signal(self, message, fds, conn):
        """A signal for one process (an exec's holder passes on what it receives)."""
        tg = self.kernel.thread_groups.get(int(message["pid"]))
        if tg is not None and not tg.zombie and not tg.exiting:
            signals.send_signal(tg, signals.SigInfo(int(message["signal"]), signals.SI_USER, forced=True))
        return {}

    def _op_exec(self, message, fds, conn):
        if not self.started:
            raise SandboxError("cannot exec in a container that has not been started", 1)
        process = parse_process(message["process"], "process")
        check_process_ids(self.spec, process, "process")
        host_fds = tuple(fds[:3]) if len(fds) >= 3 else (fds[0],) * 3 if fds else ()
        task = _start_process(self.kernel, self.vfs, process, host_fds=host_fds)
        self.exec_watchers[task.tg.tgid] = conn
        self.kernel.make_runnable(task)
        return {"pid": task.tg.tgid, "_keep_open": True}

    def _op_holder_gone(self, message, fds, conn):
        for tgid, watcher in list(self.exec_watchers.items()):
            tg = self.kernel.thread_groups.get(tgid)
            if watcher is conn and tg is not None and not tg.exiting:
                signals.send_signal(tg, signals.SigInfo(signals.SIGKILL, signals.SI_USER, forced=True))
        return REPLIED

    def _orphan_exited(self, tg):
        """A process with no parent in the sandbox (an exec) ended: tell its holder, and forget it."""
        from pysandbox.runner import exit_code
        conn = self.exec_watchers.pop(tg.tgid, None)
        if conn is not None:
            try:
                control.send(conn, {"exited": exit_code(tg.wait_status)})
            except OSError:
                pass
            # the control thread closes it when the holder does (it watches the connection)
        self.kernel.reap(tg)

    def _op_wait(self, message, fds, conn):
        """Keep the connection: it closes when this process ends, which is what `wait` waits for."""
        self.waiters.append(conn)
        return {"_keep_open": True}

    def _op_ps(self, message, fds, conn):
        processes = []
        for tg in sorted(self.kernel.thread_groups.values(), key=lambda g: g.tgid):
            leader = tg.leader
            if tg.zombie or leader is None or leader.context is None:
                continue
            processes.append({"pid": tg.tgid, "ppid": tg.parent.tgid if tg.parent else 0,
                              "uid": leader.creds.uid, "host_pid": leader.context.pid,
                              "cmd": _command_line(tg), "threads": len(tg.tasks)})
        return {"processes": processes}

    def _op_pause(self, message, fds, conn):
        if not self.started:
            raise SandboxError("container is not running", 1)
        if self.paused:
            raise SandboxError("container is already paused", 1)
        for task in list(self.kernel.tasks.values()):
            if task.alive and task.context is not None and not task.context.stopped:
                task.context.interrupt()
        self.paused = True
        control.send(conn, {"ok": True})
        self._handled.set()            # the control thread goes on: it brings the resume
        # The sentry stops scheduling: this thread serves nothing but control requests until resumed.
        while self.paused:
            self._serve_one(self.requests.get())
        return REPLIED

    def _op_resume(self, message, fds, conn):
        if not self.paused:
            raise SandboxError("container is not paused", 1)
        self.paused = False
        return {}

    def _op_stats(self, message, fds, conn):
        user = system = 0.0
        rss = 0
        pids = 0
        page = os.sysconf("SC_PAGE_SIZE")
        for tg in self.kernel.thread_groups.values():
            if tg.zombie or tg.leader is None or tg.leader.context is None:
                continue
            pids += len([t for t in tg.tasks if t.alive])
            host_user, host_system = host_cpu_times(tg.leader.context.pid)
            user, system = user + host_user, system + host_system
            rss += _resident_pages(tg.leader.context.pid) * page
        return {"cpu_user": user, "cpu_system": system, "memory": rss, "pids": pids,
                "pids_limit": self.kernel.pids_limit or 0, "memory_limit": self.memory_limit or 0}

    def _op_update(self, message, fds, conn):
        pids, memory = parse_resources(message.get("resources") or {})
        if pids is not None:
            self.kernel.pids_limit = pids
        if memory is not None:
            self._set_host_memory_limit(memory)
            self.memory_limit = memory
        return {}

    def _set_host_memory_limit(self, limit):
        """A new memory limit on the sandbox's host cgroup, which holds this process and every stub."""
        if self.host_cgroup is None:
            raise SandboxError("memory limit can only be changed when the container was created with one "
                               "and the host has cgroups", 1)
        try:
            self.host_cgroup.set_memory_limit(limit)
        except OSError as error:
            raise SandboxError(f"memory limit {limit}: {error.strerror.lower()}", 1) from None


# -- building blocks -----------------------------------------------------------------------------------
def _build_vfs(spec, overlay):
    from pysandbox.ocishim.mounts import translate_mounts
    from pysandbox.sentry.vfs import VFS
    return VFS.for_rootfs(spec.root_path, read_only=spec.root_readonly, overlay=overlay,
                          mounts=translate_mounts(spec))


def _start_process(kernel, vfs, process, tgid=None, host_fds=(0, 1, 2)):
    """new_process() for an OCI process; failures worded as runc words them (Docker maps
    "executable file not found" to 127 and "permission denied" to 126)."""
    from pysandbox.runner import new_process
    try:
        return new_process(kernel, vfs, process.args, _environment(process), tgid=tgid, cwd=process.cwd,
                           host_fds=host_fds, creds=_credentials(process), rlimits=_rlimits(process),
                           umask=process.umask)
    except SandboxError as error:
        program = process.args[0]
        if error.exit_status == 127:
            where = "in $PATH" if "/" not in program else ""
            raise SandboxError(f'exec: "{program}": executable file not found {where}'.strip()
                               + f" ({error})", 127) from None
        if error.exit_status == 126:
            raise SandboxError(f'exec: "{program}": permission denied ({error})', 126) from None
        if str(error).startswith("--cwd"):
            raise SandboxError(f"chdir to cwd ({process.cwd!r}) set in config.json failed: "
                               f"{str(error).split(': ', 1)[-1]}", error.exit_status) from None
        raise


def _environment(process):
    env = list(process.env)
    if not any(item.startswith("PATH=") for item in env):
        from pysandbox.ocishim.spec import DEFAULT_PATH
        env.append(DEFAULT_PATH)
    return env


def _credentials(process):
    """The process's credentials as runc leaves them at its execve: process.capabilities's sets
    (all of them when none are configured) and noNewPrivileges."""
    if process.capabilities is None:
        creds = Credentials(process.uid, process.gid, process.additional_gids)
        creds.no_new_privs = process.no_new_privileges
        return creds
    return Credentials.from_oci(process.uid, process.gid, process.additional_gids, process.capabilities,
                                process.no_new_privileges)


def _rlimits(process):
    limits = default_rlimits()
    for resource, (soft, hard) in process.rlimits.items():
        limits[resource] = [soft, hard]
    return limits


def _command_line(tg):
    words = [os.fsdecode(word) if isinstance(word, bytes) else word for word in tg.argv]
    return " ".join(words) if words else tg.exe


def _resident_pages(pid):
    from pysandbox.security.hostproc import read_proc
    try:
        return int(read_proc(f"{pid}/statm").split()[1])
    except (OSError, IndexError, ValueError):
        return 0


# -- the terminal ------------------------------------------------------------------------------------
def open_console(console_socket, console_size=None):
    """A new host pty whose master goes to `console_socket` over SCM_RIGHTS (as runc sends it);
    returns the slave, made this process's controlling terminal."""
    master, slave = os.openpty()
    try:
        if console_size and all(console_size):
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", console_size[0], console_size[1], 0, 0))
        send_console(console_socket, master)
    finally:
        os.close(master)
    try:
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    except OSError:
        pass
    return slave


def send_console(console_socket, master):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with control.short_address(console_socket) as address:
            sock.connect(address)
        socket.send_fds(sock, [b"/dev/ptmx"], [master])
    except OSError as error:
        raise SandboxError(f"--console-socket {console_socket}: {error.strerror or error}", 1) from None
    finally:
        sock.close()

