"""Nothing the workload passes to a syscall may crash the sentry or leave host state behind."""
import pytest

from helpers import run_sandbox

CALLS = 3000


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_syscalls_never_break_the_sentry(cprog, seed):
    # Random numbers and arguments (garbage pointers, real buffers with random
    # bytes, small and huge integers); the host's / is shown through the
    # in-memory overlay, so whatever the calls create is thrown away.
    fuzzer = cprog("fuzz_syscalls", static=True)
    r = run_sandbox([fuzzer, str(seed), str(CALLS)], stdin="", timeout=120)
    assert (r.status, r.out) == (0, f"made {CALLS} syscalls\n"), r
    assert "internal error" not in r.log, r.log
    assert "Traceback" not in r.err + r.log


def test_a_stub_making_a_forbidden_host_syscall_ends_the_sandbox_cleanly():
    # The test-only hook makes every stub call getpid(2) before its first mapping: the
    # stub's seccomp filter kills it, and the sandbox ends with one clear line.
    from helpers import TEST_ENV
    r = run_sandbox(["/bin/busybox", "echo", "never printed"],
                    env=dict(TEST_ENV, PYSANDBOX_TEST_STUB_SYSCALL="39"))
    assert r.status == 125, r
    assert r.out == ""
    assert r.err.strip() == ("pysandbox: a stub process died making host syscall 39 for the sentry "
                             "(killed by its seccomp filter, or from outside the sandbox)"), r
