"""kcmp(2) and personality(2) against the host kernel, on every platform: the C checks of
tests/syscalls/kcmp_personality.c, util-linux's setarch and busybox's linux32."""
import pytest
from hypothesis import given, strategies as st

from helpers import assert_same, compare_program_output, run_native, run_sandbox
from pysandbox.coverage.suites import CTests
from pysandbox.sentry.syscalls import sys_kcmp

on_each_platform = pytest.mark.usefixtures("each_platform")


@pytest.fixture(scope="module")
def kcmp_personality_checks(tmp_path_factory):
    (case,) = CTests().cases(str(tmp_path_factory.mktemp("kcmp")), only=["kcmp_personality"])
    return case.argv[0]


@on_each_platform
def test_kcmp_and_personality_c_checks_match_native(kcmp_personality_checks, as_root):
    native = run_native([kcmp_personality_checks])
    assert native.status == 0 and "not ok" not in native.out, native
    sandboxed = run_sandbox([kcmp_personality_checks])
    assert_same(native, sandboxed, "kcmp_personality.c")
    assert sandboxed.out.rstrip().rsplit("\n", 1)[-1].startswith("1.."), "the checks did not run to the end"


@on_each_platform
@pytest.mark.parametrize("argv, expected", [
    (["setarch", "x86_64", "-R", "cat", "/proc/self/personality"], "00040000\n"),
    # A 64-bit exec drops READ_IMPLIES_EXEC and keeps the other flags.
    (["setarch", "x86_64", "--read-implies-exec", "cat", "/proc/self/personality"], "00000000\n"),
    (["setarch", "x86_64", "-R", "--read-implies-exec", "-Z", "cat", "/proc/self/personality"], "00140000\n"),
    (["setarch", "i686", "uname", "-m"], "i686\n"),
    (["setarch", "x86_64", "uname", "-m"], "x86_64\n"),
])
def test_setarch(argv, expected):
    assert compare_program_output(argv) == expected


@on_each_platform
def test_busybox_linux32(busybox_rootfs, as_root):
    argv = ["/bin/busybox", "linux32", "/bin/busybox", "uname", "-m"]
    native = run_native(argv, chroot=busybox_rootfs)
    sandboxed = run_sandbox(argv, rootfs=busybox_rootfs)
    assert_same(native, sandboxed)
    assert sandboxed.out == "i686\n"


@given(st.lists(st.integers(0, 5), min_size=2, max_size=12), st.integers(0, sys_kcmp.KCMP_TYPES - 1))
def test_kcmp_order_is_equality_plus_a_consistent_order(picks, kind):
    """Only "equal" means anything, but unequal resources must order consistently: 0 exactly
    for the same object, 1 one way round and 2 the other; two missing ones (NULL) are equal."""
    pool = [object() for _ in range(6)]
    chosen = [pool[i] for i in picks]
    for a in chosen:
        for b in chosen:
            order = sys_kcmp._order(kind, a, b)
            assert (order == 0) == (a is b)
            assert order in (0, 1, 2)
            assert sys_kcmp._order(kind, b, a) == {0: 0, 1: 2, 2: 1}[order]
    assert sys_kcmp._order(kind, None, None) == 0
