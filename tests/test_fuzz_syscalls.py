"""A hypothesis-driven syscall fuzzer: random numbers and arguments, run by a driver inside the
sandbox (tests/cprogs/fuzz_driver.c), each call in a child of its own.

Whatever the calls are, the sentry must not crash or hang, must leave no host process behind
(run_sandbox checks), must not report an internal error, and every call must end with a
valid return value, a real errno (never one of the kernel's internal restart codes), or its
child killed by a signal. PYSANDBOX_FUZZ_EXAMPLES sets the number of sandboxes (default 12,
each running CALLS calls); PYSANDBOX_FUZZ_RANDOM=1 explores new examples instead of the
fixed ones CI replays. Findings are kept below as explicit regression cases.
"""
import errno
import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import run_sandbox

MAGIC = 0xF00D000000000000
ARG_BUFFER, ARG_READ_ONLY, ARG_UNMAPPED, ARG_TO_HOLE, ARG_STRING = (MAGIC | n for n in range(1, 6))
LAST_SYSCALL = 462
# Calls that would take the driver itself down (it is the sandbox's init) rather than the
# child that makes them: signals sent to other processes, and reboot.
EXCLUDED = {62, 200, 234, 129, 297, 424, 169}
MAX_ERRNO = 133                       # EHWPOISON, the largest errno Linux returns to user space
CALLS = 40
EXAMPLES = int(os.environ.get("PYSANDBOX_FUZZ_EXAMPLES", "12"))

numbers = st.one_of(st.integers(0, LAST_SYSCALL), st.sampled_from([-1, 463, 1000, 0x40000000 | 1, 2**63]))
arguments = st.one_of(
    st.sampled_from([0, 1, 2, 3, -1 & (2**64 - 1), 0xFFFFFFFF, 2**63, ARG_BUFFER, ARG_READ_ONLY, ARG_UNMAPPED,
                     ARG_TO_HOLE, ARG_STRING, 0x1000, 0xFFFF800000000000, 0xFFFFFFFFFF600000]),
    st.integers(0, 64),
    st.integers(0, 2**32 - 1),                   # flags, modes, 32-bit fds
    st.integers(0, 2**64 - 1),
)
calls = st.lists(st.tuples(numbers.filter(lambda n: n not in EXCLUDED), st.lists(arguments, min_size=6,
                                                                                   max_size=6)),
                 min_size=1, max_size=CALLS)


def _records(call_list):
    return b"".join(struct.pack("<7Q", nr & (2**64 - 1), *args) for nr, args in call_list)


def run_calls(fuzz_driver, call_list):
    r = run_sandbox([fuzz_driver], stdin=_records(call_list), timeout=120)
    assert "internal error" not in r.err + r.log, r.log
    assert "Traceback" not in r.err + r.log, r.log
    assert r.status == 0, r
    # The host's / is the sandbox's, behind an in-memory layer: nothing may reach the host's files.
    assert not os.path.lexists("/tmp/fuzz-file"), "a call in the sandbox made /tmp/fuzz-file on the host"
    lines = r.out.splitlines()
    assert lines[-1] == f"done {len(call_list)}", r
    for line, (nr, _args) in zip(lines[:-1], call_list):
        number, kind, value = line.split()
        assert int(number) == nr & (2**64 - 1)
        if kind == "ret" and int(value) < 0:
            error = -int(value)
            assert error <= 4095, line                       # a value, not an error: no such negative
            assert 1 <= error <= MAX_ERRNO, f"syscall {nr} returned the invalid errno {error}: {line}"
    return lines


@pytest.fixture(scope="module")
def fuzz_driver(cprog):
    return cprog("fuzz_driver", static=True)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("PYSANDBOX_FUZZ_RANDOM"),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], database=None)
@given(call_list=calls)
def test_random_syscalls_get_valid_results_and_never_break_the_sentry(fuzz_driver, call_list):
    run_calls(fuzz_driver, call_list)


# Regression cases: each was once a finding of the fuzzer (or guards a class of them).
REGRESSIONS = {
    "unknown numbers give ENOSYS": [(1000, [0] * 6), (0x40000000 | 1, [0] * 6), (2**63, [0] * 6)],
    "read-only and unmapped buffers": [(0, [3, ARG_READ_ONLY, 10, 0, 0, 0]), (1, [1, ARG_UNMAPPED, 10, 0, 0, 0]),
                                       (4, [ARG_TO_HOLE, ARG_BUFFER, 0, 0, 0, 0])],
    "kernel addresses": [(2, [0xFFFF800000000000, 0, 0, 0, 0, 0]), (1, [1, 0xFFFFFFFFFF600000, 64, 0, 0, 0])],
    "files made in the sandbox stay in it": [(2, [ARG_STRING, 0o101, 0o644, 0, 0, 0]),     # open(O_CREAT|O_WRONLY)
                                             (83, [ARG_STRING, 0o755, 0, 0, 0, 0])],        # mkdir: EEXIST
}


@pytest.mark.parametrize("name", sorted(REGRESSIONS))
def test_fuzzer_regressions(fuzz_driver, name):
    lines = run_calls(fuzz_driver, REGRESSIONS[name])
    if name == "unknown numbers give ENOSYS":
        assert [line.split()[2] for line in lines[:-1]] == [str(-errno.ENOSYS)] * 3
    if name == "read-only and unmapped buffers":
        assert lines[0].split()[2] == str(-errno.EFAULT)        # read into a read-only page
        assert lines[1].split()[2] == str(-errno.EFAULT)        # write from an unmapped page
