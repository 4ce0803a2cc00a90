"""`pysandbox do`: build a sandbox around one program, run it, and return its exit status."""
import errno
import os
import _signal as signal  # the C module: `signal` adds enum's import, ~2 ms of every start
import sys
import termios

from pysandbox.security.confine import DEFAULT_MODE as DEFAULT_SECCOMP_MODE, confine_sentry, isolate_sandbox_process
from pysandbox.security.confine import (chroot_sentry, confine_outer_process, end_outer_process,
                                        finish_sandbox_process, fork_pid_namespace_init, wait_for_sandbox_process)
from pysandbox.security.limits import HostCgroup, protect_sentry_from_oom_killer
from pysandbox.sentry.errors import SandboxError, SyscallError
from pysandbox.starttrace import mark

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                     signal.SIGUSR2, signal.SIGWINCH, signal.SIGTSTP)


def exit_code(wait_status):
    """The shell's view of a wait status: the exit code, or 128+N after signal N."""
    if wait_status is None:
        return 1
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)


def _pin_cpu(pin):
    """Pin the sentry (and so its stubs) to the CPU it was started on: a ptrace round trip
    within one CPU is several times cheaper than across CPUs, and starting sandboxes stay
    spread over the CPUs the scheduler chose for them."""
    if not pin:
        return None
    cpu = _current_cpu()
    if cpu not in os.sched_getaffinity(0):
        cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def _raise_fd_limit():
    """The sentry holds host fds for the workload's open host files and each in-memory file:
    let it use as many as the host allows (the workload's own limit is the sandbox's)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _current_cpu():
    with open("/proc/self/stat", "rb") as stat:
        return int(stat.read().rsplit(b")", 1)[1].split()[36])


def _resolve_program(vfs, task, program, env):
    """Find PROGRAM like execvp(3): names without a slash are searched in the sandbox's PATH."""
    if "/" in program:
        return program
    path_var = next((e.split("=", 1)[1] for e in env if e.startswith("PATH=")), DEFAULT_PATH)
    for directory in path_var.split(":"):
        candidate = os.path.join(directory or ".", program)
        try:
            vfs.open_exec(task, candidate)
            return candidate
        except SyscallError:
            continue
    raise SandboxError(f"{program}: command not found", 127)


def _describe_exec_error(program, error):
    messages = {errno.ENOENT: (127, "no such file or directory"),
                errno.ENOTDIR: (127, "not a directory"),
                errno.EACCES: (126, "permission denied"),
                errno.ENOEXEC: (126, "exec format error"),
                errno.ELOOP: (126, "too many levels of symbolic links"),
                errno.ELIBBAD: (126, "bad ELF interpreter"),
                errno.E2BIG: (126, "argument list too long")}
    status, text = messages.get(error.errno, (126, os.strerror(error.errno).lower()))
    return SandboxError(f"{program}: {text}", status)


def new_process(kernel, vfs, argv, env, *, tgid=None, cwd="/", host_fds=(0, 1, 2), creds=None,
                rlimits=None, umask=0o022):
    """A new process of the sandbox, in a session of its own, loaded with `argv` and added to the
    kernel but not yet runnable; returns its first Task. tgid 1 makes it the sandbox's init.
    host_fds become its fds 0, 1 and 2. Raises SandboxError with the shell's status (125, 126, 127)."""
    from pysandbox.sentry import signals
    from pysandbox.sentry.fdtable import FDTable
    from pysandbox.sentry.syscalls import sys_process
    from pysandbox.sentry.task import RLIMIT_NOFILE, Credentials, Task, ThreadGroup, default_rlimits
    from pysandbox.sentry.vfs.resolve import AT_FDCWD
    tgid = tgid or kernel.allocate_pid()
    group = ThreadGroup(kernel, tgid, None, signals.new_sighand(), rlimits or default_rlimits(), tgid, tgid)
    fds = FDTable(limit=lambda: group.rlimits[RLIMIT_NOFILE][0])
    vfs.install_stdio(fds, host_fds)
    fs = vfs.new_fs_context()
    fs.umask = umask
    task = Task(kernel, tgid, group, None, None, fds, fs, creds or Credentials())
    try:
        vfs.chdir(task, vfs.lookup(task, AT_FDCWD, os.fsencode(cwd)))
    except SyscallError as error:
        fds.release()
        raise SandboxError(f"--cwd {cwd}: {os.strerror(error.errno).lower()}", 125) from None
    try:
        program = _resolve_program(vfs, task, argv[0], env)
        context, mm, result = sys_process.load_new_image(task, program.encode(),
                                                         [a.encode() for a in argv],
                                                         [e.encode() for e in env])
    except SyscallError as error:
        fds.release()
        raise _describe_exec_error(program, error) from None
    except SandboxError:
        fds.release()
        raise
    sys_process.install_image(task, context, mm, result, program.encode(), env)
    kernel.add_task(task)
    return task


def run_program(argv, *, platform_name="ptrace", rootfs=None, cwd="/", env=None, strace=False,
                pin=True, hostname="pysandbox", log_path=None, syscall_profile=None, network="none",
                pids_limit=None, memory_limit=None, mounts=(), gofer_mode=None, seccomp=None,
                overlay=None):
    """Run argv inside a new sandbox; returns the exit status for the shell. With
    `syscall_profile` (a path), every syscall the workload makes is recorded there as JSON.
    pids_limit (tasks) and memory_limit (bytes) bound the whole sandbox (security/limits.py).
    As root (without root: in a user namespace of its own), the sandbox runs in a child process,
    pid 1 of a new host pid namespace; this process, confined as the outer process, passes
    signals on to it and exits with its exit status, never returning (end_outer_process)."""
    settings = dict(locals())
    mark("outer: run_program")
    cpu = _pin_cpu(pin)
    _raise_fd_limit()
    host_cgroup = HostCgroup.create(pids_limit, memory_limit)
    sandbox_process = fork_pid_namespace_init(FORWARDED_SIGNALS, user_namespace=True,
                                              log=lambda line: _log_once(log_path, line),
                                              offer_net=network == "none")
    if sandbox_process:
        log_fd = _open_outer_log(log_path)
        confine_outer_process(sandbox_process, seccomp or DEFAULT_SECCOMP_MODE, log_fd, host_cgroup, cpu=cpu)
        mark("outer: confined")
        status = wait_for_sandbox_process(sandbox_process, FORWARDED_SIGNALS, TERMINAL_SIGNALS)
        mark("outer: sandbox process collected")
        if host_cgroup is not None:
            _report_oom_kills(host_cgroup, memory_limit, lambda line: os.write(log_fd, f"{line}\n".encode()))
            host_cgroup.close()
        end_outer_process(exit_code(status))
    if sandbox_process == 0:
        finish_sandbox_process(lambda: _run_sandbox(cpu=cpu, protect_sentry=host_cgroup is not None,
                                                    host_cgroup=None, **settings))
    return _run_sandbox(cpu=cpu, protect_sentry=host_cgroup is not None, host_cgroup=host_cgroup, **settings)


def _report_oom_kills(host_cgroup, memory_limit, log):
    """One log line, through `log(line)`, if the host OOM-killed processes of the sandbox."""
    kills = host_cgroup.oom_kills()
    if kills:
        log(f"pysandbox: the sandbox reached its memory limit ({memory_limit} bytes): "
            f"the host killed {kills} of its processes")


def _log_once(path, line):
    """One line in the log before the sandbox process has it open (fork_pid_namespace_init's note)."""
    fd = _open_outer_log(path)
    try:
        os.write(fd, f"{line}\n".encode())
    except OSError:
        pass
    if fd != 2:
        os.close(fd)


def _open_outer_log(path):
    """The outer process's log fd, opened before its seccomp filter: --log's file (stderr if it
    can't be opened: the sandbox process says why), or stderr."""
    if path is None:
        return 2
    try:
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError:
        return 2


def _run_sandbox(argv, *, cpu, protect_sentry, host_cgroup, platform_name, rootfs, cwd, env, strace, pin,
                 hostname, log_path, syscall_profile, network, pids_limit, memory_limit, mounts, gofer_mode,
                 seccomp, overlay):
    """run_program's sandbox itself, in the sandbox process (the pid namespace's init, or this
    process when there is none); host_cgroup: the cgroup to report on and remove, if it is ours."""
    mark("sandbox: forked")
    isolate_sandbox_process(network)        # before the gofer and any stub: they inherit it
    mark("sandbox: isolated")
    overlay = rootfs is None if overlay is None else overlay
    # The sentry's modules are imported here, in the sandbox process, which `pysandbox do` forks
    # before they are (fork_pid_namespace_init): forking the bigger process, and the child's
    # copies on write of every page their objects touch, cost ~5 ms on these VMs. The gofer is
    # forked first, from the small process this still is, and imports the few modules it needs
    # and opens the roots on another CPU while this one imports the sentry and starts its
    # platform.
    gofer = _start_gofer(rootfs, overlay, mounts, gofer_mode, cpu)
    mark("sandbox: gofer forked")
    try:
        from pysandbox.platform import get_platform
        from pysandbox.sentry import fdtable  # noqa: F401
        from pysandbox.sentry.kernel import Kernel
        from pysandbox.sentry.syscalls import sys_process  # noqa: F401
        from pysandbox.sentry.vfs import VFS
        platform = get_platform(platform_name, cpu=cpu)
        mark("sandbox: platform started")
        vfs = VFS.for_rootfs(rootfs or "/", overlay=overlay, mounts=mounts, gofer_mode=gofer_mode, gofer=gofer)
        mark("sandbox: rootfs ready")
        _free_gofer_cpus(vfs, gofer)
    finally:
        if gofer is not None:
            gofer.abandon()                 # a no-op once the VFS took it over
    log_file = _open_log(log_path)
    log = lambda line: print(line, file=log_file, flush=True)  # noqa: E731
    # The loopback stack is built on the first inet or netlink socket (inet.network_of): most
    # workloads never make one, and its imports cost several ms of start-up. Host sockets are
    # made before the chroot: they use ctypes, a C extension, which can't be loaded after it.
    network_stack = None
    if network != "none":
        from pysandbox.sentry.vfs.inet import new_network
        network_stack = new_network(network)
    profile = _open_profile(syscall_profile)
    chroot_sentry()                         # from here on, host files only through the fds it holds
    mark("sandbox: chroot")
    kernel = Kernel(platform, vfs, hostname=hostname, strace=log if strace else None, protect_init=False,
                    log=lambda message: log(f"pysandbox: {message}"))
    kernel.network = network_stack
    kernel.pids_limit = pids_limit
    env = list(env if env is not None else [f"{k}={v}" for k, v in os.environ.items()])

    task = new_process(kernel, vfs, argv, env, tgid=1, cwd=cwd)
    mark("sandbox: workload loaded")
    kernel.init = task.tg
    if protect_sentry:
        protect_sentry_from_oom_killer()     # after the template stub started: stubs stay killable
    kernel.make_runnable(task)
    previous = {sig: signal.signal(sig, lambda signo, _f: _forward(kernel, vfs.terminal, signo))
                for sig in FORWARDED_SIGNALS}
    terminal = _save_terminal()
    profile = _start_profile(kernel, profile)
    status = None
    try:
        confine_sentry(seccomp or DEFAULT_SECCOMP_MODE, network, log_file.fileno(), platform_name)
        platform.confine_threads(seccomp or DEFAULT_SECCOMP_MODE, log_file.fileno())
        mark("sandbox: filter on")
        status = kernel.run()
    finally:
        mark("sandbox: workload done")
        kernel.shutdown()
        if profile is not None:
            profile.uninstall()
            profile.write(command=argv, platform=platform_name,
                          exit_status=None if status is None else exit_code(status))
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        close_sandbox(kernel, platform, vfs)
        mark("sandbox: closed")
        if host_cgroup is not None:
            _report_oom_kills(host_cgroup, memory_limit, log)
            host_cgroup.close()
        _restore_terminal(terminal)
    if vfs.failure:
        raise SandboxError(vfs.failure, 125)
    return exit_code(status)


def _start_gofer(rootfs, overlay, mounts, gofer_mode, cpu):
    """The directfs gofer for the rootfs, forked before the sentry imports its modules and moved
    to other CPUs: it opens the rootfs and hands it over there while the sentry imports and
    starts its platform. It stays there: it serves only the rare xattr requests from then on,
    and at the sandbox's end it exits there while the sentry does (close_sandbox). None, and
    VFS.for_rootfs forks it, with mounts (whose bind sources it would need to work out) or in
    gofer mode (whose gofer serves the sentry from the sentry's CPU for the whole run)."""
    from pysandbox.gofer.start import DEFAULT_GOFER_MODE, DIRECTFS, start_gofer
    if mounts or (gofer_mode or DEFAULT_GOFER_MODE) != DIRECTFS:
        return None
    others = set(range(os.cpu_count() or 1)) - {cpu} if cpu is not None else None
    return start_gofer([(os.fsencode(rootfs or "/"), overlay)], True, others)


def _free_gofer_cpus(vfs, gofer):
    """The early gofer has handed the roots over: let it run on any CPU from now on. (It widens
    its own CPUs as it starts too, but that may come before this process moved it, which would
    then leave it on the other CPUs alone.) Only while it is the VFS's and alive: an ended one's
    pid may be another process's."""
    from pysandbox.gofer.start import allow_every_cpu
    client = vfs.gofer
    if gofer is not None and client is not None and client.pid == gofer.pid and not client.dead:
        allow_every_cpu(gofer.pid)


def close_sandbox(kernel, platform, vfs):
    """Kill and reap what a shut-down kernel leaves on the host: stubs, the gofer, host sockets.
    The gofer exits when its socket closes; pid 1 of its own pid namespace (fork_pid_namespace_init)
    leaves it to exit meanwhile: the namespace's end collects it (and kills it if need be)."""
    platform.close()
    vfs.close(wait=os.getpid() != 1)
    if kernel.network is not None:
        kernel.network.close()


def _open_profile(path):
    """A record of the workload's syscalls for `path`, its file open now: checked writable before
    the run, and opened before the chroot, after which no host path can be."""
    if path is None:
        return None
    from pysandbox.coverage.profile import SyscallProfile
    profile = SyscallProfile()
    try:
        profile.open_output(path)
    except OSError as error:
        raise SandboxError(f"--syscall-profile {path}: {error.strerror.lower()}", 2) from None
    return profile


def _start_profile(kernel, profile):
    if profile is not None:
        profile.install()
        kernel.syscall_profile = profile
    return profile


def _save_terminal():
    """The host terminal's settings, which the workload may change through its stdio."""
    for fd in (0, 1, 2):
        try:
            return fd, termios.tcgetattr(fd)
        except (termios.error, OSError):
            continue
    return None


def _restore_terminal(saved):
    if saved is not None:
        fd, settings = saved
        try:
            termios.tcsetattr(fd, termios.TCSADRAIN, settings)
        except (termios.error, OSError):
            pass


def _open_log(path):
    if path is None:
        return sys.stderr
    try:
        return open(path, "a", buffering=1)
    except OSError as error:
        raise SandboxError(f"--log {path}: {error.strerror.lower()}", 2) from None


# What a terminal itself sends (^C, ^\\, ^Z, a resize): for the sandbox's foreground process group.
TERMINAL_SIGNALS = (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGWINCH)


def _forward(kernel, terminal, signo):
    """Signals sent to `pysandbox do` go to the sandbox's init, as runsc does; those a host
    terminal generates go to the foreground process group the sandbox set on it."""
    from pysandbox.sentry import signals
    if kernel.init is None or kernel.init.zombie:
        return
    targets = [kernel.init]
    if terminal is not None and signo in TERMINAL_SIGNALS:
        group = [tg for tg in kernel.thread_groups.values()
                 if tg.pgid == terminal.foreground_pgrp and not tg.zombie]
        targets = group or targets
    for tg in targets:
        signals.send_signal(tg, signals.SigInfo(signo, signals.SI_KERNEL if terminal else signals.SI_USER,
                                                forced=True))
