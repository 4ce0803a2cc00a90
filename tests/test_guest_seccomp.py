"""seccomp(2) for the workload: filters the guest installs run in the sentry (docs/SECCOMP_GUEST.md).

tests/cprogs/seccomp_guest.c plays one scenario per run (strict mode, ERRNO and KILL, TRAP's
siginfo, chains and precedence, TSYNC, fork/exec inheritance, validation errnos, privileges,
GET_ACTION_AVAIL, user notification through a listener fd); natively and in the sandbox it must print the same and end the same way.
tests/cprogs/seccomp_bpf_driver.c loads random programs from hypothesis, mostly valid by
construction, some broken, and reports what each did to a set of probe syscalls.
"""
import errno

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import helpers
from pysandbox.sentry import seccomp_guest as sg
from pysandbox.sentry.errors import SyscallError

SIGSYS_STATUS = 128 + 31


@pytest.fixture(scope="module")
def scenario(cprog):
    return cprog("seccomp_guest")


def _same_as_native(argv):
    native = helpers.run_native(argv)
    sandboxed = helpers.run_sandbox(argv)
    helpers.assert_same(native, sandboxed)
    helpers.no_traceback(sandboxed)
    return sandboxed


@pytest.mark.parametrize("mode, status", [("strict", 3), ("strict-kill", 128 + 9)])
def test_strict_mode_allows_four_syscalls_and_kills_on_others(scenario, mode, status, each_platform):
    result = _same_as_native([scenario, mode])
    assert result.status == status
    assert "in strict mode" in result.out


def test_errno_actions_and_kill_process(scenario, each_platform):
    result = _same_as_native([scenario, "errno-kill"])
    assert result.status == SIGSYS_STATUS
    assert "getpid: -1 EACCES" in result.out and "getuid: -1 errno 4095" in result.out
    assert "status Seccomp:\t2\n" in result.out and "status Seccomp_filters:\t1\n" in result.out
    assert "not reached" not in result.out


def test_trap_sends_sigsys_with_the_syscalls_details(scenario, each_platform):
    result = _same_as_native([scenario, "trap"])
    assert "SIGSYS signo=31 code=1 errno=66 syscall=102 arch=0xc000003e call_addr_is_rip=1 rax=102" in result.out
    assert "getuid: 4242" in result.out
    # The second trap comes with SIGSYS blocked: forced, its default action kills.
    assert result.status == SIGSYS_STATUS


def test_chain_precedence_and_return_data(scenario, each_platform):
    result = _same_as_native([scenario, "chain"])
    for line in ("getpid (ERRNO 1, then ERRNO 2): -1 ENOENT", "getuid (TRACE, ERRNO 7): -1 E2BIG",
                 "geteuid (TRACE, no tracer): -1 ENOSYS", "sched_yield (RET A): -1 EMFILE",
                 "umask(0x8001): -1 ENOENT", "status Seccomp_filters:\t2"):
        assert line in result.out
    assert result.status == SIGSYS_STATUS          # an unknown action kills the process


def test_strace_shows_calls_a_filter_answered(scenario):
    result = helpers.run_sandbox([scenario, "chain"], flags=["--strace"])
    trace = result.err + result.log
    assert "getpid() = -1 ENOENT" in trace and "(seccomp)" in trace, result


def test_tsync_and_kill_thread(scenario, each_platform):
    result = _same_as_native([scenario, "tsync"])
    assert "thread 0 getpid: EPERM\nthread 1 getpid: EPERM" in result.out
    assert "returns its tid: 1" in result.out and "TSYNC|TSYNC_ESRCH against it: -1 ESRCH" in result.out
    assert "main thread survives" in result.out
    assert result.status == SIGSYS_STATUS


def test_filters_are_inherited_over_fork_and_exec(scenario, each_platform):
    result = _same_as_native([scenario, "inherit"])
    assert "exec'd getpid: -1 EOPNOTSUPP" in result.out and "getpid still denied" in result.out
    assert result.status == 0


@pytest.mark.parametrize("mode", ["validation", "privileges"])
def test_programs_are_checked_as_linux_checks_them(scenario, mode, each_platform):
    result = _same_as_native([scenario, mode])
    assert result.status == 0
    if mode == "validation":
        assert result.out.count("-1 EINVAL") >= 17
        assert "filters of 4096 accepted: 7, then ENOMEM" in result.out
    else:
        assert "uid 65534 without no_new_privs: -1 EACCES" in result.out


def test_action_availability(scenario, each_platform):
    result = _same_as_native([scenario, "actions"])
    assert "GET_ACTION_AVAIL TRAP: 0" in result.out
    assert "sizes: notif 80 resp 24 data 64" in result.out


def test_user_notification(scenario, each_platform):
    result = _same_as_native([scenario, "notify"])
    assert "child getppid (answered 42): 42\nchild getuid (answered EPERM): -1 EPERM\n" in result.out
    assert "child getgid (CONTINUE): 0" in result.out and "second listener in the chain: -1 EBUSY" in result.out
    assert "read from it: 5 hello" in result.out and "ADDFD SETFD 50: 50" in result.out
    assert "interrupted then restarted: 77" in result.out and "NOTIF_ID_VALID of the first: -1 ENOENT" in result.out
    assert "getppid once the listener is closed: -1 ENOSYS" in result.out
    assert "SIGUSR1 handler ran\nchild getpgid, answered despite SIGUSR1: 99" in result.out
    assert result.status == 0


def test_a_libseccomp_program(cprog, each_platform):
    """libseccomp probes the kernel's API level, compiles rules (one compares an argument) and
    loads them; its notification helpers talk to the listener."""
    program = cprog("seccomp_libseccomp")
    native = helpers.run_native([program])
    if native.status == 77:
        pytest.skip("libseccomp.so.2 is not installed on this host")
    sandboxed = helpers.run_sandbox([program])
    helpers.assert_same(native, sandboxed)
    assert "getpid: -1 EPERM\nsocket(AF_INET): -1 EAFNOSUPPORT\nsocket(AF_UNIX) works: 1" in sandboxed.out
    assert "answered by the parent: 1234" in sandboxed.out


# -- random programs -----------------------------------------------------------------------------------
_RETURNS = [sg.SECCOMP_RET_ALLOW] * 4 + [sg.SECCOMP_RET_ERRNO | 1, sg.SECCOMP_RET_LOG, sg.SECCOMP_RET_TRAP | 3, sg.SECCOMP_RET_ERRNO | 4095,
            sg.SECCOMP_RET_ERRNO | 0xFFFF, sg.SECCOMP_RET_TRAP | 9, sg.SECCOMP_RET_KILL_THREAD,
            sg.SECCOMP_RET_KILL_PROCESS, sg.SECCOMP_RET_TRACE, sg.SECCOMP_RET_USER_NOTIF, sg.SECCOMP_RET_LOG,
            0x00010000]
_CONSTANTS = [0, 1, 2, 24, 95, 102, 104, 107, 0x7FFFFFFF, 0x80000000, sg.AUDIT_ARCH_X86_64, 0xFFFFFFFF, 0x12]
_ALU = [sg.BPF_ADD, sg.BPF_SUB, sg.BPF_MUL, sg.BPF_DIV, sg.BPF_AND, sg.BPF_OR, sg.BPF_XOR, sg.BPF_LSH, sg.BPF_RSH]
_JUMPS = [sg.BPF_JEQ, sg.BPF_JGT, sg.BPF_JGE, sg.BPF_JSET]


@st.composite
def _instruction(draw, remaining):
    """One instruction of a valid program with `remaining` instructions after it (the last is a RET)."""
    kind = draw(st.sampled_from(["load", "load", "imm", "alu", "alu", "jump", "jump", "misc", "mem", "ret"]))
    if kind == "load":
        return (sg.BPF_LD | sg.BPF_W | sg.BPF_ABS, 0, 0, draw(st.sampled_from(range(0, 64, 4))))
    if kind == "imm":
        return (draw(st.sampled_from([sg.BPF_LD, sg.BPF_LDX])) | sg.BPF_IMM, 0, 0, draw(st.sampled_from(_CONSTANTS)))
    if kind == "alu":
        op = draw(st.sampled_from(_ALU + [sg.BPF_NEG]))
        if op == sg.BPF_NEG:
            return (sg.BPF_ALU | op, 0, 0, 0)
        source = draw(st.sampled_from([sg.BPF_K, sg.BPF_X]))
        k = draw(st.integers(1, 31) if op in (sg.BPF_LSH, sg.BPF_RSH) else st.sampled_from(_CONSTANTS[1:]))
        return (sg.BPF_ALU | op | source, 0, 0, k)
    if kind == "jump" and remaining > 0:
        op = draw(st.sampled_from(_JUMPS))
        return (sg.BPF_JMP | op | draw(st.sampled_from([sg.BPF_K, sg.BPF_X])), draw(st.integers(0, min(remaining - 1, 255))),
                draw(st.integers(0, min(remaining - 1, 255))), draw(st.sampled_from(_CONSTANTS)))
    if kind == "misc":
        return (sg.BPF_MISC | draw(st.sampled_from([sg.BPF_TAX, sg.BPF_TXA])), 0, 0, 0)
    if kind == "mem":
        code = draw(st.sampled_from([sg.BPF_ST, sg.BPF_STX, sg.BPF_ST, sg.BPF_STX, sg.BPF_LD | sg.BPF_MEM,
                                     sg.BPF_LDX | sg.BPF_MEM, sg.BPF_LD | sg.BPF_W | sg.BPF_LEN,
                                     sg.BPF_LDX | sg.BPF_W | sg.BPF_LEN]))
        return (code, 0, 0, draw(st.integers(0, 3)))
    return _return(draw)


def _return(draw):
    if draw(st.integers(0, 7)) == 0:
        return (sg.BPF_RET | sg.BPF_A, 0, 0, 0)
    return (sg.BPF_RET | sg.BPF_K, 0, 0, draw(st.sampled_from(_RETURNS)))


@st.composite
def _program(draw):
    length = draw(st.integers(1, 12))
    insns = [draw(_instruction(length - 1 - pc)) for pc in range(length - 1)] + [_return(draw)]
    if draw(st.integers(0, 3)) == 0:             # break it now and then
        pc = draw(st.integers(0, length - 1))
        insns[pc] = (draw(st.integers(0, 0xB7)), draw(st.integers(0, 20)), draw(st.integers(0, 20)),
                     draw(st.sampled_from(_CONSTANTS + [2, 16, 64, 0xFFFFF000])))
    return insns


def _encode(insns):
    return ";".join(f"{code},{jt},{jf},{k}" for code, jt, jf, k in insns)


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs=st.lists(_program(), min_size=5, max_size=5))
def test_random_programs_act_as_on_linux(cprog, each_platform, programs):
    driver = cprog("seccomp_bpf_driver", static=True)
    argv = [driver, *map(_encode, programs)]
    native = helpers.run_native(argv)
    assert native.status == 0, native
    sandboxed = helpers.run_sandbox(argv)
    helpers.assert_same(native, sandboxed, "\n".join(map(_encode, programs)))


# -- the checker and interpreter on their own ------------------------------------------------------------
def test_checker_refuses_what_seccomp_refuses():
    ret_allow = (sg.BPF_RET | sg.BPF_K, 0, 0, sg.SECCOMP_RET_ALLOW)
    with pytest.raises(SyscallError) as caught:
        sg.check_program([(sg.BPF_ALU | sg.BPF_MOD | sg.BPF_K, 0, 0, 3), ret_allow])
    assert caught.value.errno == errno.EINVAL
    sg.check_program([(sg.BPF_LD | sg.BPF_W | sg.BPF_ABS, 0, 0, 60), ret_allow])


_LD_ABS = sg.BPF_LD | sg.BPF_W | sg.BPF_ABS
_JEQ = sg.BPF_JMP | sg.BPF_JEQ | sg.BPF_K
_RET_ERRNO_1 = (sg.BPF_RET | sg.BPF_K, 0, 0, sg.SECCOMP_RET_ERRNO | 1)
_RET_ALLOW = (sg.BPF_RET | sg.BPF_K, 0, 0, sg.SECCOMP_RET_ALLOW)


class _Regs:
    """The registers of a syscall stop, as far as seccomp_data needs them."""

    def __init__(self, orig_rax, rdi=0):
        self.orig_rax, self.rip, self.rdi = orig_rax, 0x401000, rdi
        self.rsi = self.rdx = self.r10 = self.r8 = self.r9 = 0


def _chain(program):
    sg.check_program(program)
    return sg.SeccompState(sg.SECCOMP_MODE_FILTER).with_filter(sg.Filter(program))


def test_verdicts_are_cached_per_syscall_number_for_nr_only_programs():
    state = _chain([(_LD_ABS, 0, 0, 0), (_JEQ, 0, 1, 39), _RET_ERRNO_1, _RET_ALLOW])
    assert state.verdict(_Regs(39, rdi=1)) == sg.SECCOMP_RET_ERRNO | 1
    assert state.verdict(_Regs(40, rdi=2)) == sg.SECCOMP_RET_ALLOW
    assert sorted(state._by_number) == [39, 40] and not state._by_words


def test_verdicts_that_read_arguments_are_kept_by_argument():
    state = _chain([(_LD_ABS, 0, 0, 0), (_JEQ, 0, 3, 39), (_LD_ABS, 0, 0, 16), (_JEQ, 0, 1, 7),
                    _RET_ERRNO_1, _RET_ALLOW])
    assert state.verdict(_Regs(39, rdi=7)) == sg.SECCOMP_RET_ERRNO | 1
    assert state.verdict(_Regs(39, rdi=8)) == sg.SECCOMP_RET_ALLOW
    # args[0] at offset 16 is the low word of rdi
    assert state.verdict(_Regs(39, rdi=(1 << 32) | 7)) == sg.SECCOMP_RET_ERRNO | 1
    assert state.verdict(_Regs(40, rdi=7)) == sg.SECCOMP_RET_ALLOW
    assert list(state._by_number) == [40]
    assert state._by_words[39][0] == 0b10001 and len(state._by_words[39][2]) == 2   # args[0] 7 and 8


def test_a_number_whose_runs_load_more_words_is_keyed_by_all_of_them():
    # nr 39: args[0] == 1 decides alone; otherwise args[1] is looked at too.
    state = _chain([(_LD_ABS, 0, 0, 0), (_JEQ, 0, 5, 39), (_LD_ABS, 0, 0, 16), (_JEQ, 3, 0, 1),
                    (_LD_ABS, 0, 0, 24), (_JEQ, 0, 1, 5), _RET_ERRNO_1, _RET_ALLOW])
    regs = _Regs(39, rdi=1)
    regs.rsi = 5
    assert state.verdict(regs) == sg.SECCOMP_RET_ALLOW
    assert state.verdict(_Regs(39, rdi=2)) == sg.SECCOMP_RET_ALLOW         # args[1] is 0
    assert state._by_words[39][0] == 0b1010001                               # nr, args[0], args[1]
    regs = _Regs(39, rdi=2)
    regs.rsi = 5
    assert state.verdict(regs) == sg.SECCOMP_RET_ERRNO | 1
    assert state.verdict(_Regs(39, rdi=1)) == sg.SECCOMP_RET_ALLOW


_REGISTER_VALUES = st.sampled_from([0, 1, 7, 24, 39, 95, 102, 0xFFFFFFFF, 1 << 32, (1 << 32) | 7, 0x401000])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs=st.lists(_program(), min_size=1, max_size=3),
       calls=st.lists(st.tuples(st.sampled_from([0, 24, 39, 95, 102]), _REGISTER_VALUES, _REGISTER_VALUES,
                                _REGISTER_VALUES), min_size=1, max_size=30))
def test_cached_verdicts_equal_a_fresh_run_of_the_chain(programs, calls):
    state = sg.SeccompState(sg.SECCOMP_MODE_FILTER)
    for program in programs:
        try:
            sg.check_program(program)
        except SyscallError:
            continue
        state = state.with_filter(sg.Filter(program))
    for nr, rdi, rsi, rip in calls:
        regs = _Regs(nr, rdi=rdi)
        regs.rsi, regs.rip = rsi, rip
        fresh = sg.SeccompState(sg.SECCOMP_MODE_FILTER, state.filters)
        assert state.verdict(regs) == fresh.verdict(regs)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(program=_program(), calls=st.lists(st.tuples(_REGISTER_VALUES, _REGISTER_VALUES, _REGISTER_VALUES,
                                                    _REGISTER_VALUES), min_size=1, max_size=5))
def test_compiled_programs_do_what_the_interpreter_does(program, calls):
    try:
        sg.check_program(program)
    except SyscallError:
        return
    compiled = sg.compile_program(program)
    for nr, rdi, rsi, rip in calls:
        regs = _Regs(nr, rdi=rdi)
        regs.rsi, regs.rip = rsi, rip
        assert compiled(regs) == sg.run_program(program, sg.seccomp_data_words(regs))
