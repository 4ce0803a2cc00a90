"""Plain command lines read without argparse (pysandbox/fastargs.py, for start-up speed): `do`
(cli.parse_do_fast) and the OCI verbs a container's start and end are made of (create, start,
state, kill, delete: ocishim.cli.parse_fast). Whatever a fast reader accepts must mean exactly
what argparse makes of the same words, and whatever it declines goes to argparse."""

from __future__ import annotations

import random
import subprocess
import sys

from hypothesis import given, settings, strategies as st

from pysandbox import cli
from pysandbox.ocishim import cli as oci_cli
from pysandbox.sentry.errors import SandboxError

DO_WORDS = ["--platform", "--platform=ptrace", "--platform=kvm", "--rootfs", "--rootfs=/tmp", "--strace",
            "--strace=1", "--syscall-profile", "--log", "--log=", "--cwd", "--cwd=/tmp", "--env", "--env=A=1",
            "--env=NOEQUALS", "--clear-env", "--hostname", "--network", "--network=host", "--network=bogus",
            "--pids-limit", "--memory-limit=1g", "--overlay", "--no-overlay", "--no-overlay=1", "-v",
            "-v=/tmp:/x", "--volume=/tmp:/data:ro", "--volume=bad", "--tmpfs=/run", "--tmpfs=/run:size=1m",
            "--gofer-mode=gofer", "--gofer-mode=x", "--seccomp", "--seccomp=off", "--no-pin", "--no-pin=1",
            "--plat", "--no-str", "-h", "--help", "--", "-", "-x", "--unknown", "/bin/true", "true", "A=B",
            "/tmp:/data", "ptrace", "host", "debug", "", "a b", "-1", "--no-clear-env"]
OCI_GLOBAL_WORDS = ["--root", "/run/x", "--root=/tmp/r", "--log", "/tmp/l.json", "--log-format", "json",
                    "--log-format=text", "--log-format=xml", "--debug", "--systemd-cgroup", "--rootless", "true",
                    "--platform=kvm", "--network", "none", "--overlay", "--no-pin", "--strace", "--version", "-v",
                    "--ro", "--debug=1"]
OCI_VERB_WORDS = ["create", "start", "state", "kill", "delete", "exec", "ps", "id1", "id-2", "--bundle", "/b", "-b",
                  "--bundle=/b", "--pid-file", "/p.pid", "--console-socket", "/s.sock", "--no-pivot",
                  "--no-new-keyring", "--preserve-fds", "2", "--preserve-fds=x", "--preserve-fds=-1", "--force", "-f",
                  "--all", "-a", "KILL", "9", "-9", "--", "-", "", "--help", "--forc", "-bx"]


def _do_by_argparse(argv):
    """vars() of argparse's parse, or the SystemExit status it ends with."""
    try:
        return vars(cli.build_parser("do").parse_args(argv))
    except SystemExit as stop:
        return ("exit", stop.code)


def _oci_by_argparse(argv):
    """vars() of argparse's parse, or the error it ends with."""
    try:
        return vars(oci_cli.build_parser(oci_cli.oci_verb(argv) or None).parse_args(argv))
    except SandboxError as error:
        return ("error", str(error))
    except SystemExit as stop:
        return ("exit", stop.code)


def _random_do_argv(chooser):
    return ["do", *(chooser.choice(DO_WORDS) for _ in range(chooser.randint(0, 6)))]


def _random_oci_argv(chooser):
    return ([chooser.choice(OCI_GLOBAL_WORDS) for _ in range(chooser.randint(0, 4))]
            + [chooser.choice(oci_cli.FAST_VERBS)] + [chooser.choice(OCI_VERB_WORDS) for _ in range(chooser.randint(0, 5))])


def _check_agreement(argv, fast_parse, by_argparse):
    """Whether the fast reader took argv; if it did, its reading is argparse's."""
    fast = fast_parse(argv)
    if fast is not None:
        assert vars(fast) == by_argparse(argv), argv
    return fast is not None


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(DO_WORDS), max_size=6))
def test_do_agrees_with_argparse(words):
    _check_agreement(["do", *words], cli.parse_do_fast, _do_by_argparse)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(OCI_GLOBAL_WORDS), max_size=4),
       st.sampled_from(oci_cli.FAST_VERBS + ("exec", "list")), st.lists(st.sampled_from(OCI_VERB_WORDS), max_size=5))
def test_oci_verbs_agree_with_argparse(global_words, verb, verb_words):
    _check_agreement([*global_words, verb, *verb_words], oci_cli.parse_fast, _oci_by_argparse)


def test_many_random_command_lines_agree(capsys):
    # random word lists are mostly declined: a fixed, larger sample reaches many accepted ones
    for make_argv, fast_parse, by_argparse, count, enough in (
            (_random_do_argv, cli.parse_do_fast, _do_by_argparse, 3000, 500),
            (_random_oci_argv, oci_cli.parse_fast, _oci_by_argparse, 6000, 100)):
        chooser = random.Random(7)
        accepted = sum(_check_agreement(make_argv(chooser), fast_parse, by_argparse) for _ in range(count))
        assert accepted > enough, (fast_parse, accepted)


def test_plain_do_command_lines_take_the_fast_path():
    for argv in (["do", "/bin/true"], ["do", "--", "/bin/true", "-x"], ["do", "--strace", "--cwd", "/tmp", "ls"],
                 ["do", "--env", "A=1", "--env=B=2", "-v", "/tmp:/data:ro", "--no-overlay", "--no-pin", "x"],
                 ["do", "--network=host", "--seccomp", "debug", "--tmpfs", "/run:size=1m", "sh", "-c", "echo"]):
        assert _check_agreement(argv, cli.parse_do_fast, _do_by_argparse), argv


def test_the_shims_command_lines_take_the_fast_path():
    shim = ["--root", "/run/containerd/runc/moby", "--log", "/b/log.json", "--log-format", "json"]
    for argv in ([*shim, "create", "--bundle", "/b", "--pid-file", "/b/init.pid", "c1"],
                 [*shim, "create", "--bundle", "/b", "--pid-file", "/b/init.pid", "--console-socket", "/s", "c1"],
                 [*shim, "start", "c1"], [*shim, "state", "c1"], [*shim, "kill", "c1", "15"],
                 [*shim, "kill", "--all", "c1", "9"], [*shim, "delete", "c1"], [*shim, "delete", "--force", "c1"],
                 ["--root", "/r", "--systemd-cgroup", "delete", "c1", "--force"]):
        assert _check_agreement(argv, oci_cli.parse_fast, _oci_by_argparse), argv


def test_what_argparse_must_answer_is_left_to_it():
    for argv in (["do", "--help"], ["do", "--plat=kvm", "x"], ["do", "--env", "NOEQUALS", "x"],
                 ["do", "--network", "bogus", "x"], ["do", "--cwd"], ["do", "--strace=1", "x"], ["syscalls"],
                 ["--version"], ["create", "--bundle", "b", "id"]):
        assert cli.parse_do_fast(argv) is None, argv
    for argv in (["state"], ["kill"], ["start", "a", "b"], ["--version"], ["--version", "state", "x"],
                 ["create", "--bundle"], ["delete", "--forc", "x"], ["--root", "/r", "exec", "x", "ls"],
                 ["--log-format", "xml", "state", "x"], ["state", "--help"], ["--rootless", "delete", "kill", "x"]):
        assert oci_cli.parse_fast(argv) is None, argv


def test_the_fast_paths_import_no_argparse():
    script = ("import sys; from pysandbox import cli; do = cli.parse_do_fast(['do', '--strace', '/bin/true']); "
              "print(do.program, 're' in sys.modules); from pysandbox.ocishim import cli as oci; "
              "state = oci.parse_fast(['--root', '/r', 'state', 'x']); print(state.id, 'argparse' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["['/bin/true']", "False", "x", "False"], result
