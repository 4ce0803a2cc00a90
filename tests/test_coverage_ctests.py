"""The C tests of tests/syscalls: each passes natively (so it is right about Linux) and prints
the very same lines in the sandbox; together they make every syscall the table calls "full"."""
import json
import os
import subprocess

import pytest

from helpers import assert_same, run_native, run_sandbox
from pysandbox.coverage.suites import C_TESTS, CTests
from pysandbox.sentry.syscalls.linux64 import FULL, TABLE

NAMES = sorted(name[:-2] for name in os.listdir(C_TESTS) if name.endswith(".c"))


@pytest.fixture(scope="module")
def binaries(tmp_path_factory):
    """Compiled the way `pysandbox conformance --suite ctests` compiles them."""
    workdir = tmp_path_factory.mktemp("syscall-ctests")
    return {case.name: case.argv[0] for case in CTests().cases(str(workdir))}


@pytest.mark.parametrize("name", NAMES)
def test_c_test_passes_natively_and_in_the_sandbox(name, binaries, as_root, each_platform):
    native = run_native([binaries[name]])
    assert native.status == 0, f"tests/syscalls/{name}.c is wrong about Linux:\n{native}"
    assert "not ok" not in native.out
    sandboxed = run_sandbox([binaries[name]])
    assert_same(native, sandboxed, name)


def test_every_full_row_is_made_by_the_c_tests(binaries, tmp_path, as_root):
    """A syscall is "full" only where a test shows it: every full row must be called, and
    answered, when the C tests run in the sandbox."""
    made = set()
    for name, binary in binaries.items():
        path = tmp_path / f"{name}.json"
        run_sandbox([binary], flags=["--syscall-profile", str(path)])
        for syscall, record in json.loads(path.read_text())["syscalls"].items():
            if set(record["returned"]) != {"ENOSYS"}:     # answered: a result, an errno, or a signal
                made.add(syscall)
    full = {syscall.name for syscall in TABLE.values() if syscall.level == FULL}
    assert sorted(full - made) == [], "full rows no test in tests/syscalls makes"


def test_check_macros_report_failures(tmp_path):
    """check.h itself: a failing check prints "not ok" with what it got, and the exit status
    counts failures (so a C test can fail)."""
    source = tmp_path / "failing.c"
    source.write_text('#include "check.h"\n#include <fcntl.h>\n'
                      'int main(void) {\n'
                      '    CHECK_ERR(sys(SYS_close, 0), EBADF);\n'
                      '    CHECK_RET(sys(SYS_getpid), 0);\n'
                      '    CHECK_OK(open("/nonexistent", O_RDONLY));\n'
                      '    return done();\n}\n')
    binary = tmp_path / "failing"
    subprocess.run(["gcc", "-O2", "-I", C_TESTS, "-o", str(binary), str(source)], check=True)
    result = run_native([str(binary)])
    assert result.status == 3, result
    lines = result.out.splitlines()
    assert lines[0] == "not ok 1 - sys(SYS_close, 0) fails with EBADF: got 0 (-)"
    assert lines[1].startswith("not ok 2 - sys(SYS_getpid) == 0: got ") and lines[1].endswith("(-), want 0")
    assert lines[2:] == ["not ok 3 - open(\"/nonexistent\", O_RDONLY): got -1 (ENOENT)", "1..3"]
