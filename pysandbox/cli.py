"""The pysandbox command line: do, syscalls, platforms."""
import atexit
import gc
import os
import sys

from pysandbox import fastargs
from pysandbox.fastargs import OPTIONAL_BOOL
from pysandbox.sentry.errors import SandboxError
from pysandbox.starttrace import mark

USAGE_ERROR = 2


def _formatter(prog):
    # A fixed width spares argparse importing shutil (and locale) at every start.
    import argparse
    return argparse.HelpFormatter(prog, width=min(100, int(os.environ.get("COLUMNS", "80") or 80)))


def _parser_class():
    """argparse's parser, but a bad command line gets one line and exit status 2 (argparse is
    imported only when a parser is built: `do` reads a plain command line without it)."""
    import argparse

    class _Parser(argparse.ArgumentParser):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("formatter_class", _formatter)
            super().__init__(*args, **kwargs)

        def error(self, message):
            print(f"pysandbox: {message} (see '{self.prog} --help')", file=sys.stderr)
            sys.exit(USAGE_ERROR)
    return _Parser


def _env_pair(text):
    if "=" not in text:
        raise ValueError(f"--env takes KEY=VALUE, got {text!r}")
    return text


def _volume(text):
    from pysandbox.sentry.vfs.mount import volume_spec
    return volume_spec(text)


def _tmpfs(text):
    from pysandbox.sentry.vfs.mount import tmpfs_spec
    return tmpfs_spec(text)


# `do`'s options, as argparse declarations: argparse builds the parser from them (help, errors,
# abbreviations), and parse_do_fast reads a plain command line with them (pysandbox/fastargs.py).
DO_OPTIONS = (
    (("--platform",), {"default": "ptrace", "help": "ptrace (default) or kvm"}),
    (("--rootfs",), {"metavar": "DIR", "help": "directory to use as / (default: the host's /, read-only, "
                                               "with writes kept in memory)"}),
    (("--strace",), {"action": "store_true", "help": "log every syscall (to the log)"}),
    (("--syscall-profile",), {"metavar": "OUT.json", "help": "record every syscall the workload makes (counts, "
                                                             "errnos, partial paths) as JSON"}),
    (("--log",), {"metavar": "FILE", "help": "where the sandbox's own messages go (default: stderr)"}),
    (("--cwd",), {"default": "/", "metavar": "DIR", "help": "working directory inside the sandbox"}),
    (("--env",), {"action": "append", "default": [], "type": _env_pair, "metavar": "KEY=VALUE",
                  "help": "set an environment variable (repeatable)"}),
    (("--clear-env",), {"action": "store_true", "help": "start from an empty environment"}),
    (("--hostname",), {"default": "pysandbox", "help": "the sandbox's hostname"}),
    (("--network",), {"choices": ("host", "none"), "default": "none",
                      "help": "none (default): loopback only, inside the sandbox; host: inet sockets are host "
                              "sockets of the sandbox's network namespace"}),
    (("--pids-limit",), {"metavar": "N", "help": "at most N tasks (processes and threads) in the sandbox"}),
    (("--memory-limit",), {"metavar": "SIZE", "help": "at most SIZE bytes of memory (256m, 1g; enforced by a "
                                                      "host cgroup where there is one)"}),
    (("--overlay",), {"action": OPTIONAL_BOOL, "default": None,
                      "help": "keep the rootfs read-only and the sandbox's changes in memory until exit "
                              "(default: on for the host's /, off for --rootfs)"}),
    (("-v", "--volume"), {"action": "append", "default": [], "type": _volume, "metavar": "SRC:DST[:ro]",
                          "help": "bind-mount host directory or file SRC at DST (repeatable)"}),
    (("--tmpfs",), {"action": "append", "default": [], "type": _tmpfs, "metavar": "DST[:OPTS]",
                    "help": "mount a tmpfs at DST, OPTS as mount(8)'s: size=64m,mode=1777,ro (repeatable)"}),
    (("--gofer-mode",), {"choices": ("directfs", "gofer"), "default": None,
                         "help": "directfs (default): the sentry makes *at calls on directory fds the gofer "
                                 "opened; gofer: every host file access is a request to the gofer process"}),
    (("--seccomp",), {"choices": ("kill", "debug", "off"), "default": None,
                      "help": "the sentry's own host syscall filter: kill (a denied call ends the sandbox with "
                              "one log line naming it), debug (log it, the call fails with ENOSYS), off"}),
    (("--no-pin",), {"dest": "pin", "action": "store_false",
                     "help": "do not pin the sentry and its stubs to one CPU"}),
)


def _add_do(commands):
    import argparse
    do = commands.add_parser("do", help="run a program inside a new sandbox")
    for names, options in DO_OPTIONS:
        if options.get("action") == OPTIONAL_BOOL:
            options = dict(options, action=argparse.BooleanOptionalAction)
        if "type" in options:
            options = dict(options, type=fastargs.argparse_type(options["type"]))
        do.add_argument(*names, **options)
    do.add_argument("program", nargs=argparse.REMAINDER, metavar="-- PROGRAM [ARGS...]")


def parse_do_fast(argv):
    """`do`'s arguments from a plain command line (`do [OPTIONS] [--] PROGRAM ...` with exact option
    names), or None for anything else (help, abbreviations, bad values), which argparse reads."""
    if not argv or argv[0] != "do":
        return None
    values = dict(fastargs.defaults(DO_OPTIONS), command="do")
    index = fastargs.read(argv, 1, DO_OPTIONS, values)
    if index is None:
        return None
    values["program"] = argv[index:]
    return fastargs.Arguments(values)


def _add_platforms(commands):
    commands.add_parser("platforms", help="say which platforms work on this host")


# The subcommands, in --help's order: the commands each group provides, and the module and
# function that add their parsers to the subparsers action. Only the group of the command on
# the command line is imported and built (all of them for --help or a mistake), which keeps
# `pysandbox do` from paying for every other command's imports at start-up.
COMMAND_GROUPS = (
    (("do",), "pysandbox.cli", "_add_do"),
    (("syscalls",), "pysandbox.cli_syscalls", "add_parser"),
    (("profile", "conformance"), "pysandbox.cli_coverage", "add_parsers"),
    (("platforms",), "pysandbox.cli", "_add_platforms"),
    (("security-bench",), "pysandbox.security.bench", "add_parser"),
    (("footprint",), "pysandbox.security.footprint", "add_parser"),
)


# The OCI verbs a container's start and end are made of: each a short process, or (create,
# run) one that starts a sandbox, whose Kernel.run turns the collector back on.
GC_FREE_VERBS = ("create", "run", "start", "state", "kill", "delete")


def _requested_command(argv):
    """The subcommand named on the command line, or None (none given, or only top-level options)."""
    for word in argv:
        if not word.startswith("-"):
            return word
        if word == "--":
            return None
    return None


def build_parser(command=None):
    """The parser; with `command`, only that subcommand's group is built (if it is a known one)."""
    parser_class = _parser_class()
    parser = parser_class(prog="pysandbox", description="A gVisor-style sandbox in Python.",
                          epilog="As an OCI runtime it takes runc's command line, pysandbox [--root DIR] VERB "
                                 "... with VERB one of create, start, run, state, kill, delete, exec, ps, list, "
                                 "pause, resume, events, update, features, spec, wait (see docs/OCI.md).")
    parser.add_argument("--version", action="version", version="pysandbox 0.1.0")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=parser_class)
    groups = [group for group in COMMAND_GROUPS if command in group[0]] or COMMAND_GROUPS
    for _, module_name, function_name in groups:
        module = sys.modules.get(module_name) or __import__(module_name, fromlist=[function_name])
        getattr(module, function_name)(commands)
    return parser


def _run_do(args):
    from pysandbox.runner import run_program
    program = args.program[1:] if args.program[:1] == ["--"] else args.program
    if not program:
        raise SandboxError("do: missing PROGRAM (usage: pysandbox do [OPTIONS] -- PROGRAM [ARGS...])", USAGE_ERROR)
    if args.rootfs is not None and not os.path.isdir(args.rootfs):
        raise SandboxError(f"--rootfs {args.rootfs}: not a directory", USAGE_ERROR)
    env = [] if args.clear_env else [f"{k}={v}" for k, v in os.environ.items()]
    overrides = {item.split("=", 1)[0] for item in args.env}
    env = [item for item in env if item.split("=", 1)[0] not in overrides] + args.env
    return run_program(program, platform_name=args.platform, rootfs=args.rootfs, cwd=args.cwd, env=env,
                       strace=args.strace, pin=args.pin, hostname=args.hostname, log_path=args.log,
                       syscall_profile=args.syscall_profile, network=args.network,
                       mounts=args.volume + args.tmpfs, gofer_mode=args.gofer_mode, overlay=args.overlay,
                       seccomp=args.seccomp, **_limits(args))


def _limits(args):
    from pysandbox.security.limits import parse_pids, parse_size
    return {"pids_limit": None if args.pids_limit is None else parse_pids(args.pids_limit),
            "memory_limit": None if args.memory_limit is None else parse_size(args.memory_limit)}


def _run_platforms(_args):
    from pysandbox.platform import probe_platforms
    for name, usable, reason in probe_platforms():
        print(f"{name}: {reason}{'' if usable else ' (unavailable)'}")
    return 0


def main(argv=None):
    mark("cli: main")
    argv = sys.argv[1:] if argv is None else argv
    args = parse_do_fast(argv)
    if args is None:
        from pysandbox.ocishim.cli import oci_verb
        verb = oci_verb(argv)
        if verb is not None:
            if verb not in GC_FREE_VERBS:
                gc.enable()
            from pysandbox.ocishim.cli import main as oci_main
            return oci_main(argv)
        args = build_parser(_requested_command(argv)).parse_args(argv)
    if args.command != "do":
        gc.enable()
    try:
        if args.command == "do":
            return _run_do(args)
        if args.command == "syscalls":
            from pysandbox import cli_syscalls
            return cli_syscalls.run(args)
        if args.command == "platforms":
            return _run_platforms(args)
        if args.command == "security-bench":
            from pysandbox.security import bench
            return bench.run(args)
        if args.command == "footprint":
            from pysandbox.security import footprint
            return footprint.run(args)
        if args.command in ("profile", "conformance"):
            from pysandbox import cli_coverage
            return cli_coverage.run(args)
        print("pysandbox: missing COMMAND (do, syscalls, platforms; see 'pysandbox --help')", file=sys.stderr)
        return USAGE_ERROR
    except SandboxError as error:
        print(f"pysandbox: {error}", file=sys.stderr)
        return error.exit_status
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # the last line of defence: never a traceback for the user
        if os.environ.get("PYSANDBOX_DEBUG"):
            raise
        print(f"pysandbox: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        return 125


def run():
    """The `pysandbox` command: main(), then an immediate exit. The interpreter's own teardown
    of every module costs ~4 ms per command and does nothing a process exit doesn't do, so
    only the exit handlers run (a host cgroup is removed by one) and stdio is flushed."""
    # No cyclic garbage collection while a sandbox starts: the objects made then are the sentry's
    # own, for its whole life, and the collector would go over them a dozen times (~2 ms).
    # Kernel.run turns it back on; main() does for every command but `do` and GC_FREE_VERBS.
    gc.disable()
    status = main()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(status if isinstance(status, int) else 0)


if __name__ == "__main__":
    run()
