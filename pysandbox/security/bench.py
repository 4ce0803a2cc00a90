"""`pysandbox security-bench`: run the attack suite in several runtimes and say which escaped.

Every attack runs in a fresh container built around the same small rootfs (static busybox and
the attack programs). Host-side canaries prove an escape instead of trusting the attack:

* a canary file outside the rootfs holding a secret token: an attack that prints the token
  read it, one that changed the file wrote it;
* a canary process on the host (its pid and name are given to the attack): dead means signalled;
* the host's hostname and realtime clock, compared before and after (and put back);
* markers the attack tries to push into the host's kernel log (/dev/kmsg) and into the
  console's input queue (TIOCSTI), looked for on the host;
* for attacks on the host kernel's surface (bpf, modules, keyrings ...), the attack's own
  report that the host kernel accepted the call ("evidence:" lines).

The same attacks also run natively (in private mount and UTS namespaces, so that they
cannot disturb the host), so an attack that succeeds nowhere is shown as a broken test.
"""
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import NamedTuple

from pysandbox.security.attacks import ATTACKS, PROGRAMS, SOURCE_DIR
from pysandbox.sentry.errors import SandboxError

CONTAINED, ESCAPED, ERROR, UNAVAILABLE = "contained", "ESCAPED", "error", "unavailable"
CANARY_COMM = "psb-canary"
PIDS_LIMIT = 256
MEMORY_LIMIT_MIB = 256
FILES_LIMIT = 16384            # open files the fd exhaustion attack tries to hold
HOST_FILES_EVIDENCE = 12000    # held on the host during its run: the host paid for them
RUN_TIMEOUT = 60
BUSYBOX = "/bin/busybox"
DEFAULT_RUNTIMES = ("native", "pysandbox", "runc", "runsc")


class Outcome(NamedTuple):
    attack: str
    runtime: str
    result: str                 # CONTAINED, ESCAPED, ERROR or UNAVAILABLE
    evidence: list
    output: str
    seconds: float


# -- the rootfs and the canaries ------------------------------------------------------------

def build_attacks(dest):
    """Compile every attack program (static, so it runs in any rootfs) into dest."""
    gcc = shutil.which("gcc")
    if gcc is None:
        raise SandboxError("security-bench: gcc is missing (scripts/install.sh installs it)", 1)
    os.makedirs(dest, exist_ok=True)
    for program in PROGRAMS:
        source = os.path.join(SOURCE_DIR, program + ".c")
        result = subprocess.run([gcc, "-static", "-O1", "-Wall", "-o", os.path.join(dest, program), source],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode:
            raise SandboxError(f"security-bench: compiling {program}.c failed:\n{result.stdout}", 1)


def build_rootfs(rootfs, attacks_dir):
    for directory in ("bin", "attacks", "tmp", "proc", "dev", "sys", "etc", "root", "mnt"):
        os.makedirs(os.path.join(rootfs, directory), exist_ok=True)
    os.chmod(os.path.join(rootfs, "tmp"), 0o1777)
    shutil.copy2(BUSYBOX, os.path.join(rootfs, "bin", "busybox"))
    for name in ("sh", "true", "cat", "ls"):
        link = os.path.join(rootfs, "bin", name)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    for program in PROGRAMS:
        shutil.copy2(os.path.join(attacks_dir, program), os.path.join(rootfs, "attacks", program))


def _host_iface():
    names = sorted(os.listdir("/sys/class/net"))
    for preferred in ("eth0", "ens3", "enp0s3"):
        if preferred in names:
            return preferred
    return next((n for n in names if n != "lo"), "lo")


class Canaries:
    """The host-side things an attack may reach, reset before each run and checked after."""

    def __init__(self, work):
        self.dir = os.path.join(work, "canary")
        os.makedirs(self.dir, exist_ok=True)
        self.path = os.path.join(self.dir, "secret")
        self.sleeper = os.path.join(work, CANARY_COMM)
        shutil.copy2(shutil.which("sleep") or "/bin/sleep", self.sleeper)
        self.process = None
        self.hostname = os.uname().nodename
        self.root_dev = os.stat(self.dir).st_dev

    def reset(self):
        self.token = "PSB-CANARY-" + secrets.token_hex(8)
        self.kmsg_marker = "psb-bench-kmsg-" + secrets.token_hex(6)
        self.tiocsti_marker = "psb-bench-tty-" + secrets.token_hex(6)
        with open(self.path, "w") as canary:
            canary.write(self.token + "\n")
        self.content = self.token + "\n"
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen([self.sleeper, "3600"], start_new_session=True)
        self.clock_offset = time.time() - time.monotonic()
        self.kmsg = _kmsg_reader()

    def env(self):
        return {"CANARY_PATH": self.path, "CANARY_PID": str(self.process.pid), "CANARY_COMM": CANARY_COMM,
                "HOST_ROOT_DEV": f"{os.major(self.root_dev)}:{os.minor(self.root_dev)}",
                "HOST_IFACE": _host_iface(), "KMSG_MARKER": self.kmsg_marker,
                "TIOCSTI_MARKER": self.tiocsti_marker}

    def check(self, output, tty_input, native_hostname):
        """What the run left on the host: a list of evidence, empty if nothing."""
        found = []
        if self.token in output:
            found.append("read the canary file outside the rootfs")
        try:
            with open(self.path) as canary:
                if canary.read() != self.content:
                    found.append("wrote to the canary file outside the rootfs")
        except OSError:
            found.append("removed the canary file outside the rootfs")
        if self.process.poll() is not None:
            found.append(f"killed the host canary process (status {self.process.returncode})")
        hostname = native_hostname or os.uname().nodename
        if hostname != self.hostname:
            found.append(f"changed the host's hostname to {hostname!r}")
            if native_hostname is None:
                _set_hostname(self.hostname)
        drift = time.time() - time.monotonic() - self.clock_offset
        if abs(drift) > 0.5:
            found.append(f"moved the host's clock by {drift:+.1f} s")
            time.clock_settime(time.CLOCK_REALTIME, time.time() - drift)
        if self.kmsg is not None:
            if self.kmsg_marker in _kmsg_drain(self.kmsg):
                found.append("wrote into the host's kernel log")
            os.close(self.kmsg)
            self.kmsg = None
        if self.tiocsti_marker in tty_input:
            found.append(f"injected {tty_input!r} into the host console's input")
        return found

    def close(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _set_hostname(name):
    import socket
    socket.sethostname(name)


def _kmsg_reader():
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    os.lseek(fd, 0, os.SEEK_END)
    return fd


def _kmsg_drain(fd):
    records = []
    while True:
        try:
            records.append(os.read(fd, 8192).decode("utf-8", "replace"))
        except BlockingIOError:
            return "".join(records)
        except OSError:          # EPIPE: records were overwritten; keep reading
            continue


# -- runtimes ---------------------------------------------------------------------------------

LEAKED_FD = 7


class Runtime:
    """How to run one attack program in a container of this kind. For the leaked-fd attack
    the runtime's own process is started with a host directory open as fd LEAKED_FD: a runtime
    that hands it to the workload leaks it (natively it is simply inherited)."""

    name = ""

    def unavailable(self):
        """Why this runtime can't run here, or None."""
        return None

    def command(self, bench, argv, env, container_id):
        raise NotImplementedError

    def cleanup(self, bench, container_id):
        pass

    def close(self):
        """After the last run: remove what the runtime kept between runs."""


class Native(Runtime):
    """No container: the attack runs on the host itself, in private mount and UTS namespaces
    with a fresh /tmp (so that what it mounts or names disappears with it)."""

    name = "native"

    def unavailable(self):
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            return "needs root and util-linux unshare"
        return None

    def command(self, bench, argv, env, container_id):
        program = os.path.join(bench.rootfs, argv[0].lstrip("/"))
        script = ('mount -t tmpfs psb-tmp /tmp && cd /tmp && "$@"; '
                  'echo "psb-native-hostname: $(hostname)"')
        return ["unshare", "--mount", "--uts", "--propagation", "private", "/bin/sh", "-c", script, "sh",
                program, *argv[1:]], env


class Pysandbox(Runtime):
    def __init__(self, platform="ptrace"):
        self.platform = platform
        self.name = f"pysandbox:{platform}"

    def unavailable(self):
        from pysandbox.platform import probe_platforms
        for name, usable, reason in probe_platforms():
            if name == self.platform:
                return None if usable else reason
        return f"no platform {self.platform}"

    def command(self, bench, argv, env, container_id):
        cmd = [sys.executable, "-m", "pysandbox", "do", "--platform", self.platform, "--rootfs", bench.rootfs,
               "--clear-env", "--cwd", "/", "--log", os.path.join(bench.work, "pysandbox.log"),
               "--pids-limit", str(PIDS_LIMIT), "--memory-limit", f"{MEMORY_LIMIT_MIB}m"]
        for key, value in env.items():
            cmd += ["--env", f"{key}={value}"]
        return cmd + ["--", *argv], dict(os.environ)


class OciRuntime(Runtime):
    """runc or runsc through its own CLI, with a bundle generated for each attack."""

    def __init__(self, name, binary, extra_flags=()):
        self.name = name
        self.binary = binary
        self.extra_flags = list(extra_flags)

    def unavailable(self):
        if shutil.which(self.binary) is None:
            return f"{self.binary} is not installed"
        if os.geteuid() != 0:
            return "needs root"
        return None

    def command(self, bench, argv, env, container_id):
        bundle = os.path.join(bench.work, "bundles", container_id)
        os.makedirs(bundle)
        with open(os.path.join(bundle, "config.json"), "w") as config:
            json.dump(oci_config(bench.rootfs, argv, env), config, indent=1)
        root = os.path.join(bench.work, f"{self.binary}-root")
        return [self.binary, "--root", root, *self.extra_flags, "run", "--bundle", bundle, container_id], \
            dict(os.environ)

    def cleanup(self, bench, container_id):
        root = os.path.join(bench.work, f"{self.binary}-root")
        try:
            subprocess.run([self.binary, "--root", root, *self.extra_flags, "delete", "--force", container_id],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        except subprocess.TimeoutExpired:
            print(f"pysandbox: security-bench: {self.binary} delete {container_id} did not finish in 30 s",
                  file=sys.stderr)


class DockerRuntime(Runtime):
    """`docker run --runtime RUNTIME` of an image imported from the bench's rootfs, with Docker's
    defaults (its seccomp profile and capabilities) and the bench's limits."""

    def __init__(self, runtime):
        self.runtime = runtime
        self.name = f"docker:{runtime}"
        self.image = None

    def unavailable(self):
        if shutil.which("docker") is None:
            return "docker is not installed"
        try:
            info = subprocess.run(["docker", "info", "--format", "{{json .Runtimes}}"], capture_output=True,
                                  text=True, timeout=30)
        except subprocess.TimeoutExpired:
            return "the docker engine does not answer"
        if info.returncode:
            return "no docker engine is running"
        if self.runtime not in json.loads(info.stdout or "{}"):
            return f"docker has no runtime {self.runtime}"
        return None

    def _image(self, bench):
        if self.image is None:
            import io
            import tarfile
            archive = io.BytesIO()
            with tarfile.open(fileobj=archive, mode="w") as tar:
                tar.add(bench.rootfs, arcname=".")
            tag = f"pysandbox-bench/attacks:{os.getpid()}"
            subprocess.run(["docker", "import", "-", tag], input=archive.getvalue(), check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
            self.image = tag
        return self.image

    def command(self, bench, argv, env, container_id):
        cmd = ["docker", "run", "--rm", "--name", container_id, "--runtime", self.runtime, "--network", "none",
               "--pids-limit", str(PIDS_LIMIT), "--memory", f"{MEMORY_LIMIT_MIB}m",
               "--memory-swap", f"{MEMORY_LIMIT_MIB}m"]
        for key, value in env.items():
            cmd += ["-e", f"{key}={value}"]
        return cmd + [self._image(bench), *argv], dict(os.environ)

    def cleanup(self, bench, container_id):
        _docker("rm", "-f", container_id)

    def close(self):
        if self.image is not None:
            _docker("rmi", "-f", self.image)


def _docker(*args):
    """A docker command whose failure only the report shows (a runtime that cannot stop its
    container leaves it behind, and `docker ps` shows it)."""
    try:
        subprocess.run(["docker", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    except subprocess.TimeoutExpired:
        print(f"pysandbox: security-bench: docker {' '.join(args)} did not finish in 60 s", file=sys.stderr)


def oci_config(rootfs, argv, env):
    """`pysandbox spec`'s config (runc's defaults: namespaces, mounts, masks and capabilities; no
    seccomp profile, as with runc on its own) with this attack's process, a writable root, the
    bench's pids and memory limits, and the bench's own variations on those defaults."""
    from pysandbox.ocishim.spec import default_spec
    config = default_spec(argv)
    process = config["process"]
    process.update(terminal=False, env=["PATH=/bin"] + [f"{k}={v}" for k, v in env.items()])
    del process["capabilities"]["ambient"]
    config.update(root={"path": rootfs, "readonly": False}, hostname="psb-bench-container")
    config["mounts"] = [mount for mount in config["mounts"] if mount["type"] != "mqueue"]
    for mount in config["mounts"]:
        if mount["type"] == "devpts":
            mount["options"].remove("gid=5")
    linux = config["linux"]
    linux["resources"].update(pids={"limit": PIDS_LIMIT}, memory={"limit": MEMORY_LIMIT_MIB << 20})
    linux["maskedPaths"].insert(1, "/proc/asound")
    linux["maskedPaths"].append("/proc/scsi")
    return config


def get_runtime(spec):
    """A Runtime from a --runtime value: native, pysandbox[:ptrace|:kvm], runc, runsc[:PLATFORM] or
    docker:RUNTIME."""
    name, _, variant = spec.partition(":")
    if name == "native" and not variant:
        return Native()
    if name == "pysandbox":
        return Pysandbox(variant or "ptrace")
    if name == "runc" and not variant:
        return OciRuntime("runc", "runc")
    if name == "docker" and variant:
        return DockerRuntime(variant)
    if name == "runsc":
        platform = variant or "ptrace"
        return OciRuntime(f"runsc:{platform}" if variant else "runsc", "runsc",
                          ["--network=none", f"--platform={platform}"])
    raise SandboxError(f"--runtime {spec}: unknown runtime (native, pysandbox[:ptrace|:kvm], runc, "
                       f"runsc[:ptrace|:kvm], docker:RUNTIME)", 2)


# -- running ----------------------------------------------------------------------------------

class Bench:
    def __init__(self, work):
        self.work = work
        self.rootfs = os.path.join(work, "rootfs")
        attacks_dir = os.path.join(work, "attack-programs")
        build_attacks(attacks_dir)
        build_rootfs(self.rootfs, attacks_dir)
        self.canaries = Canaries(work)
        self.runs = 0

    def run(self, attack, runtime):
        self.runs += 1
        container_id = f"psb-bench-{os.getpid()}-{self.runs}"
        self._fresh_tmp()
        self.canaries.reset()
        env = dict(self.canaries.env(), LIMIT=str(_attack_limit(attack.name)))
        argv = [f"/attacks/{attack.program}"] + ([attack.technique] if attack.technique else [])
        cmd, host_env = runtime.command(self, argv, env, container_id)
        if isinstance(runtime, Native):
            host_env = dict(os.environ, **env)
        pass_fds, leaked = (), None
        if attack.name == "leaked_fd":          # the runtime itself starts with a host directory open
            leaked = os.open(self.canaries.dir, os.O_RDONLY | os.O_DIRECTORY)
            os.dup2(leaked, LEAKED_FD, inheritable=True)
            pass_fds = (LEAKED_FD,)
        master, slave = os.openpty() if attack.name == "tiocsti" else (None, None)
        started = time.monotonic()
        sampler = HostFileCounter() if attack.name == "fd_exhaustion" else None
        output, status = _run_bounded(cmd, host_env, stdin=slave, pass_fds=pass_fds)
        seconds = time.monotonic() - started
        if leaked is not None:
            os.close(leaked)
            os.close(LEAKED_FD)
        tty_input = _drain_tty(master, slave)
        runtime.cleanup(self, container_id)
        native_hostname = None
        for line in output.splitlines():
            if line.startswith("psb-native-hostname: "):
                native_hostname = line.split(": ", 1)[1]
        evidence = self.canaries.check(output, tty_input, native_hostname)
        if sampler is not None and sampler.stop() > HOST_FILES_EVIDENCE:
            evidence.append(f"held {sampler.peak} more open files on the host")
        evidence += [line.split(": ", 1)[1] for line in output.splitlines() if line.startswith("evidence: ")]
        attack_spoke = any(line.split(":")[0] in ("evidence", "blocked", "info") or line.startswith("canary read")
                           for line in output.splitlines())
        if evidence:
            result = ESCAPED
        elif status is None:
            result, evidence = ERROR, [f"timed out after {RUN_TIMEOUT} s"]
        elif not attack_spoke:
            result, evidence = ERROR, ["the attack did not run (see output)"]
        else:
            result = CONTAINED
            if status and attack.program == "resources":
                evidence = [f"the container was stopped at the limit (exit status {status})"]
        return Outcome(attack.name, runtime.name, result, evidence, output, round(seconds, 2))

    def _fresh_tmp(self):
        tmp = os.path.join(self.rootfs, "tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp, exist_ok=True)
        os.chmod(tmp, 0o1777)

    def close(self):
        self.canaries.close()


class HostFileCounter:
    """Samples the host's count of open files (fs.file-nr) in a thread: its peak above the count
    before is what a run held on the host."""

    def __init__(self):
        import threading
        self.base = self._count()
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    @staticmethod
    def _count():
        with open("/proc/sys/fs/file-nr") as file_nr:
            return int(file_nr.read().split()[0])

    def _sample(self):
        while not self._done.wait(0.05):
            self.peak = max(self.peak, self._count() - self.base)

    def stop(self):
        self._done.set()
        self._thread.join()
        return self.peak


def _attack_limit(name):
    return {"fork_bomb": PIDS_LIMIT, "fd_exhaustion": FILES_LIMIT}.get(name, MEMORY_LIMIT_MIB)


def _run_bounded(cmd, env, stdin=None, pass_fds=()):
    """Run cmd in its own session with a timeout; kill the whole session on timeout.
    Returns (output, exit status or None on timeout)."""
    try:
        process = subprocess.Popen(cmd, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True, pass_fds=pass_fds)
    except OSError as error:
        return f"cannot start {cmd[0]}: {error.strerror}", 127
    try:
        out, _ = process.communicate(timeout=RUN_TIMEOUT)
        return out.decode("utf-8", "replace"), process.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, _ = process.communicate()
        return out.decode("utf-8", "replace"), None


def _drain_tty(master, slave):
    """What is waiting in the console's input queue (what TIOCSTI pushed)."""
    if master is None:
        return ""
    import termios
    import tty
    try:
        tty.setraw(slave, termios.TCSANOW)
        os.set_blocking(slave, False)
        return os.read(slave, 4096).decode("utf-8", "replace")
    except (BlockingIOError, OSError, termios.error):
        return ""
    finally:
        os.close(master)
        os.close(slave)


def run_bench(runtime_specs, attack_names=None, quick=False, progress=None):
    """Run the suite; returns (runtimes, attacks, outcomes, notes)."""
    runtimes = [get_runtime(spec) for spec in runtime_specs]
    attacks = [a for a in ATTACKS if (not attack_names or a.name in attack_names) and (a.quick or not quick)]
    unknown = set(attack_names or ()) - {a.name for a in ATTACKS}
    if unknown:
        raise SandboxError(f"--attack {sorted(unknown)[0]}: unknown attack (see --list)", 2)
    work = tempfile.mkdtemp(prefix="pysandbox-bench-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None)
    os.chmod(work, 0o755)
    outcomes = []
    bench = Bench(work)
    try:
        for runtime in runtimes:
            reason = runtime.unavailable()
            for attack in attacks:
                if reason:
                    outcome = Outcome(attack.name, runtime.name, UNAVAILABLE, [reason], "", 0.0)
                else:
                    try:
                        outcome = bench.run(attack, runtime)
                    except (OSError, subprocess.SubprocessError) as error:
                        outcome = Outcome(attack.name, runtime.name, ERROR, [f"the harness failed: {error}"], "", 0.0)
                outcomes.append(outcome)
                if progress:
                    progress(outcome)
    finally:
        bench.close()
        for runtime in runtimes:
            runtime.close()
        shutil.rmtree(work, ignore_errors=True)
    return runtimes, attacks, outcomes, broken_tests(attacks, outcomes)


def broken_tests(attacks, outcomes):
    """Attacks that did not escape natively: they prove nothing where they are contained."""
    native = {o.attack: o for o in outcomes if o.runtime == "native"}
    notes = {}
    for attack in attacks:
        outcome = native.get(attack.name)
        if outcome is not None and outcome.result != ESCAPED and outcome.result != UNAVAILABLE:
            notes[attack.name] = ("does not succeed natively either (a broken test, or the host lacks what "
                                  "it needs): " + "; ".join(_blocked_lines(outcome.output)[:2]))
    return notes


def _blocked_lines(output):
    return [line.split(": ", 1)[1] for line in output.splitlines() if line.startswith("blocked: ")]


# -- reports ----------------------------------------------------------------------------------

def markdown_table(runtimes, attacks, outcomes, notes):
    by_key = {(o.attack, o.runtime): o for o in outcomes}
    names = [r.name for r in runtimes]
    lines = ["| attack | what | " + " | ".join(names) + " |",
             "|---|---|" + "---|" * len(names)]
    for attack in attacks:
        cells = []
        for name in names:
            outcome = by_key[(attack.name, name)]
            cells.append(outcome.result if outcome.result != ESCAPED else f"**ESCAPED**: {outcome.evidence[0]}")
        flag = " (broken natively)" if attack.name in notes else ""
        lines.append(f"| {attack.name}{flag} | {attack.what} | " + " | ".join(cells) + " |")
    totals = []
    for name in names:
        results = [by_key[(a.name, name)].result for a in attacks]
        totals.append(f"{results.count(CONTAINED)} contained, {results.count(ESCAPED)} escaped"
                      + (f", {results.count(ERROR)} errors" if ERROR in results else ""))
    lines.append("| **total** | | " + " | ".join(totals) + " |")
    if notes:
        lines.append("")
        lines += [f"* `{name}` {note}" for name, note in notes.items()]
    return "\n".join(lines) + "\n"


def write_report(directory, runtimes, attacks, outcomes, notes):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "security-bench.md"), "w") as md:
        md.write("# pysandbox security-bench\n\n")
        md.write(f"Host: {os.uname().release}; pids limit {PIDS_LIMIT}, memory limit {MEMORY_LIMIT_MIB} MiB; "
                 f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n\n")
        md.write(markdown_table(runtimes, attacks, outcomes, notes))
    with open(os.path.join(directory, "security-bench.json"), "w") as js:
        json.dump({"runtimes": [r.name for r in runtimes],
                   "limits": {"pids": PIDS_LIMIT, "memory_mib": MEMORY_LIMIT_MIB},
                   "broken_natively": notes,
                   "results": [o._asdict() for o in outcomes]}, js, indent=1)


def add_parser(commands):
    parser = commands.add_parser("security-bench", help="run the attack suite in several runtimes")
    parser.add_argument("--runtime", action="append", metavar="RUNTIME",
                        help="native, pysandbox[:ptrace|:kvm], runc, runsc[:ptrace|:kvm] or docker:RUNTIME "
                             "(repeatable; "
                             "default: " + ", ".join(DEFAULT_RUNTIMES) + ")")
    parser.add_argument("--attack", action="append", metavar="NAME", help="run only this attack (repeatable)")
    parser.add_argument("--quick", action="store_true", help="only the quick subset CI runs")
    parser.add_argument("--report", metavar="DIR", help="write security-bench.md and .json there")
    parser.add_argument("--list", action="store_true", help="list the attacks and exit")
    parser.add_argument("--verbose", action="store_true", help="print each run's output")


def run(args):
    if args.list:
        for attack in ATTACKS:
            print(f"{attack.name:20} {attack.what}{' (quick)' if attack.quick else ''}")
        return 0

    def progress(outcome):
        print(f"  {outcome.attack:20} {outcome.runtime:16} {outcome.result}"
              + (f": {outcome.evidence[0]}" if outcome.evidence else ""), file=sys.stderr, flush=True)
        if args.verbose and outcome.output:
            print("    " + outcome.output.rstrip().replace("\n", "\n    "), file=sys.stderr)

    runtimes, attacks, outcomes, notes = run_bench(args.runtime or DEFAULT_RUNTIMES, args.attack, args.quick,
                                                   progress)
    print(markdown_table(runtimes, attacks, outcomes, notes), end="")
    if args.report:
        write_report(args.report, runtimes, attacks, outcomes, notes)
    pysandbox_escapes = [o for o in outcomes if o.runtime.startswith("pysandbox") and o.result in (ESCAPED, ERROR)]
    return 1 if pysandbox_escapes else 0
