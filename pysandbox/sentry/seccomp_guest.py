"""Seccomp for the workload: the guest's own filters, run by the sentry before each of its syscalls.

As gVisor does, nothing of this reaches the host: a task's filters are classic BPF programs the
sentry checks as Linux does (bpf_check_classic, then seccomp_check_filter) and runs on a
struct seccomp_data built from the syscall's registers. docs/SECCOMP_GUEST.md has the details.

A program is a pure function of the seccomp_data words it loads, and its path is fixed by the
words it loaded so far: a run that loaded the words W gives the same verdict for every call that
agrees with it on W. So when a run of the chain loaded nothing but nr and arch (arch is always
x86_64 here), its verdict holds for every call of that number: it is kept by number, and the
common libseccomp shape (load arch, load nr, compare) costs one dict lookup per syscall after the
first call of each number. For a number whose runs loaded more (arguments, the instruction
pointer), verdicts are kept by the values of the words those runs loaded.
"""
import errno
import itertools
import os
import struct
import time

from pysandbox.sentry import signals
from pysandbox.sentry.errors import RESTART_NEVER, SyscallError, WouldBlock
from pysandbox.sentry.vfs.file import POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, File
from pysandbox.sentry.waiter import WaitQueue

SECCOMP_MODE_DISABLED, SECCOMP_MODE_STRICT, SECCOMP_MODE_FILTER = 0, 1, 2

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_KILL_THREAD = 0x00000000
SECCOMP_RET_TRAP = 0x00030000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_LOG = 0x7FFC0000
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ACTION_FULL = 0xFFFF0000
SECCOMP_RET_DATA = 0x0000FFFF
KNOWN_ACTIONS = frozenset((SECCOMP_RET_KILL_PROCESS, SECCOMP_RET_KILL_THREAD, SECCOMP_RET_TRAP,
                           SECCOMP_RET_ERRNO, SECCOMP_RET_USER_NOTIF, SECCOMP_RET_TRACE, SECCOMP_RET_LOG,
                           SECCOMP_RET_ALLOW))

AUDIT_ARCH_X86_64 = 0xC000003E
SYS_SECCOMP = 1                          # si_code of a SECCOMP_RET_TRAP SIGSYS
MAX_ERRNO = 4095
BPF_MAXINSNS = 4096
MAX_INSNS_PER_PATH = 32768               # across a task's filter chain, with 4 per earlier filter
CHAIN_PENALTY = 4
SECCOMP_DATA_SIZE = 64                   # struct seccomp_data
BPF_MEMWORDS = 16
VERDICT_CACHE_LIMIT = 1 << 16            # verdicts a chain keeps before it starts again

# Strict mode (mode 1): read, write, exit and rt_sigreturn; anything else ends the thread.
STRICT_SYSCALLS = frozenset((0, 1, 60, 15))

# Classic BPF opcodes (include/uapi/linux/bpf_common.h, filter.h).
BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_ALU, BPF_JMP, BPF_RET, BPF_MISC = 0, 1, 2, 3, 4, 5, 6, 7
BPF_W, BPF_H, BPF_B = 0x00, 0x08, 0x10
BPF_IMM, BPF_ABS, BPF_IND, BPF_MEM, BPF_LEN, BPF_MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND = 0x00, 0x10, 0x20, 0x30, 0x40, 0x50
BPF_LSH, BPF_RSH, BPF_NEG, BPF_MOD, BPF_XOR = 0x60, 0x70, 0x80, 0x90, 0xA0
BPF_JA, BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET = 0x00, 0x10, 0x20, 0x30, 0x40
BPF_K, BPF_X, BPF_A = 0x00, 0x08, 0x10
BPF_TAX, BPF_TXA = 0x00, 0x80

_ALU_OPS = (BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_AND, BPF_OR, BPF_XOR, BPF_LSH, BPF_RSH)
_CONDITIONAL_JUMPS = frozenset(BPF_JMP | op | src for op in (BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET)
                               for src in (BPF_K, BPF_X))
# The opcodes classic BPF knows at all (chk_code_allowed).
_CLASSIC_CODES = frozenset(
    [BPF_ALU | op | src for op in _ALU_OPS + (BPF_MOD,) for src in (BPF_K, BPF_X)]
    + [BPF_ALU | BPF_NEG]
    + [BPF_LD | size | mode for size in (BPF_W, BPF_H, BPF_B) for mode in (BPF_ABS, BPF_IND)]
    + [BPF_LD | BPF_W | BPF_LEN, BPF_LD | BPF_IMM, BPF_LD | BPF_MEM, BPF_LDX | BPF_W | BPF_LEN,
       BPF_LDX | BPF_B | BPF_MSH, BPF_LDX | BPF_IMM, BPF_LDX | BPF_MEM, BPF_ST, BPF_STX,
       BPF_MISC | BPF_TAX, BPF_MISC | BPF_TXA, BPF_RET | BPF_K, BPF_RET | BPF_A, BPF_JMP | BPF_JA]
    + list(_CONDITIONAL_JUMPS))
# The subset seccomp accepts (seccomp_check_filter): no packet loads other than aligned words
# of seccomp_data, and no BPF_MOD.
_SECCOMP_CODES = frozenset(
    [BPF_ALU | op | src for op in _ALU_OPS for src in (BPF_K, BPF_X)]
    + [BPF_ALU | BPF_NEG, BPF_LD | BPF_W | BPF_ABS, BPF_LD | BPF_W | BPF_LEN, BPF_LDX | BPF_W | BPF_LEN,
       BPF_LD | BPF_IMM, BPF_LDX | BPF_IMM, BPF_MISC | BPF_TAX, BPF_MISC | BPF_TXA, BPF_LD | BPF_MEM,
       BPF_LDX | BPF_MEM, BPF_ST, BPF_STX, BPF_RET | BPF_K, BPF_RET | BPF_A, BPF_JMP | BPF_JA]
    + list(_CONDITIONAL_JUMPS))
SKF_AD_OFF = 0xFFFFF000

_SOCK_FILTER = struct.Struct("<HBBI")
_SOCK_FPROG = struct.Struct("<H6xQ")
MASK32 = 0xFFFFFFFF


def _signed32(value):
    """The low 32 bits of `value` as a signed int (seccomp_data's nr, si_syscall)."""
    return ((value + 0x80000000) & MASK32) - 0x80000000


def _signed_action(ret):
    """ACTION_ONLY(): the action as a signed 32-bit number; the lowest one wins."""
    action = ret & SECCOMP_RET_ACTION_FULL
    return action - (1 << 32) if action & 0x80000000 else action


# -- loading and checking a program ----------------------------------------------------------------
def copy_in_program(t, fprog_addr):
    """The instructions of the struct sock_fprog at `fprog_addr`, as (code, jt, jf, k) tuples:
    EFAULT for bad pointers, EINVAL for a length outside 1..BPF_MAXINSNS, EACCES without
    no_new_privs or CAP_SYS_ADMIN (checked in that order, as seccomp_prepare_filter does)."""
    from pysandbox.sentry.credentials import CAP_SYS_ADMIN, capable
    length, filter_addr = _SOCK_FPROG.unpack(t.copy_in(fprog_addr, _SOCK_FPROG.size))
    if length == 0 or length > BPF_MAXINSNS:
        raise SyscallError(errno.EINVAL)
    if not t.creds.no_new_privs and not capable(t, CAP_SYS_ADMIN):
        raise SyscallError(errno.EACCES)
    raw = t.copy_in(filter_addr, length * _SOCK_FILTER.size)
    return [_SOCK_FILTER.unpack_from(raw, i * _SOCK_FILTER.size) for i in range(length)]


def check_program(insns):
    """EINVAL unless `insns` is a program Linux accepts as a seccomp filter."""
    _check_classic(insns)
    _check_seccomp_subset(insns)


def _check_classic(insns):
    """bpf_check_classic(): known opcodes, safe constants, jumps inside the program, a RET last,
    and scratch memory written before it is read on every path."""
    count = len(insns)
    for pc, (code, jt, jf, k) in enumerate(insns):
        if code not in _CLASSIC_CODES:
            raise SyscallError(errno.EINVAL)
        if code in (BPF_ALU | BPF_DIV | BPF_K, BPF_ALU | BPF_MOD | BPF_K) and k == 0:
            raise SyscallError(errno.EINVAL)
        if code in (BPF_ALU | BPF_LSH | BPF_K, BPF_ALU | BPF_RSH | BPF_K) and k >= 32:
            raise SyscallError(errno.EINVAL)
        if code in (BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM, BPF_ST, BPF_STX) and k >= BPF_MEMWORDS:
            raise SyscallError(errno.EINVAL)
        if code == BPF_JMP | BPF_JA and k >= count - pc - 1:
            raise SyscallError(errno.EINVAL)
        if code in _CONDITIONAL_JUMPS and (pc + jt + 1 >= count or pc + jf + 1 >= count):
            raise SyscallError(errno.EINVAL)
        # Ancillary packet loads (k >= SKF_AD_OFF) pass here and are refused by seccomp's own check.
    if insns[-1][0] not in (BPF_RET | BPF_K, BPF_RET | BPF_A):
        raise SyscallError(errno.EINVAL)
    _check_memory_use(insns)


def _check_memory_use(insns):
    """check_load_and_stores(): a scratch word is read only after a store on every path to it."""
    masks = [0xFFFF] * len(insns)
    valid = 0
    for pc, (code, jt, jf, k) in enumerate(insns):
        valid &= masks[pc]
        if code in (BPF_ST, BPF_STX):
            valid |= 1 << k
        elif code in (BPF_LD | BPF_MEM, BPF_LDX | BPF_MEM):
            if not valid >> k & 1:
                raise SyscallError(errno.EINVAL)
        elif code == BPF_JMP | BPF_JA:
            masks[pc + 1 + k] &= valid
            valid = 0xFFFF
        elif code in _CONDITIONAL_JUMPS:
            masks[pc + 1 + jt] &= valid
            masks[pc + 1 + jf] &= valid
            valid = 0xFFFF


def _check_seccomp_subset(insns):
    """seccomp_check_filter(): only the allowed opcodes, word loads aligned inside seccomp_data."""
    for code, _, _, k in insns:
        if code not in _SECCOMP_CODES:
            raise SyscallError(errno.EINVAL)
        if code == BPF_LD | BPF_W | BPF_ABS and (k >= SECCOMP_DATA_SIZE or k & 3):
            raise SyscallError(errno.EINVAL)


# -- running a program -------------------------------------------------------------------------------
_WORD_EXPRESSIONS = {0: "regs.orig_rax & 0xFFFFFFFF", 4: str(AUDIT_ARCH_X86_64),
                     8: "regs.rip & 0xFFFFFFFF", 12: "regs.rip >> 32"}
for _i, _register in enumerate(("rdi", "rsi", "rdx", "r10", "r8", "r9")):
    _WORD_EXPRESSIONS[16 + 8 * _i] = f"regs.{_register} & 0xFFFFFFFF"
    _WORD_EXPRESSIONS[20 + 8 * _i] = f"regs.{_register} >> 32"


def run_program(insns, words):
    """Run checked program `insns` on seccomp_data given as {offset: 32-bit word}: (its return
    value, the words it loaded as a bit mask, bit offset/4)."""
    loaded = 0
    a = x = 0
    memory = [0] * BPF_MEMWORDS
    pc = 0
    while True:
        code, jt, jf, k = insns[pc]
        pc += 1
        cls = code & 7
        if cls == BPF_RET:
            return (k if code == BPF_RET | BPF_K else a), loaded
        if cls == BPF_LD:
            mode = code & 0xE0
            if mode == BPF_ABS:
                a = words[k]
                loaded |= 1 << (k >> 2)
            else:
                a = memory[k] if mode == BPF_MEM else SECCOMP_DATA_SIZE if mode == BPF_LEN else k
        elif cls == BPF_LDX:
            mode = code & 0xE0
            x = memory[k] if mode == BPF_MEM else SECCOMP_DATA_SIZE if mode == BPF_LEN else k
        elif cls == BPF_ST:
            memory[k] = a
        elif cls == BPF_STX:
            memory[k] = x
        elif cls == BPF_MISC:
            if code & 0xF8 == BPF_TAX:
                x = a
            else:
                a = x
        elif cls == BPF_ALU:
            op = code & 0xF0
            if op == BPF_NEG:
                a = -a & MASK32
                continue
            operand = x if code & BPF_X else k
            if op == BPF_ADD:
                a = (a + operand) & MASK32
            elif op == BPF_SUB:
                a = (a - operand) & MASK32
            elif op == BPF_MUL:
                a = (a * operand) & MASK32
            elif op == BPF_DIV:
                if operand == 0:
                    return 0, loaded         # division by zero ends the program with 0
                a //= operand
            elif op == BPF_AND:
                a &= operand
            elif op == BPF_OR:
                a |= operand
            elif op == BPF_XOR:
                a ^= operand
            elif op == BPF_LSH:
                a = (a << (operand & 31)) & MASK32
            else:
                a >>= operand & 31
        else:                                # BPF_JMP
            op = code & 0xF0
            if op == BPF_JA:
                pc += k
                continue
            operand = x if code & BPF_X else k
            if op == BPF_JEQ:
                taken = a == operand
            elif op == BPF_JGT:
                taken = a > operand
            elif op == BPF_JGE:
                taken = a >= operand
            else:
                taken = a & operand != 0
            pc += jt if taken else jf


COMPILE_LIMIT = 1024                     # longer programs are interpreted (their source would be huge)

_ALU_EXPRESSIONS = {BPF_ADD: "(a + {v}) & 0xFFFFFFFF", BPF_SUB: "(a - {v}) & 0xFFFFFFFF",
                    BPF_MUL: "(a * {v}) & 0xFFFFFFFF", BPF_DIV: "a // {v}", BPF_AND: "a & {v}",
                    BPF_OR: "a | {v}", BPF_XOR: "a ^ {v}", BPF_LSH: "(a << ({v} & 31)) & 0xFFFFFFFF",
                    BPF_RSH: "a >> ({v} & 31)"}
_JUMP_CONDITIONS = {BPF_JEQ: "a == {v}", BPF_JGT: "a > {v}", BPF_JGE: "a >= {v}", BPF_JSET: "a & {v}"}


def compile_program(insns):
    """A Python function regs -> (return value, loaded words mask) doing what run_program does
    for checked program `insns`, reading seccomp_data straight from the registers.

    Jumps only go forward, so the program becomes flat code: one guarded block per jump target,
    in program order; a block runs when `pc` names it, and sets `pc` to a later block."""
    targets = {0}
    for pc, (code, jt, jf, k) in enumerate(insns):
        if code & 7 in (BPF_JMP, BPF_RET) and pc + 1 < len(insns):
            targets.add(pc + 1)
        if code == BPF_JMP | BPF_JA:
            targets.add(pc + 1 + k)
        elif code & 7 == BPF_JMP:
            targets.update((pc + 1 + jt, pc + 1 + jf))
    lines = ["def run(regs):", " loaded = a = x = 0",
             " m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = m8 = m9 = m10 = m11 = m12 = m13 = m14 = m15 = 0",
             " pc = 0"]
    ended = False                             # the current block ended with a jump or a RET
    for pc, (code, jt, jf, k) in enumerate(insns):
        if pc in targets and pc:
            if not ended:
                lines.append(f"  pc = {pc}")
            lines.append(f" if pc == {pc}:")
        elif pc == 0:
            lines.append(" if True:")
        ended = False
        cls, op = code & 7, code & 0xF0
        operand = "x" if code & BPF_X else str(k)
        if cls == BPF_RET:
            lines.append(f"  return {k if code == BPF_RET | BPF_K else 'a'}, loaded")
            ended = True
        elif cls in (BPF_LD, BPF_LDX):
            mode = code & 0xE0
            register = "a" if cls == BPF_LD else "x"
            if mode == BPF_ABS:
                lines.append(f"  a = {_WORD_EXPRESSIONS[k]}; loaded |= {1 << (k >> 2)}")
            else:
                value = f"m{k}" if mode == BPF_MEM else str(SECCOMP_DATA_SIZE) if mode == BPF_LEN else str(k)
                lines.append(f"  {register} = {value}")
        elif cls == BPF_ST:
            lines.append(f"  m{k} = a")
        elif cls == BPF_STX:
            lines.append(f"  m{k} = x")
        elif cls == BPF_MISC:
            lines.append("  x = a" if code & 0xF8 == BPF_TAX else "  a = x")
        elif cls == BPF_ALU:
            if op == BPF_NEG:
                lines.append("  a = -a & 0xFFFFFFFF")
                continue
            if op == BPF_DIV and operand == "x":
                lines.append("  if x == 0: return 0, loaded")
            lines.append("  a = " + _ALU_EXPRESSIONS[op].format(v=operand))
        elif op == BPF_JA:
            lines.append(f"  pc = {pc + 1 + k}")
            ended = True
        else:
            condition = _JUMP_CONDITIONS[op].format(v=operand)
            lines.append(f"  pc = {pc + 1 + jt} if {condition} else {pc + 1 + jf}")
            ended = True
    namespace = {}
    exec("\n".join(lines), namespace)  # the source is built only from checked instructions
    return namespace["run"]


class Filter:
    """One attached, checked program, with its user-notification listener if it has one."""

    __slots__ = ("insns", "log", "listener", "wait_killable", "_compiled")

    def __init__(self, insns, log=False, wait_killable=False):
        self.insns = tuple(insns)
        self.log = log
        self.listener = None                 # a Listener while its fd is open
        self.wait_killable = wait_killable   # WAIT_KILLABLE_RECV: once received, only dying ends a wait
        self._compiled = None

    def run(self, regs):
        """(return value, loaded words mask) for the syscall `regs` stopped at; the program is
        compiled on its first run (long ones are interpreted)."""
        if self._compiled is None:
            if len(self.insns) <= COMPILE_LIMIT:
                self._compiled = compile_program(self.insns)
            else:
                insns = self.insns
                self._compiled = lambda regs: run_program(insns, seccomp_data_words(regs))
        return self._compiled(regs)


NR_AND_ARCH = 0b11                       # run_program's loaded-words bits of nr and arch
_key_functions = {}


def _key_function(loaded):
    """regs -> the tuple of the words `loaded` (run_program's mask) names, but nr and arch."""
    if loaded not in _key_functions:
        values = "".join(_WORD_EXPRESSIONS[4 * bit] + ", " for bit in range(SECCOMP_DATA_SIZE // 4)
                         if loaded >> bit & 1 and 4 * bit not in (0, 4))
        _key_functions[loaded] = eval(f"lambda regs: ({values})")  # built only from the constants above
    return _key_functions[loaded]


def seccomp_data_words(regs):
    """struct seccomp_data of the syscall `regs` stopped at, as {offset: word}."""
    rip = regs.rip
    words = {0: regs.orig_rax & MASK32, 4: AUDIT_ARCH_X86_64, 8: rip & MASK32, 12: rip >> 32}
    for offset, value in zip(range(16, SECCOMP_DATA_SIZE, 8),
                             (regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9)):
        words[offset] = value & MASK32
        words[offset + 4] = value >> 32
    return words


class SeccompState:
    """A task's seccomp mode and filter chain (newest filter first). Never changed in place:
    installing a filter gives the task a new state, so forked tasks and threads that share
    the old one keep it, as Linux shares the older part of a chain."""

    __slots__ = ("mode", "filters", "_by_number", "_by_words")

    def __init__(self, mode, filters=()):
        self.mode = mode
        self.filters = tuple(filters)
        self._by_number = {}                 # orig_rax -> verdict, for numbers whose runs load only nr and arch
        self._by_words = {}                  # orig_rax -> [loaded mask, its key function, {key: verdict}]

    def with_filter(self, new_filter):
        return SeccompState(SECCOMP_MODE_FILTER, (new_filter,) + self.filters)

    def descends_from(self, other):
        """Whether this chain extends `other`'s (is_ancestor): TSYNC may replace it."""
        return other.filters == self.filters[len(self.filters) - len(other.filters):]

    def instruction_count(self):
        """What MAX_INSNS_PER_PATH counts for the chain a new filter would join."""
        return sum(len(f.insns) + CHAIN_PENALTY for f in self.filters)

    def verdict(self, regs):
        """The chain's return value for this syscall (seccomp_run_filters): every filter runs,
        the lowest action wins, and of equal ones the newest filter's data."""
        nr = regs.orig_rax
        ret = self._by_number.get(nr)
        if ret is not None:
            return ret
        slot = self._by_words.get(nr)
        if slot is not None:
            ret = slot[2].get(slot[1](regs))
            if ret is not None:
                return ret
        ret, loaded, _ = self._evaluate(regs)
        if not loaded & ~NR_AND_ARCH:
            _bounded(self._by_number)[nr] = ret
            return ret
        if slot is None or loaded & ~slot[0]:
            # A run loaded a word the earlier ones did not: key this number's verdicts by all of them.
            mask = loaded | (slot[0] if slot is not None else 0)
            slot = _bounded(self._by_words)[nr] = [mask, _key_function(mask), {}]
        _bounded(slot[2])[slot[1](regs)] = ret
        return ret

    def matching_filter(self, regs):
        """The filter whose return value decided this syscall (seccomp_run_filters' match)."""
        return self._evaluate(regs)[2]

    def _evaluate(self, regs):
        """(the chain's return value, the words its runs loaded, the filter that decided)."""
        ret, match = SECCOMP_RET_ALLOW, None
        all_loaded = 0
        for program in self.filters:
            current, loaded = program.run(regs)
            all_loaded |= loaded
            if _signed_action(current) < _signed_action(ret):
                ret, match = current, program
        return ret, all_loaded, match

    def check(self, t):
        """Run by the kernel before a syscall of `t`: None to go on with the syscall, or
        whether the task may resume (the syscall was answered or skipped, or it died)."""
        regs = t.context.regs
        if self.mode == SECCOMP_MODE_STRICT:
            if regs.orig_rax in STRICT_SYSCALLS:
                return None
            _end_thread(t, signals.SIGKILL, dump=False)
            return False
        ret = self.verdict(regs)
        action = ret & SECCOMP_RET_ACTION_FULL
        if action == SECCOMP_RET_ALLOW or action == SECCOMP_RET_LOG:
            return None
        data = ret & SECCOMP_RET_DATA
        if action == SECCOMP_RET_ERRNO:
            return _skip(t, -min(data, MAX_ERRNO))
        if action == SECCOMP_RET_TRAP:
            nr = regs.orig_rax
            regs.rax = nr                                   # the handler sees the original registers
            info = signals.SigInfo(signals.SIGSYS, SYS_SECCOMP, data, addr=regs.rip)
            info.syscall = _signed32(nr)
            info.arch = AUDIT_ARCH_X86_64
            signals.force_signal(t, info)
            return True
        if action == SECCOMP_RET_USER_NOTIF:
            listener = self.matching_filter(regs).listener
            if listener is not None:
                return listener.notify_and_wait(t)
        if action == SECCOMP_RET_TRACE and t.ptrace is not None:
            from pysandbox.sentry import ptrace
            verdict = ptrace.seccomp_trace(t, data)       # PTRACE_EVENT_SECCOMP
            if verdict is not ptrace.NOT_ASKED:
                return verdict
        if action in (SECCOMP_RET_TRACE, SECCOMP_RET_USER_NOTIF):
            # No tracer asked for PTRACE_EVENT_SECCOMP, or the filter's listener is closed (or it
            # never had one): nobody to ask, and Linux answers both ENOSYS.
            return _skip(t, -errno.ENOSYS)
        # KILL_THREAD, KILL_PROCESS and unknown actions.
        if action == SECCOMP_RET_KILL_THREAD and _other_live_threads(t):
            _end_thread(t, signals.SIGSYS, dump=False)
        else:
            _end_thread(t, signals.SIGSYS, dump=True)
        return False


def _skip(t, result):
    """The filter answered the syscall with `result` without running it (shown by --strace)."""
    regs = t.context.regs
    regs.rax = result & 0xFFFFFFFFFFFFFFFF
    if t.kernel.strace:
        from pysandbox.sentry import strace
        from pysandbox.sentry.syscalls import table
        entry = table.lookup(regs.orig_rax)
        if entry is not None:
            t.kernel.strace(strace.format_call(t.tid, entry, entry.decode_regs(regs), result, 0.0, t)
                            + " (seccomp)")
    return True


def _bounded(cache):
    """`cache`, emptied first when it is full."""
    if len(cache) >= VERDICT_CACHE_LIMIT:
        cache.clear()
    return cache


def _other_live_threads(t):
    return any(other is not t and other.alive for other in t.tg.tasks)


def _end_thread(t, signo, dump):
    """The thread dies by `signo`; with `dump` (or as the last thread) the whole process does,
    with a core dump where RLIMIT_CORE allows one."""
    kernel = t.kernel
    if dump or not _other_live_threads(t):
        action = signals.Action.CORE if dump else signals.Action.TERMINATE
        kernel.exit_thread_group(t.tg, wait_status=signals.termination_status(t.tg, signo, action))
    else:
        kernel.exit_task(t, 0)


def mode_of(t):
    state = t.seccomp
    return SECCOMP_MODE_DISABLED if state is None else state.mode


def filter_count(t):
    state = t.seccomp
    return 0 if state is None else len(state.filters)


# -- user notification (SECCOMP_FILTER_FLAG_NEW_LISTENER) --------------------------------------------
SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101
SECCOMP_IOCTL_NOTIF_ID_VALID = 0x40082102
SECCOMP_IOCTL_NOTIF_ID_VALID_WRONG_DIR = 0xC0082102   # what Linux 5.0-5.9 headers said; still accepted
SECCOMP_IOCTL_NOTIF_ADDFD = 0x40182103
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1
SECCOMP_ADDFD_FLAG_SETFD, SECCOMP_ADDFD_FLAG_SEND = 1, 2
_NOTIF_ADDFD = struct.Struct("<QIIII")               # struct seccomp_notif_addfd: id, flags, srcfd, newfd, newfd_flags
_NOTIF = struct.Struct("<QII64s")                    # struct seccomp_notif: id, pid, flags, data
_NOTIF_RESP = struct.Struct("<QqiI")                  # struct seccomp_notif_resp: id, val, error, flags
_SECCOMP_DATA = struct.Struct("<iIQ6Q")
NOTIFY_INIT, NOTIFY_SENT, NOTIFY_REPLIED = 0, 1, 2


class Notification:
    """One syscall waiting for the supervisor's answer."""

    __slots__ = ("id", "task", "data", "state", "val", "error", "flags", "replied")

    def __init__(self, notification_id, task, data):
        self.id = notification_id
        self.task = task
        self.data = data
        self.state = NOTIFY_INIT
        self.val = self.error = self.flags = 0
        self.replied = WaitQueue()

    def reply(self, val, error, flags):
        self.state = NOTIFY_REPLIED
        self.val, self.error, self.flags = val, error, flags
        self.replied.notify()


class _UnknownSyscall:
    """What --strace shows for a notified syscall number the table doesn't have."""
    args = ()
    ret = "long"

    def __init__(self, nr):
        self.name = f"syscall_{nr}"


class Listener(File):
    """The fd SECCOMP_FILTER_FLAG_NEW_LISTENER returns: the supervisor receives the notified
    syscalls of every task running its filter, and answers them with ioctls."""

    def __init__(self, new_filter, kernel):
        super().__init__(os.O_RDWR, path=b"anon_inode:seccomp notify")
        self.filter = new_filter
        self.kernel = kernel
        self.notifications = []              # oldest first
        self.requests = None
        self._ids = itertools.count(int.from_bytes(os.urandom(8), "little") >> 1)   # ids start at random

    # -- the target's side ----------------------------------------------------------------------
    def notify_and_wait(self, t):
        """The task's syscall is handed to the supervisor; it sleeps until the answer comes."""
        from pysandbox.sentry.syscalls import table
        regs = t.context.regs
        nr = regs.orig_rax
        data = _SECCOMP_DATA.pack(_signed32(nr), AUDIT_ARCH_X86_64, regs.rip,
                                  regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9)
        notification = Notification(next(self._ids), t, data)
        self.notifications.append(notification)
        self._changed()
        entry = table.lookup(nr)
        args = entry.decode_regs(regs) if entry is not None else ()
        kernel = t.kernel
        if kernel.strace:
            from pysandbox.sentry import strace
            t.syscall_started = time.perf_counter()
            t.traced_call = strace.begin(t.tid, entry if entry is not None else _UnknownSyscall(nr), args, t)
        t.syscall_entry = _AWAIT_REPLY
        t.syscall_args = (notification, self, entry, args)
        return kernel._complete(t, _AWAIT_REPLY, t.syscall_args)

    def forget(self, notification):
        if notification in self.notifications:
            self.notifications.remove(notification)
            self._changed()

    # -- the supervisor's side ------------------------------------------------------------------
    def ioctl(self, t, cmd, arg):
        if cmd == SECCOMP_IOCTL_NOTIF_RECV:
            return self._receive(t, arg)
        if cmd == SECCOMP_IOCTL_NOTIF_SEND:
            return self._send(t, arg)
        if cmd == SECCOMP_IOCTL_NOTIF_ADDFD:
            return self._add_fd(t, arg)
        if cmd in (SECCOMP_IOCTL_NOTIF_ID_VALID, SECCOMP_IOCTL_NOTIF_ID_VALID_WRONG_DIR):
            found = self._find(t.copy_in_u64(arg))
            if found is None or found.state != NOTIFY_SENT:
                raise SyscallError(errno.ENOENT)
            return 0
        raise SyscallError(errno.EINVAL)

    def _receive(self, t, arg):
        """SECCOMP_IOCTL_NOTIF_RECV: the oldest notification nobody received yet (waits for one)."""
        if any(t.copy_in(arg, _NOTIF.size)):
            raise SyscallError(errno.EINVAL)
        pending = next((n for n in self.notifications if n.state == NOTIFY_INIT), None)
        if pending is None:
            if self.requests is None:
                self.requests = WaitQueue()
            raise WouldBlock(self.requests, restart=RESTART_NEVER)
        t.copy_out(arg, _NOTIF.pack(pending.id, pending.task.tid, 0, pending.data))
        pending.state = NOTIFY_SENT
        if self.filter.wait_killable and pending.task.parked is not None:
            pending.task.parked.interruptible = False
        self._changed()
        return 0

    def _send(self, t, arg):
        """SECCOMP_IOCTL_NOTIF_SEND: the answer to a received notification."""
        notification_id, val, error, flags = _NOTIF_RESP.unpack(t.copy_in(arg, _NOTIF_RESP.size))
        if flags & ~SECCOMP_USER_NOTIF_FLAG_CONTINUE:
            raise SyscallError(errno.EINVAL)
        if flags & SECCOMP_USER_NOTIF_FLAG_CONTINUE and (error or val):
            raise SyscallError(errno.EINVAL)
        notification = self._find(notification_id)
        if notification is None:
            raise SyscallError(errno.ENOENT)
        if notification.state != NOTIFY_SENT:
            raise SyscallError(errno.EINPROGRESS)
        notification.reply(val, error, flags)
        self._changed()
        return 0

    def _add_fd(self, t, arg):
        """SECCOMP_IOCTL_NOTIF_ADDFD: put a file of the supervisor's into the notified task's fd
        table (at `newfd` with SETFD, dup2-style); with SEND, that fd is also the syscall's answer.
        Returns the fd number in the target."""
        notification_id, flags, srcfd, newfd, newfd_flags = _NOTIF_ADDFD.unpack(t.copy_in(arg, _NOTIF_ADDFD.size))
        if newfd_flags & ~os.O_CLOEXEC:
            raise SyscallError(errno.EINVAL)
        if flags & ~(SECCOMP_ADDFD_FLAG_SETFD | SECCOMP_ADDFD_FLAG_SEND):
            raise SyscallError(errno.EINVAL)
        if newfd and not flags & SECCOMP_ADDFD_FLAG_SETFD:
            raise SyscallError(errno.EINVAL)
        source = t.fds.get(srcfd)
        notification = self._find(notification_id)
        if notification is None:
            raise SyscallError(errno.ENOENT)
        if notification.state != NOTIFY_SENT:
            raise SyscallError(errno.EINPROGRESS)
        target = notification.task.fds
        cloexec = bool(newfd_flags & os.O_CLOEXEC)
        source.incref()
        fd = target.install_at(newfd, source, cloexec) if flags & SECCOMP_ADDFD_FLAG_SETFD else \
            target.install(source, cloexec)
        if flags & SECCOMP_ADDFD_FLAG_SEND:
            notification.reply(fd, 0, 0)
            self._changed()
        return fd

    def _find(self, notification_id):
        return next((n for n in self.notifications if n.id == notification_id), None)

    def _changed(self):
        if self.requests is not None and any(n.state == NOTIFY_INIT for n in self.notifications):
            self.requests.notify()
        self.wait_queue.notify()

    def poll_events(self):
        events = 0
        if any(n.state == NOTIFY_INIT for n in self.notifications):
            events |= POLLIN | POLLRDNORM
        if any(n.state == NOTIFY_SENT for n in self.notifications):
            events |= POLLOUT | POLLWRNORM
        if not any(task.alive and task.seccomp is not None and self.filter in task.seccomp.filters
                   for task in self.kernel.tasks.values()):
            events |= POLLHUP
        return events

    def release(self):
        """The last fd is closed: waiting syscalls fail with ENOSYS, and later ones too."""
        self.filter.listener = None
        for notification in self.notifications:
            notification.reply(0, -errno.ENOSYS, 0)
        self.notifications = []


def _await_reply(t, notification, listener, entry, args):
    """The notified task's wait: the supervisor's value or error, or the syscall itself with
    SECCOMP_USER_NOTIF_FLAG_CONTINUE. A signal ends the wait and the syscall restarts (and is
    notified again), as in Linux."""
    if notification.state != NOTIFY_REPLIED:
        t.syscall_state["on_cancel"] = lambda: listener.forget(notification)
        killable_only = listener.filter.wait_killable and notification.state == NOTIFY_SENT
        raise WouldBlock(notification.replied, interruptible=not killable_only)
    listener.forget(notification)
    if not notification.flags & SECCOMP_USER_NOTIF_FLAG_CONTINUE:
        return notification.error if notification.error else notification.val
    if entry is None or entry.handler is None:
        return -errno.ENOSYS
    return entry.handler(t, *args)


class _AwaitReplyEntry:
    """What the kernel runs (and re-runs when woken) for a notified syscall."""
    name = "seccomp_user_notif"
    handler = staticmethod(_await_reply)


_AWAIT_REPLY = _AwaitReplyEntry()
