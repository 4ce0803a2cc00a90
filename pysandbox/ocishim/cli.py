"""The runc-compatible command line: `pysandbox [GLOBAL FLAGS] VERB [FLAGS] ID`.

`pysandbox` acts as this CLI whenever its first word after the global flags is
one of VERBS (see pysandbox/cli.py), so Docker, containerd and people can use
it wherever they use runc.
"""
import os
import sys

from pysandbox import fastargs
from pysandbox.sentry.errors import SandboxError

VERSION = "0.1.0"
SPEC_VERSION = "1.0.2"
VERBS = ("create", "start", "run", "state", "kill", "delete", "exec", "ps", "list", "pause", "resume",
         "events", "update", "features", "spec", "wait", "checkpoint", "restore")


def oci_verb(argv):
    """The verb of a runc-style command line ("" for --version or --help after runtime flags), or None."""
    index = 0
    runtime_flags = False
    while index < len(argv):
        word = argv[index]
        name = word.split("=", 1)[0]
        if name in VALUE_FLAGS:
            index += 1 if "=" in word else 2
            runtime_flags = True
        elif name in SWITCH_FLAGS:
            index += 1
        elif word in ("--version", "-v", "--help", "-h"):
            return "" if runtime_flags else None
        elif word.startswith("-"):
            return None
        else:
            return word if word in VERBS else None
    return None


def _parser_class():
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message):
            raise SandboxError(f"{message} (see '{self.prog} --help')", 2)
    return _Parser


_SWITCH = {"action": "store_true"}
# The words runc's --rootless takes: Go's strconv.ParseBool ones, or auto in any case.
_ROOTLESS_WORDS = {"true": ("1", "t", "T", "TRUE", "true", "True"),
                   "false": ("0", "f", "F", "FALSE", "false", "False")}


def rootless_mode(word):
    """runc's --rootless value as "true", "false" or "auto"."""
    if word.lower() == "auto":
        return "auto"
    for mode, words in _ROOTLESS_WORDS.items():
        if word in words:
            return mode
    raise ValueError(f"invalid value {word!r} (true, false or auto)")


# The global flags, before the verb: [(flag names, argparse options)] (a "default" of None for
# --root is state.default_root(), read when parsing).
GLOBAL_FLAGS = [
    (("--root",), {"default": None, "help": "where container state lives"}),
    (("--log",), {"help": "log file (default: stderr)"}),
    (("--log-format",), {"choices": ("text", "json"), "default": "text"}),
    (("--debug",), _SWITCH),
    (("--systemd-cgroup",), dict(_SWITCH, help="accepted for compatibility")),
    (("--rootless",), {"dest": "rootless_cgroups", "type": rootless_mode, "default": "auto",
                       "help": "true, false or auto (default): skip cgroups that can't be made, as runc's "
                               "rootless mode; auto: when not root, or root of a user namespace"}),
    (("--criu",), {"help": "accepted for compatibility"}),
    (("--platform",), {"default": "ptrace", "choices": ("ptrace", "kvm")}),
    (("--strace",), dict(_SWITCH, help="log the workload's syscalls")),
    (("--network",), {"default": "host", "choices": ("none", "host", "sandbox"),
                      "help": "host (default; 'sandbox' too): inet sockets are host sockets of the container's "
                              "network namespace; none: loopback only, inside the sentry"}),
    (("--overlay",), dict(_SWITCH, help="keep the container's writes to its rootfs in memory")),
    (("--no-pin",), {"dest": "pin", "action": "store_false"}),
    (("--version",), _SWITCH),
]
# Global flags that take a value, and those that don't (oci_verb skips both to find the verb).
SWITCH_FLAGS = {name for names, options in GLOBAL_FLAGS if options.get("action") in ("store_true", "store_false")
                for name in names if name != "--version"}
VALUE_FLAGS = {name for names, options in GLOBAL_FLAGS if "action" not in options for name in names}


def _global_flags():
    from pysandbox.ocishim.state import default_root
    root = default_root()
    return [(names, dict(options, default=root) if names == ("--root",) else options)
            for names, options in GLOBAL_FLAGS]


def build_parser(only=None):
    """The parser for the global flags and the verbs (or just verb `only`)."""
    parser_class = _parser_class()
    parser = parser_class(prog="pysandbox", description="pysandbox as an OCI runtime (runc's command line)")
    for names, options in _global_flags():
        if "type" in options:     # --rootless: argparse shows rootless_mode's message
            options = dict(options, type=fastargs.argparse_type(options["type"]))
        parser.add_argument(*names, **options)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=parser_class)
    for name, (help_text, with_id, flags) in VERB_FLAGS.items():
        if only is not None and name != only:
            continue              # a shim's call builds only the verb it uses: start-up counts
        sub = verbs.add_parser(name, help=help_text)
        if with_id:
            sub.add_argument("id", metavar="CONTAINER_ID")
        for names, options in flags:
            sub.add_argument(*names, **options)
    return parser


# The verbs a container's start and end are made of (the shim runs one process for each):
# parse_fast reads their usual command lines without argparse, whose imports and parser
# construction cost each of those processes several ms.
FAST_VERBS = ("create", "start", "state", "kill", "delete")


def parse_fast(argv):
    """The arguments of a plain runc-style command line for one of FAST_VERBS (exact flag names,
    no help), or None for anything else, which argparse then reads (pysandbox/fastargs.py)."""
    global_flags = _global_flags()
    values = fastargs.defaults(global_flags)
    index = fastargs.read(argv, 0, global_flags, values)
    if index is None or index >= len(argv) or argv[index] not in FAST_VERBS or values["version"] \
            or oci_verb(argv) != argv[index]:
        return None
    verb = values["verb"] = argv[index]
    _, with_id, flags = VERB_FLAGS[verb]
    options = [(names, keywords) for names, keywords in flags if names[0].startswith("-")]
    positionals = ([(("id",), {})] if with_id else []) + [(names, keywords) for names, keywords in flags
                                                          if not names[0].startswith("-")]
    values.update(fastargs.defaults(options + positionals))
    if fastargs.read(argv, index + 1, options, values, positionals) != len(argv):
        return None
    return fastargs.Arguments(values)


REMAINDER = "..."       # argparse.REMAINDER's value, without importing argparse
_CREATE_FLAGS = [(("--bundle", "-b"), {"default": "."}), (("--pid-file",), {}), (("--console-socket",), {}),
                 (("--no-pivot",), {"action": "store_true"}), (("--no-new-keyring",), {"action": "store_true"}),
                 (("--preserve-fds",), {"type": int, "default": 0})]
# verb -> (help, takes a container id, [(flag names, argparse options)])
VERB_FLAGS = {
    "create": ("create a container", True, _CREATE_FLAGS),
    "run": ("create and start a container", True,
            _CREATE_FLAGS + [(("--detach", "-d"), _SWITCH), (("--keep",), _SWITCH)]),
    "start": ("run the user process of a created container", True, []),
    "state": ("print a container's state as JSON", True, []),
    "kill": ("send a signal to a container's init (or, with --all, to every process)", True,
             [(("--all", "-a"), _SWITCH), (("signal",), {"nargs": "?", "default": "SIGTERM"})]),
    "delete": ("delete a container's state (killing it with --force)", True, [(("--force", "-f"), _SWITCH)]),
    "exec": ("run a new process in a running container", True, [
        (("--process", "-p"), {}), (("--detach", "-d"), _SWITCH), (("--pid-file",), {}),
        (("--console-socket",), {}), (("--tty", "-t"), _SWITCH), (("--cwd",), {}),
        (("--env", "-e"), {"action": "append", "default": []}), (("--user", "-u"), {}),
        (("--additional-gids", "-g"), {"action": "append", "default": []}),
        (("--preserve-fds",), {"type": int, "default": 0}), (("--no-new-privs",), _SWITCH),
        (("--cap", "-c"), {"action": "append", "default": []}), (("command",), {"nargs": REMAINDER})]),
    "ps": ("list a container's processes", True,
           [(("--format", "-f"), {"choices": ("table", "json"), "default": "table"}),
            (("ps_args",), {"nargs": REMAINDER})]),
    "list": ("list containers", False,
             [(("--format", "-f"), {"choices": ("table", "json"), "default": "table"}), (("--quiet", "-q"), _SWITCH)]),
    "pause": ("stop scheduling a container's processes", True, []),
    "resume": ("resume a paused container", True, []),
    "events": ("print a container's stats and events", True,
               [(("--stats",), _SWITCH), (("--interval",), {"default": "5s"})]),
    "update": ("change a running container's resource limits", True,
               [(("--resources", "-r"), {}), (("--pids-limit",), {"type": int}), (("--memory",), {})]),
    "features": ("print what this runtime supports as JSON", False, []),
    "spec": ("write a default config.json", False, [(("--bundle", "-b"), {"default": "."}), (("--rootless",), _SWITCH)]),
    "wait": ("wait for a container to stop and print its exit status", True, []),
    "checkpoint": ("not supported", True, []),
    "restore": ("not supported", True, []),
}


def _flag_value(argv, flag):
    """A global flag's value read before parsing, so that even a bad command line is logged as asked."""
    for index, word in enumerate(argv):
        if word in VERBS:
            return None
        if word == flag and index + 1 < len(argv):
            return argv[index + 1]
        if word.startswith(flag + "="):
            return word.split("=", 1)[1]
    return None


def main(argv=None):
    from pysandbox.ocishim.log import Log
    argv = sys.argv[1:] if argv is None else argv
    log = Log(_flag_value(argv, "--log"), _flag_value(argv, "--log-format") or "text")
    try:
        args = parse_fast(argv) or build_parser(oci_verb(argv) or None).parse_args(argv)
        log = Log(args.log, args.log_format, args.debug)
        if args.version:
            print(f"pysandbox version {VERSION}\nspec: {SPEC_VERSION}")
            return 0
        if args.verb is None:
            raise SandboxError("missing VERB (create, start, state, kill, delete, exec, ps, ...)", 2)
        from pysandbox.ocishim import verbs
        return verbs.run(args, log)
    except SandboxError as error:
        log.error(str(error))
        return error.exit_status
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # never a traceback for the user
        if os.environ.get("PYSANDBOX_DEBUG"):
            raise
        log.error(f"internal error: {type(error).__name__}: {error}")
        return 1
