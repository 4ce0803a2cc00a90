"""CPU faults become the signal Linux would send, with its si_code and si_addr."""
import pytest

from helpers import assert_same, run_native, run_sandbox

# Run on every platform the host offers (tests/conftest.py: each_platform).
pytestmark = pytest.mark.usefixtures("each_platform")


@pytest.mark.parametrize("kind", ["segv", "accerr", "bus", "ill", "fpe", "trap"])
@pytest.mark.parametrize("static", [False, True], ids=["dynamic", "static"])
def test_fault_signal_code_and_address(cprog, kind, static):
    program = cprog("faults", static=static)
    native = run_native([program, kind])
    assert native.status == 0 and "recovered" in native.out, native
    assert_same(native, run_sandbox([program, kind]))


def test_an_unhandled_fault_kills_with_that_signal(busybox_rootfs):
    # busybox's own SIGSEGV: the shell reports 139 for a child killed by it.
    r = run_sandbox(["/bin/sh", "-c", "kill -SEGV $$"], rootfs=busybox_rootfs)
    assert r.status == 139, r
