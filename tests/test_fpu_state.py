"""The FPU/SIMD state of interrupted code survives a signal handler, AVX registers included."""
import pytest

from helpers import assert_same, run_native, run_sandbox

# Run on every platform the host offers (tests/conftest.py: each_platform).
pytestmark = pytest.mark.usefixtures("each_platform")


def test_avx_registers_survive_a_handler_that_clobbers_them(cprog):
    program = cprog("avx_signal")
    native = run_native([program])
    assert native.status == 0, native
    assert_same(native, run_sandbox([program]))
