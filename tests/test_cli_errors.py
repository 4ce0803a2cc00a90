"""Bad input to the `pysandbox` command line: one clear line on stderr, the
right exit status, and never a Python traceback.

  do /nope                    -> "pysandbox: /nope: no such file or directory", 127
  do NON-EXECUTABLE-FILE      -> one "pysandbox: PATH: ..." line, 126
  bad flags / missing program -> one usage line, 2
"""

from __future__ import annotations

import os

import pytest

from helpers import no_traceback, run_pysandbox


def lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def one_line(result) -> str:
    no_traceback(result)
    got = lines(result.err)
    assert len(got) == 1, f"expected exactly one line on stderr:\n{result}"
    return got[0]


def test_missing_program():
    r = run_pysandbox(["do", "--", "/nope"])
    assert r.status == 127, r
    assert one_line(r) == "pysandbox: /nope: no such file or directory"
    assert r.out == ""


def test_missing_program_in_rootfs(busybox_rootfs):
    r = run_pysandbox(["do", "--rootfs", busybox_rootfs, "--", "/nope"])
    assert r.status == 127, r
    assert one_line(r) == "pysandbox: /nope: no such file or directory"


def test_missing_program_without_double_dash():
    r = run_pysandbox(["do", "/nope"])
    assert r.status == 127, r
    assert one_line(r) == "pysandbox: /nope: no such file or directory"


def test_program_not_on_path():
    r = run_pysandbox(["do", "--", "no-such-command-xyz"])
    assert r.status == 127, r
    assert one_line(r).startswith("pysandbox: no-such-command-xyz: ")


def test_not_executable(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("just text\n")
    os.chmod(path, 0o644)
    os.chmod(tmp_path, 0o755)
    r = run_pysandbox(["do", "--", str(path)])
    assert r.status == 126, r
    assert one_line(r).startswith(f"pysandbox: {path}: ")


def test_directory_is_not_executable(tmp_path):
    r = run_pysandbox(["do", "--", str(tmp_path)])
    assert r.status == 126, r
    assert one_line(r).startswith(f"pysandbox: {tmp_path}: ")


def test_not_an_executable_format(tmp_path):
    path = tmp_path / "garbage"
    path.write_bytes(b"\x00\x01\x02 this is not an ELF file nor a script\n")
    os.chmod(path, 0o755)
    r = run_pysandbox(["do", "--", str(path)])
    assert r.status == 126, r
    assert one_line(r).startswith(f"pysandbox: {path}: ")


@pytest.mark.parametrize("args, mentions", [
    (["do", "--bogus-flag", "--", "/bin/true"], "--bogus-flag"),
    (["do", "--platform=no-such-platform", "--", "/bin/true"], "no-such-platform"),
    (["do", "--env", "NO_EQUALS_SIGN", "--", "/bin/true"], "NO_EQUALS_SIGN"),
    (["do"], ""),
    (["do", "--"], ""),
    (["no-such-subcommand"], "no-such-subcommand"),
    (["syscalls", "--format", "xml"], "xml"),
    ([], ""),
])
def test_usage_errors(args, mentions):
    r = run_pysandbox(args)
    assert r.status == 2, r
    line = one_line(r)
    assert mentions in line, r
    assert r.out == "", r


def test_missing_rootfs_directory():
    r = run_pysandbox(["do", "--rootfs", "/no/such/rootfs", "--", "/bin/true"])
    assert r.status != 0, r
    assert "/no/such/rootfs" in one_line(r)
