"""C programs from tests/cprogs, compiled by the test (gcc -O2 -pthread, both
dynamically linked and -static), run under pysandbox and natively.

The sandbox runs them with the host's / (no --rootfs), so the dynamic ones
find the host's libc and loader.
"""

from __future__ import annotations


import pytest

from helpers import compare_with_native

# Run on every platform the host offers (tests/conftest.py: each_platform).
pytestmark = pytest.mark.usefixtures("each_platform")


def compare(path, **kw):
    return compare_with_native([path], **kw)


def test_pthreads_mutex_condvar_sum(build):
    r = compare(build("threads_sum"))
    assert r.status == 0
    assert r.out == "threads 8 sum 400040000 expected 400040000\n"


def test_null_dereference_dies_of_sigsegv(build):
    r = compare(build("null_deref"))
    assert r.status == 128 + 11
    assert r.out == "about to dereference NULL\n"


def test_sigsegv_handler_sees_si_addr(build):
    r = compare(build("sigsegv_handler"))
    assert r.status == 0
    assert r.out == "writing to 0x1234\ncaught signal 11 si_signo 11 si_code 1 si_addr 0x1234\n"


def test_unknown_syscall_is_enosys(build):
    r = compare(build("enosys"))
    assert r.status == 0
    assert r.out == "syscall(1000) = -1 errno 38 (ENOSYS)\n"
    # The sandbox reports an unimplemented syscall once per name, in its log.
    assert r.log.count("unimplemented syscall syscall_1000 (1000)") == 1


def test_fork_bomb_under_rlimit_nproc(build):
    r = compare(build("forkbomb"), timeout=120)
    assert (r.status, r.out) == (0, "fork failed: EAGAIN\n")


def test_bad_pointers_get_efault(build):
    # stdin holds data, so read(0, 1, 10) has something to copy out.
    r = compare(build("bad_pointers"), stdin="some input for read\n")
    assert r.status == 0
    assert "after all that: alive\nfailures 0\n" in r.out
    assert "expected EFAULT" not in r.out
