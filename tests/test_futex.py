"""futex(2) against native Linux, with real waiters: WAIT/WAKE and their
errors, relative and absolute timeouts on both clocks, bitsets, REQUEUE and
CMP_REQUEUE, WAKE_OP, shared futexes across fork, and signals during a wait.
"""

from __future__ import annotations

import pytest

from helpers import assert_same, run_native, run_sandbox


@pytest.mark.parametrize("static", [False, True], ids=["dynamic", "static"])
def test_futex_operations(cprog, static):
    path = cprog("futex_ops", static=static)
    native = run_native([path])
    sandboxed = run_sandbox([path])
    assert_same(native, sandboxed)
    assert sandboxed.status == 0
    for line in [
        "WAIT with a different value: -1 EAGAIN",
        "WAIT unaligned address: -1 EINVAL",
        "shared WAKE on unmapped memory: -1 EFAULT",
        "REQUEUE with a negative count: -1 EINVAL",
        "WAIT_BITSET absolute CLOCK_REALTIME +50ms: -1 ETIMEDOUT",
        "WAIT relative 50ms with FUTEX_CLOCK_REALTIME: -1 ENOSYS",
        "WAIT_BITSET absolute deadline in the past: -1 ETIMEDOUT",
        "WAKE 0 of 3 (Linux wakes one): 1",
        "WAKE_BITSET 0x2 with waiters on 0x1 and 0x2: 1",
        "CMP_REQUEUE with a stale value: -1 EAGAIN",
        "REQUEUE wake 1, move 1: 2",
        "WAKE_OP or 1<<4 if old > 7 (true): 1",
        "  second word now 24",
        "shared: private WAKE misses it: 0",
        "  child woke and exited 33",
        "WAIT without timeout, handler without SA_RESTART: -1 EINTR",
        "WAIT with timeout, SA_RESTART handler: -1 EINTR",
        "WAIT without timeout, SA_RESTART handler, then woken: 0",
        "timed WAIT stopped and continued: ETIMEDOUT after 300ms: yes",
    ]:
        assert line + "\n" in sandboxed.out
    assert sandboxed.out.count("  waited 50ms to 500ms: yes\n") == 3
