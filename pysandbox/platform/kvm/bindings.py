"""KVM's ioctl interface in ctypes: the structures of <linux/kvm.h> and <asm/kvm.h> for x86_64.

Only set-up and rare paths use these from Python; the hot loop is in vcpu.c.
tests/test_kvm_bindings.py checks every size and offset against the kernel's headers.
"""
import ctypes
import fcntl

KVMIO = 0xAE
_IOC_WRITE, _IOC_READ = 1, 2


def _ioc(direction, nr, size):
    return (direction << 30) | (size << 16) | (KVMIO << 8) | nr


def _io(nr):
    return _ioc(0, nr, 0)


def _ior(nr, struct):
    return _ioc(_IOC_READ, nr, ctypes.sizeof(struct))


def _iow(nr, struct):
    return _ioc(_IOC_WRITE, nr, ctypes.sizeof(struct))


def _iowr(nr, struct):
    return _ioc(_IOC_READ | _IOC_WRITE, nr, ctypes.sizeof(struct))


u8, u16, u32, u64 = ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64


class kvm_regs(ctypes.Structure):
    _fields_ = [(name, u64) for name in ("rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9",
                                         "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags")]


class kvm_segment(ctypes.Structure):
    _fields_ = [("base", u64), ("limit", u32), ("selector", u16), ("type", u8), ("present", u8), ("dpl", u8),
                ("db", u8), ("s", u8), ("l", u8), ("g", u8), ("avl", u8), ("unusable", u8), ("padding", u8)]


class kvm_dtable(ctypes.Structure):
    _fields_ = [("base", u64), ("limit", u16), ("padding", u16 * 3)]


class kvm_sregs(ctypes.Structure):
    _fields_ = [("cs", kvm_segment), ("ds", kvm_segment), ("es", kvm_segment), ("fs", kvm_segment),
                ("gs", kvm_segment), ("ss", kvm_segment), ("tr", kvm_segment), ("ldt", kvm_segment),
                ("gdt", kvm_dtable), ("idt", kvm_dtable), ("cr0", u64), ("cr2", u64), ("cr3", u64), ("cr4", u64),
                ("cr8", u64), ("efer", u64), ("apic_base", u64), ("interrupt_bitmap", u64 * 4)]


class kvm_msr_entry(ctypes.Structure):
    _fields_ = [("index", u32), ("reserved", u32), ("data", u64)]


class kvm_msrs(ctypes.Structure):
    _fields_ = [("nmsrs", u32), ("pad", u32)]


def msr_list(entries):
    """A kvm_msrs header followed by its entries, as KVM_SET_MSRS reads them."""
    class Msrs(ctypes.Structure):
        _fields_ = [("header", kvm_msrs), ("entries", kvm_msr_entry * len(entries))]
    msrs = Msrs()
    msrs.header.nmsrs = len(entries)
    for slot, (index, data) in zip(msrs.entries, entries):
        slot.index, slot.data = index, data
    return msrs


class kvm_cpuid_entry2(ctypes.Structure):
    _fields_ = [("function", u32), ("index", u32), ("flags", u32), ("eax", u32), ("ebx", u32), ("ecx", u32),
                ("edx", u32), ("padding", u32 * 3)]


class kvm_cpuid2(ctypes.Structure):
    _fields_ = [("nent", u32), ("padding", u32)]


MAX_CPUID_ENTRIES = 256


class CpuidTable(ctypes.Structure):
    _fields_ = [("header", kvm_cpuid2), ("entries", kvm_cpuid_entry2 * MAX_CPUID_ENTRIES)]


class kvm_userspace_memory_region(ctypes.Structure):
    _fields_ = [("slot", u32), ("flags", u32), ("guest_phys_addr", u64), ("memory_size", u64),
                ("userspace_addr", u64)]


class kvm_xsave(ctypes.Structure):
    _fields_ = [("region", u32 * 1024)]


class kvm_xcr(ctypes.Structure):
    _fields_ = [("xcr", u32), ("reserved", u32), ("value", u64)]


class kvm_xcrs(ctypes.Structure):
    _fields_ = [("nr_xcrs", u32), ("flags", u32), ("xcrs", kvm_xcr * 16), ("padding", u64 * 16)]


class kvm_io(ctypes.Structure):
    _fields_ = [("direction", u8), ("size", u8), ("port", u16), ("count", u32), ("data_offset", u64)]


class kvm_run(ctypes.Structure):
    """The head of the shared kvm_run page (the exit union starts at offset 32)."""
    _fields_ = [("request_interrupt_window", u8), ("immediate_exit", u8), ("padding1", u8 * 6),
                ("exit_reason", u32), ("ready_for_interrupt_injection", u8), ("if_flag", u8), ("flags", u16),
                ("cr8", u64), ("apic_base", u64), ("io", kvm_io)]


KVM_GET_API_VERSION = _io(0x00)
KVM_CREATE_VM = _io(0x01)
KVM_CHECK_EXTENSION = _io(0x03)
KVM_GET_VCPU_MMAP_SIZE = _io(0x04)
KVM_GET_SUPPORTED_CPUID = _iowr(0x05, kvm_cpuid2)
KVM_CREATE_VCPU = _io(0x41)
KVM_SET_USER_MEMORY_REGION = _iow(0x46, kvm_userspace_memory_region)
KVM_RUN = _io(0x80)
KVM_GET_REGS = _ior(0x81, kvm_regs)
KVM_SET_REGS = _iow(0x82, kvm_regs)
KVM_GET_SREGS = _ior(0x83, kvm_sregs)
KVM_SET_SREGS = _iow(0x84, kvm_sregs)
KVM_GET_MSRS = _iowr(0x88, kvm_msrs)
KVM_SET_MSRS = _iow(0x89, kvm_msrs)
KVM_SET_CPUID2 = _iow(0x90, kvm_cpuid2)
KVM_GET_XSAVE = _ior(0xA4, kvm_xsave)
KVM_SET_XSAVE = _iow(0xA5, kvm_xsave)
KVM_GET_XCRS = _ior(0xA6, kvm_xcrs)
KVM_SET_XCRS = _iow(0xA7, kvm_xcrs)

KVM_CAP_USER_MEMORY = 3
KVM_CAP_MAX_VCPUS = 66
KVM_CAP_SYNC_REGS = 74
KVM_CAP_XCRS = 56
KVM_CAP_IMMEDIATE_EXIT = 136
KVM_API_VERSION = 12

KVM_EXIT_IO = 2
KVM_MEM_READONLY = 2
KVM_SYNC_X86_REGS, KVM_SYNC_X86_SREGS = 1, 2

MSR_EFER, MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SYSCALL_MASK = 0xC0000080, 0xC0000081, 0xC0000082, 0xC0000083, 0xC0000084
MSR_KERNEL_GS_BASE = 0xC0000102


def ioctl(fd, request, arg=0):
    """ioctl(2) on a KVM fd; raises OSError like fcntl.ioctl."""
    return fcntl.ioctl(fd, request, arg, True) if isinstance(arg, ctypes.Structure) else fcntl.ioctl(fd, request, arg)
