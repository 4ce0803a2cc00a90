"""The pysandbox command line: do, syscalls, platforms."""
import argparse
import os
import sys

from pysandbox.sentry.errors import SandboxError

USAGE_ERROR = 2


def _formatter(prog):
    # A fixed width spares argparse importing shutil (and locale) at every start.
    return argparse.HelpFormatter(prog, width=min(100, int(os.environ.get("COLUMNS", "80") or 80)))


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line gets one line and exit status 2."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _formatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        print(f"pysandbox: {message} (see '{self.prog} --help')", file=sys.stderr)
        sys.exit(USAGE_ERROR)


def _env_pair(text):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--env takes KEY=VALUE, got {text!r}")
    return text


def build_parser():
    parser = _Parser(prog="pysandbox", description="A gVisor-style sandbox in Python.")
    parser.add_argument("--version", action="version", version="pysandbox 0.1.0")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    do = commands.add_parser("do", help="run a program inside a new sandbox")
    do.add_argument("--platform", default="ptrace", help="ptrace (default) or kvm")
    do.add_argument("--rootfs", metavar="DIR", help="directory to use as / (default: the host's /, read-only, "
                                                     "with writes kept in memory)")
    do.add_argument("--strace", action="store_true", help="log every syscall (to the log)")
    do.add_argument("--log", metavar="FILE", help="where the sandbox's own messages go (default: stderr)")
    do.add_argument("--cwd", default="/", metavar="DIR", help="working directory inside the sandbox")
    do.add_argument("--env", action="append", default=[], type=_env_pair, metavar="KEY=VALUE",
                    help="set an environment variable (repeatable)")
    do.add_argument("--clear-env", action="store_true", help="start from an empty environment")
    do.add_argument("--hostname", default="pysandbox", help="the sandbox's hostname")
    do.add_argument("--no-pin", dest="pin", action="store_false",
                    help="do not pin the sentry and its stubs to one CPU")
    do.add_argument("program", nargs=argparse.REMAINDER, metavar="-- PROGRAM [ARGS...]")

    from pysandbox import cli_syscalls
    cli_syscalls.add_parser(commands)

    commands.add_parser("platforms", help="say which platforms work on this host")
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
                       strace=args.strace, pin=args.pin, hostname=args.hostname, log_path=args.log)


def _run_platforms(_args):
    from pysandbox.platform import probe_platforms
    for name, usable, reason in probe_platforms():
        print(f"{name}: {reason}{'' if usable else ' (unavailable)'}")
    return 0


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "do":
            return _run_do(args)
        if args.command == "syscalls":
            from pysandbox import cli_syscalls
            return cli_syscalls.run(args)
        if args.command == "platforms":
            return _run_platforms(args)
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


if __name__ == "__main__":
    sys.exit(main())
