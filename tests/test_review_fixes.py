"""Findings of a code review, each checked against native Linux where Linux has a behaviour:
the kernel release the sandbox reports in every place it shows, and more below."""
import pytest

from helpers import run_native, run_pysandbox, run_sandbox
from pysandbox.ocishim import cli as oci_cli
from pysandbox.security.limits import parse_size
from pysandbox.sentry.errors import SandboxError

# Each line: where the release (or version) shows, then what it says there.
_RELEASE_PLACES = r"""
echo "uname -s: $(uname -s)"
echo "uname -r: $(uname -r)"
echo "uname -v: $(uname -v)"
echo "/proc/version: $(cut -d' ' -f1,3 /proc/version)"
echo "/proc/sys/kernel/ostype: $(cat /proc/sys/kernel/ostype)"
echo "/proc/sys/kernel/osrelease: $(cat /proc/sys/kernel/osrelease)"
echo "/proc/sys/kernel/version: $(cat /proc/sys/kernel/version)"
"""


def _places(output):
    return dict(line.split(": ", 1) for line in output.splitlines())


def test_kernel_release_is_one_everywhere(busybox_rootfs):
    """uname(2), /proc/version and /proc/sys/kernel/{ostype,osrelease,version} agree with each
    other as they do on Linux, and the release is a 5.x-or-later one (the sentry implements
    openat2, close_range, faccessat2, clone3)."""
    for result in (run_native(["/bin/sh", "-c", _RELEASE_PLACES]),
                   run_sandbox(["/bin/sh", "-c", _RELEASE_PLACES], rootfs=busybox_rootfs)):
        assert result.status == 0, result
        places = _places(result.out)
        sysname, release = places["/proc/version"].split()
        assert places["uname -s"] == places["/proc/sys/kernel/ostype"] == sysname == "Linux", result
        assert places["uname -r"] == places["/proc/sys/kernel/osrelease"] == release, result
        assert places["uname -v"] == places["/proc/sys/kernel/version"], result
    major = int(release.split(".")[0])
    assert major >= 5, release


# --- the OCI command line: runc's --rootless takes a value ---

@pytest.mark.parametrize("words", [["--rootless", "true"], ["--rootless=true"], ["--rootless", "auto"],
                                   ["--rootless=False"], ["--rootless", "1"]])
def test_rootless_takes_runcs_values_in_both_forms(words, tmp_path):
    """`runc --rootless true|false|auto`: the value is the flag's, and the verb after it is found."""
    argv = ["--root", str(tmp_path), *words, "state", "nosuch"]
    assert oci_cli.oci_verb(argv) == "state"
    result = run_pysandbox(argv)
    assert (result.status, result.err) == (1, "pysandbox: container nosuch does not exist\n"), result


@pytest.mark.parametrize("words", [["--rootless", "maybe"], ["--rootless=yes"], ["--rootless="]])
def test_rootless_refuses_other_values(words, tmp_path):
    result = run_pysandbox(["--root", str(tmp_path), *words, "state", "nosuch"])
    assert result.status == 2, result
    assert result.out == "" and result.err.count("\n") == 1, result
    assert result.err.startswith("pysandbox: argument --rootless: invalid value"), result


def test_global_flags_are_declared_once():
    """oci_verb's sets of global flags come from the declarations argparse builds its parser from."""
    declared = {name for names, _ in oci_cli.GLOBAL_FLAGS for name in names} - {"--version"}
    assert oci_cli.VALUE_FLAGS | oci_cli.SWITCH_FLAGS == declared
    assert not oci_cli.VALUE_FLAGS & oci_cli.SWITCH_FLAGS
    assert "--rootless" in oci_cli.VALUE_FLAGS and "--debug" in oci_cli.SWITCH_FLAGS


def test_one_size_parser_names_the_flag_it_read():
    assert parse_size("128m", "--memory", minimum=0) == 128 << 20 == parse_size("128MiB")
    assert parse_size("1k", "--memory", minimum=0) == 1024
    with pytest.raises(SandboxError, match=r"^--memory 12q: not a size"):
        parse_size("12q", "--memory", minimum=0)
    with pytest.raises(SandboxError, match=r"^--memory-limit 1k: at least 4 MiB$"):
        parse_size("1k")
