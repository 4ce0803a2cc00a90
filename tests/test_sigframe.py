"""The x86_64 rt_sigframe layout: pure build/parse round trips, and a check against
the frames and siginfo the host kernel itself builds for a C program."""
import shutil
import struct
import subprocess
import types

import pytest

from pysandbox.sentry import sigframe
from pysandbox.sentry.signals import SigInfo

UC_KERNEL_FLAGS = sigframe.UC_SIGCONTEXT_SS | sigframe.UC_STRICT_RESTORE_SS
REGISTER_NAMES = sigframe.SIGCONTEXT_REGS + ("orig_rax", "cs", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs")


def make_regs(**values):
    regs = types.SimpleNamespace(**{name: 0 for name in REGISTER_NAMES})
    for index, name in enumerate(sigframe.SIGCONTEXT_REGS):
        setattr(regs, name, 0x1000 + index)
    regs.cs, regs.ss, regs.eflags = 0x33, 0x2B, 0x246
    for name, value in values.items():
        setattr(regs, name, value)
    return regs


def fxsave_image(marker):
    return bytes((marker + i) % 256 for i in range(sigframe.FXSAVE_SIZE))


@pytest.mark.parametrize("sp", [0x7FFF0000, 0x7FFF0008, 0x7FFF0031, 0x7FFEFFC7, 0x7FFF0FFF])
def test_frame_addresses_follow_get_sigframe_alignment(sp):
    frame, fpstate = sigframe.frame_addresses(sp)
    assert fpstate % 64 == 0
    assert fpstate + sigframe.FXSAVE_SIZE <= sp
    assert fpstate - 64 < sp - sigframe.FXSAVE_SIZE
    assert (frame + 8) % 16 == 0                     # as if the handler had just been called
    assert frame + sigframe.RT_SIGFRAME_SIZE <= fpstate
    assert fpstate - (frame + sigframe.RT_SIGFRAME_SIZE) < 16


def test_layout_constants():
    assert sigframe.RT_SIGFRAME_SIZE == 440
    assert sigframe.UCONTEXT_SIZE == 304
    assert sigframe.SIGINFO_OFFSET == 312
    assert sigframe.FPSTATE_PTR_OFFSET == 224


def test_build_then_parse_round_trip():
    regs = make_regs(rip=0x401000, rsp=0x7FFF1234, rax=-4 & sigframe.MASK64)
    fpstate = fxsave_image(7)
    info = SigInfo(10, -1, pid=5, uid=1000, value=42).pack()
    frame = sigframe.build_rt_sigframe(0x7FFF0000, regs, fpstate, info, saved_mask=0x8001,
                                       altstack=(0x500000, 1 << 31, 0x4000), restorer=0x400ABC)
    assert frame.addr == sigframe.frame_addresses(0x7FFF0000)[0]
    assert len(frame.data) == frame.fpstate_addr + sigframe.FXSAVE_SIZE - frame.addr
    assert frame.ucontext_addr == frame.addr + 8
    assert frame.siginfo_addr == frame.addr + 312

    saved = sigframe.parse_rt_sigframe(frame.data)
    assert saved.regs == {name: getattr(regs, name) for name in sigframe.SIGCONTEXT_REGS}
    assert saved.mask == 0x8001
    assert saved.fpstate_addr == frame.fpstate_addr
    assert saved.altstack == (0x500000, 1 << 31, 0x4000)
    assert saved.uc_flags == sigframe.UC_SIGCONTEXT_SS | sigframe.UC_STRICT_RESTORE_SS

    data = frame.data
    assert struct.unpack_from("<Q", data, 0)[0] == 0x400ABC            # pretcode
    assert data[312:440] == info
    fpstate_in_frame = data[frame.fpstate_addr - frame.addr:]
    assert fpstate_in_frame[:464] == fpstate[:464]
    assert fpstate_in_frame[464:] == bytes(48)                         # no XSAVE software bytes


def test_sigcontext_fault_fields_and_segments():
    regs = make_regs()
    frame = sigframe.build_rt_sigframe(0x7FFF0000, regs, fxsave_image(0), bytes(128), 0x5, (0, 2, 0), 0x1,
                                       trapno=14, error_code=6, cr2=0xDEAD000)
    mcontext = 8 + sigframe.UC_MCONTEXT_OFFSET
    cs, gs, fs, ss = struct.unpack_from("<4H", frame.data, mcontext + 18 * 8)
    err, trapno, oldmask, cr2 = struct.unpack_from("<4Q", frame.data, mcontext + 18 * 8 + 8)
    assert (cs, gs, fs, ss) == (0x33, 0, 0, 0x2B)
    assert (err, trapno, oldmask, cr2) == (6, 14, 0x5, 0xDEAD000)


def test_fxsave_from_frame_clears_reserved_mxcsr_bits():
    image = bytearray(fxsave_image(3))
    image[24:28] = (0xFFFF1F80).to_bytes(4, "little")
    cleaned = sigframe.fxsave_from_frame(bytes(image))
    assert len(cleaned) == sigframe.FXSAVE_SIZE
    assert int.from_bytes(cleaned[24:28], "little") == 0x1F80
    assert cleaned[:24] == image[:24] and cleaned[28:] == image[28:]


def test_init_fpstate_is_the_reset_state():
    assert len(sigframe.INIT_FPSTATE) == 512
    assert struct.unpack_from("<H", sigframe.INIT_FPSTATE, 0)[0] == 0x37F
    assert struct.unpack_from("<I", sigframe.INIT_FPSTATE, 24)[0] == 0x1F80


# -- against the host kernel ------------------------------------------------------------------------
PROBE_C = r"""
#define _GNU_SOURCE
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

static unsigned char frame[440], info_copy[128];
static greg_t gregs[NGREG];
static uintptr_t fpregs, uc_addr, info_addr;
static unsigned long long mask;

static void dump(const char *name, const unsigned char *p, size_t n) {
    printf("%s ", name);
    for (size_t i = 0; i < n; i++) printf("%02x", p[i]);
    printf("\n");
}

static void handler(int sig, siginfo_t *info, void *ucv) {
    ucontext_t *uc = ucv;
    memcpy(frame, (char *)uc - 8, sizeof frame);
    memcpy(info_copy, info, sizeof info_copy);
    memcpy(gregs, uc->uc_mcontext.gregs, sizeof gregs);
    memcpy(&mask, &uc->uc_sigmask, 8);
    fpregs = (uintptr_t)uc->uc_mcontext.fpregs;
    uc_addr = (uintptr_t)uc;
    info_addr = (uintptr_t)info;
    if (sig == SIGSEGV) uc->uc_mcontext.gregs[REG_RIP] += 6;   /* movl $1, (%rax) */
}

static void report(const char *what) {
    printf("event %s\n", what);
    dump("frame", frame, sizeof frame);
    dump("info", info_copy, sizeof info_copy);
    printf("gregs");
    for (int i = 0; i < NGREG; i++) printf(" %llx", (unsigned long long)gregs[i]);
    printf("\nfpregs %lx\nuc %lx\ninfo_addr %lx\nmask %llx\n", fpregs, uc_addr, info_addr, mask);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    printf("offsets %zu %zu %zu %zu %zu %zu\n", offsetof(ucontext_t, uc_flags), offsetof(ucontext_t, uc_link),
           offsetof(ucontext_t, uc_stack), offsetof(ucontext_t, uc_mcontext), offsetof(ucontext_t, uc_sigmask),
           offsetof(ucontext_t, uc_mcontext.fpregs));
    printf("gregs_order %d %d %d %d %d %d %d %d %d %d\n", REG_R8, REG_RDI, REG_RAX, REG_RSP, REG_RIP, REG_EFL,
           REG_CSGSFS, REG_ERR, REG_TRAPNO, REG_CR2);
    printf("siginfo %zu %zu %zu %zu %zu %zu %zu %zu %zu %zu\n", sizeof(siginfo_t), offsetof(siginfo_t, si_pid),
           offsetof(siginfo_t, si_uid), offsetof(siginfo_t, si_status), offsetof(siginfo_t, si_utime),
           offsetof(siginfo_t, si_stime), offsetof(siginfo_t, si_addr), offsetof(siginfo_t, si_value),
           offsetof(siginfo_t, si_band), offsetof(siginfo_t, si_fd));
    printf("ids %d %d\n", getpid(), getuid());

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO;
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);

    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGHUP);
    sigprocmask(SIG_SETMASK, &blocked, NULL);

    union sigval value = { .sival_int = 1234 };
    sigqueue(getpid(), SIGUSR1, value);
    report("sigqueue");

    __asm__ volatile("movl $1, (%0)" :: "a"((int *)0x1000) : "memory");
    report("segv");

    pid_t child = fork();
    if (child == 0) _exit(7);
    while (!info_copy[0] || ((int *)info_copy)[0] != SIGCHLD) pause();
    waitpid(child, NULL, 0);
    printf("child %d\n", child);
    report("sigchld");
    return 0;
}
"""


@pytest.fixture(scope="module")
def native_probe(tmp_path_factory):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is needed to compare with the host kernel's frames")
    directory = tmp_path_factory.mktemp("sigframe-probe")
    source = directory / "probe.c"
    source.write_text(PROBE_C)
    binary = directory / "probe"
    subprocess.run([gcc, "-O1", "-o", str(binary), str(source)], check=True)
    output = subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout
    return _parse_probe_output(output)


def _parse_probe_output(output):
    result = {"events": {}}
    current = None
    for line in output.splitlines():
        key, _, rest = line.partition(" ")
        if key == "event":
            current = result["events"][rest] = {}
        elif current is not None and key in ("frame", "info"):
            current[key] = bytes.fromhex(rest)
        elif current is not None and key == "gregs":
            current[key] = [int(value, 16) for value in rest.split()]
        elif current is not None and key in ("fpregs", "uc", "info_addr", "mask"):
            current[key] = int(rest, 16)
        else:
            result[key] = [int(value) for value in rest.split()]
    return result


def test_ucontext_and_siginfo_offsets_match_glibc(native_probe):
    assert native_probe["offsets"] == [0, 8, 16, sigframe.UC_MCONTEXT_OFFSET, sigframe.UC_SIGMASK_OFFSET,
                                       sigframe.FPSTATE_PTR_OFFSET]
    names = sigframe.SIGCONTEXT_REGS
    assert native_probe["gregs_order"] == [names.index("r8"), names.index("rdi"), names.index("rax"),
                                           names.index("rsp"), names.index("rip"), names.index("eflags"),
                                           18, 19, 20, 22]
    assert native_probe["siginfo"] == [128, 16, 20, 24, 32, 40, 16, 24, 16, 24]


def test_host_frame_parses_like_ours(native_probe):
    event = native_probe["events"]["sigqueue"]
    saved = sigframe.parse_rt_sigframe(event["frame"])
    gregs = event["gregs"]
    assert [saved.regs[name] for name in sigframe.SIGCONTEXT_REGS] == gregs[:18]
    assert saved.fpstate_addr == event["fpregs"]
    assert saved.mask == event["mask"] == 1 << 0                      # SIGHUP: the mask before the handler
    assert event["info_addr"] - event["uc"] == sigframe.UCONTEXT_SIZE
    assert event["uc"] % 16 == 0                                      # rsp + 8 at handler entry
    assert saved.uc_flags & UC_KERNEL_FLAGS == sigframe.UC_FLAGS


def test_our_frame_matches_the_host_kernels_field_for_field(native_probe):
    event = native_probe["events"]["segv"]
    gregs = event["gregs"]
    regs = make_regs(**dict(zip(sigframe.SIGCONTEXT_REGS, gregs[:18])))
    csgsfs = gregs[18]
    regs.cs, regs.ss = csgsfs & 0xFFFF, (csgsfs >> 48) & 0xFFFF
    native_frame = event["frame"]
    restorer = struct.unpack_from("<Q", native_frame, 0)[0]
    altstack = struct.unpack_from("<QI4xQ", native_frame, 8 + sigframe.UC_STACK_OFFSET)
    ours = sigframe.build_rt_sigframe(0x7FFF0000, regs, bytes(512), event["info"], event["mask"], altstack,
                                      restorer, trapno=gregs[20], error_code=gregs[19], cr2=gregs[22])
    layout = sigframe._RT_SIGFRAME
    native_fields = list(layout.unpack(native_frame))
    our_fields = list(layout.unpack(ours.data[:sigframe.RT_SIGFRAME_SIZE]))
    uc_flags, fpstate_ptr = 1, 32
    for fields in (native_fields, our_fields):
        fields[uc_flags] &= UC_KERNEL_FLAGS
        fields[fpstate_ptr] = 0
    assert our_fields == native_fields
    assert (gregs[20], gregs[19] & 0x4, gregs[22]) == (14, 0x4, 0x1000)   # page fault, user mode


def test_siginfo_packing_matches_the_host_kernel(native_probe):
    pid, uid = native_probe["ids"]
    events = native_probe["events"]

    queued = SigInfo.unpack(events["sigqueue"]["info"])
    assert (queued.signo, queued.code, queued.pid, queued.uid, queued.value & 0xFFFFFFFF) == (10, -1, pid, uid, 1234)
    assert queued.pack()[:32] == events["sigqueue"]["info"][:32]

    fault = SigInfo.unpack(events["segv"]["info"])
    assert (fault.signo, fault.code, fault.addr) == (11, 1, 0x1000)
    assert SigInfo.fault(11, 1, 0x1000).pack() == events["segv"]["info"]

    child = SigInfo.unpack(events["sigchld"]["info"])
    assert (child.signo, child.code, child.pid, child.uid, child.status) == (17, 1, native_probe["child"][0], uid, 7)
    rebuilt = SigInfo(17, 1, pid=child.pid, uid=uid, status=7, utime=child.utime, stime=child.stime)
    assert rebuilt.pack() == events["sigchld"]["info"]
