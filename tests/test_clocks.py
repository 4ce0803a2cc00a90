"""CPU time: clocks, times(2) and getrusage(2) see the workload's computing, like Linux."""
from helpers import assert_same, run_native, run_sandbox


def test_cpu_time_of_the_process_and_its_waited_children(cprog):
    program = cprog("cpu_time")
    native = run_native([program])
    assert native.out == ("at start: idle\nprocess clock busy, rusage busy\n"
                          "children before wait: idle\nchildren after wait: busy, rusage busy\n"), native
    assert_same(native, run_sandbox([program]))
