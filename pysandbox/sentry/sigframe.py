"""The x86_64 signal frame (struct rt_sigframe), built and parsed as bytes.

Linux's layout (arch/x86/include/asm/sigframe.h, uapi/asm/ucontext.h and
uapi/asm/sigcontext.h), from the handler's stack pointer upwards:

    rt_sigframe  pretcode       where the handler returns to: sa_restorer
                 ucontext       uc_flags, uc_link, uc_stack, uc_mcontext, uc_sigmask
                 siginfo        128 bytes
    padding
    fpstate      512-byte FXSAVE image, 64-byte aligned; uc_mcontext.fpstate points here
    red zone     128 bytes below the interrupted rsp that leaf code may use

uc_mcontext is struct sigcontext: the general registers, cs/gs/fs/ss, the
fault's err/trapno/cr2, oldmask, the fpstate pointer and reserved words.
Only the legacy FXSAVE area is saved, so UC_FP_XSTATE stays clear.

Pure functions: no task and no guest memory here.
"""
import struct
from collections import namedtuple

from pysandbox.sentry.signals import SIGINFO_SIZE

MASK64 = (1 << 64) - 1
RED_ZONE = 128
FXSAVE_SIZE = 512
FPSTATE_ALIGN = 64

UC_FP_XSTATE = 0x1
UC_SIGCONTEXT_SS = 0x2
UC_STRICT_RESTORE_SS = 0x4
UC_FLAGS = UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS

# struct sigcontext's general registers, in order (glibc's REG_R8 .. REG_EFL).
SIGCONTEXT_REGS = ("r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
                   "rdi", "rsi", "rbp", "rbx", "rdx", "rax", "rcx", "rsp", "rip", "eflags")

_RT_SIGFRAME = struct.Struct(
    "<Q"        # pretcode
    "QQ"        # uc_flags, uc_link
    "QI4xQ"     # uc_stack: ss_sp, ss_flags, ss_size
    "18Q"       # uc_mcontext: SIGCONTEXT_REGS
    "4H"        # cs, gs, fs, ss
    "4Q"        # err, trapno, oldmask, cr2
    "Q64x"      # fpstate, reserved1[8]
    "Q"         # uc_sigmask
    "128s")     # info

RT_SIGFRAME_SIZE = _RT_SIGFRAME.size
UCONTEXT_OFFSET = 8
UC_STACK_OFFSET = 16                  # within the ucontext
UC_MCONTEXT_OFFSET = 40
FPSTATE_PTR_OFFSET = UC_MCONTEXT_OFFSET + 184
UC_SIGMASK_OFFSET = 296
UCONTEXT_SIZE = UC_SIGMASK_OFFSET + 8
SIGINFO_OFFSET = UCONTEXT_OFFSET + UCONTEXT_SIZE

# fpx_sw_bytes: where an XSAVE-aware kernel marks an extended frame; FXSAVE-only frames zero it.
_FXSAVE_SW_RESERVED = slice(464, 512)
_MXCSR = slice(24, 28)
MXCSR_VALID_BITS = 0xFFFF
# The FPU's state after reset: x87 control word 0x37f, MXCSR 0x1f80, everything else zero.
INIT_FPSTATE = struct.pack("<H22xI", 0x37F, 0x1F80).ljust(FXSAVE_SIZE, b"\0")

assert RT_SIGFRAME_SIZE == SIGINFO_OFFSET + SIGINFO_SIZE == 440


class SignalFrame(namedtuple("SignalFrame", "addr data fpstate_addr")):
    """A frame ready to be copied out: `data` goes at `addr`, which becomes the handler's rsp."""
    __slots__ = ()

    @property
    def ucontext_addr(self):
        return self.addr + UCONTEXT_OFFSET

    @property
    def siginfo_addr(self):
        return self.addr + SIGINFO_OFFSET


SavedContext = namedtuple("SavedContext", (
    "regs",          # SIGCONTEXT_REGS -> value
    "mask",          # uc_sigmask
    "fpstate_addr",  # 0: no FPU state saved
    "altstack",      # uc_stack: (ss_sp, ss_flags, ss_size)
    "uc_flags",
))
SavedContext.__doc__ = "What rt_sigreturn restores, read back from a frame."


# An XSAVE image in a frame is marked as Linux marks it (struct _fpx_sw_bytes in the FXSAVE
# area's software-reserved bytes, and a second magic word after the image).
FP_XSTATE_MAGIC1, FP_XSTATE_MAGIC2 = 0x46505853, 0x46505845
FP_XSTATE_MAGIC2_SIZE = 4
_SW_BYTES = struct.Struct("<IIQI")            # magic1, extended_size, xfeatures, xstate_size
# ptrace's XSAVE image carries the XCR0 value (the enabled features) where the frame's
# software bytes go.
_PTRACE_XCR0 = slice(464, 472)
MAX_XSTATE_SIZE = 1 << 14


def fpstate_area_size(fpstate):
    """Bytes the FPU state takes in a frame: the image, plus the trailing magic for XSAVE."""
    return len(fpstate) + (FP_XSTATE_MAGIC2_SIZE if len(fpstate) > FXSAVE_SIZE else 0)


def frame_addresses(sp, fpstate_size=FXSAVE_SIZE):
    """(frame, fpstate) addresses below the stack top `sp` (Linux's get_sigframe).

    The fpstate is carved out first, 64-byte aligned; the frame goes below it,
    placed so that rsp + 8 is 16-byte aligned at handler entry, as after a call.
    """
    fpstate_addr = (sp - fpstate_size) & -FPSTATE_ALIGN
    frame_addr = ((fpstate_addr - RT_SIGFRAME_SIZE + 8) & -16) - 8
    return frame_addr, fpstate_addr


def build_rt_sigframe(sp, regs, fpstate, siginfo, saved_mask, altstack, restorer,
                      trapno=0, error_code=0, cr2=0):
    """The rt_sigframe and FXSAVE area to write below stack top `sp`.

    `regs` is the interrupted register set (any object with user_regs_struct
    field names), `fpstate` its FXSAVE image, `siginfo` the packed siginfo_t,
    `saved_mask` the signal mask sigreturn restores, `altstack` the task's
    (ss_sp, ss_flags, ss_size) and `restorer` the handler's return address.
    """
    fpstate = bytes(fpstate)
    extended = len(fpstate) > FXSAVE_SIZE
    frame_addr, fpstate_addr = frame_addresses(sp, fpstate_area_size(fpstate))
    frame = _RT_SIGFRAME.pack(
        restorer & MASK64,
        UC_FLAGS | (UC_FP_XSTATE if extended else 0), 0,
        altstack[0] & MASK64, altstack[1] & 0xFFFFFFFF, altstack[2] & MASK64,
        *(getattr(regs, name) & MASK64 for name in SIGCONTEXT_REGS),
        regs.cs & 0xFFFF, 0, 0, regs.ss & 0xFFFF,
        error_code & MASK64, trapno & MASK64, saved_mask & MASK64, cr2 & MASK64,
        fpstate_addr & MASK64,
        saved_mask & MASK64,
        bytes(siginfo))
    padding = bytes(fpstate_addr - frame_addr - RT_SIGFRAME_SIZE)
    image = xsave_for_frame(fpstate) if extended else fxsave_for_frame(fpstate)
    return SignalFrame(frame_addr, frame + padding + image, fpstate_addr)


def xsave_for_frame(xstate):
    """A ptrace XSAVE image as a frame holds it: software bytes filled in, magic at the end."""
    image = bytearray(xstate)
    xfeatures = int.from_bytes(xstate[_PTRACE_XCR0], "little")
    sw_bytes = _SW_BYTES.pack(FP_XSTATE_MAGIC1, len(image) + FP_XSTATE_MAGIC2_SIZE, xfeatures, len(image))
    image[_FXSAVE_SW_RESERVED] = sw_bytes.ljust(_FXSAVE_SW_RESERVED.stop - _FXSAVE_SW_RESERVED.start, b"\0")
    return bytes(image) + FP_XSTATE_MAGIC2.to_bytes(FP_XSTATE_MAGIC2_SIZE, "little")


def xstate_size_in_frame(fxsave_area):
    """The XSAVE image size a frame's FXSAVE area announces, or 0 for a plain FXSAVE frame."""
    magic1, extended_size, _xfeatures, xstate_size = _SW_BYTES.unpack_from(fxsave_area, _FXSAVE_SW_RESERVED.start)
    if (magic1 != FP_XSTATE_MAGIC1 or not FXSAVE_SIZE < xstate_size <= MAX_XSTATE_SIZE
            or extended_size != xstate_size + FP_XSTATE_MAGIC2_SIZE):
        return 0
    return xstate_size


def xstate_from_frame(image, xfeatures_of_cpu):
    """The XSAVE image of a frame as ptrace takes it back: MXCSR made safe, XCR0 where ptrace wants it,
    or None when the trailing magic is missing."""
    xstate_size = len(image) - FP_XSTATE_MAGIC2_SIZE
    if int.from_bytes(image[xstate_size:], "little") != FP_XSTATE_MAGIC2:
        return None
    restored = bytearray(fxsave_from_frame(image[:FXSAVE_SIZE]) + bytes(image[FXSAVE_SIZE:xstate_size]))
    restored[_FXSAVE_SW_RESERVED] = xfeatures_of_cpu.to_bytes(8, "little").ljust(48, b"\0")
    return bytes(restored)


def fxsave_for_frame(fpstate):
    """The FXSAVE image as a frame holds it: without the XSAVE software bytes."""
    image = bytearray(bytes(fpstate[:FXSAVE_SIZE]).ljust(FXSAVE_SIZE, b"\0"))
    image[_FXSAVE_SW_RESERVED] = bytes(len(image[_FXSAVE_SW_RESERVED]))
    return bytes(image)


def fxsave_from_frame(image):
    """An FXSAVE image read from a frame, made safe to load (reserved MXCSR bits cleared)."""
    mxcsr = int.from_bytes(image[_MXCSR], "little") & MXCSR_VALID_BITS
    return image[:_MXCSR.start] + mxcsr.to_bytes(4, "little") + image[_MXCSR.stop:FXSAVE_SIZE]


def parse_rt_sigframe(data):
    """The context saved in an rt_sigframe (`data` starts at pretcode)."""
    fields = _RT_SIGFRAME.unpack(bytes(data[:RT_SIGFRAME_SIZE]))
    uc_flags = fields[1]
    altstack = fields[3:6]
    regs = dict(zip(SIGCONTEXT_REGS, fields[6:24]))
    fpstate_addr, mask = fields[32], fields[33]
    return SavedContext(regs, mask, fpstate_addr, tuple(altstack), uc_flags)
