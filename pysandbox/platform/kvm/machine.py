"""The KVM platform: one VM per sandbox, one vCPU per guest thread, the workload in ring 3.

Guest memory is one host memfd (the memory file) mapped into the sentry and
given to KVM as memslot 0. Each address space has its own 4-level page tables
in that memory; the sentry writes them directly. On PVM hosts a ring-3 `syscall`
stays in ring 3 at LSTAR, where an `out` exits to the host; the host performs
the sysret by setting the registers. Exceptions go through the IDT to ring 0,
where a stub `out` exits; the host returns to ring 3 through an `iretq` gadget.
See docs/KVM.md for the layout and for how page-table changes reach the guest.
"""
import ctypes
import errno
import itertools
import mmap
import os
import select
import signal
import struct
import time

from pysandbox.platform import INTERRUPTED, SYSCALL, Fault, Platform, timeout_ms
from pysandbox.platform.kvm import bindings as kvm
from pysandbox.platform.kvm._vcpu import ffi, lib
from pysandbox.platform.kvm.address_space import (PF_PROTECTION, PLATFORM_BASE, PTE_NX, PTE_PRESENT,
                                                  PTE_USER, PTE_WRITE, TABLE_ENTRY, KvmAddressSpace)
from pysandbox.platform.kvm.memory import PAGE, PAGE_SHIFT, PhysicalMemory
from pysandbox.security import seccomp
from pysandbox.sentry.errors import SandboxError, SyscallError

MAX_VCPUS = 256

# The sandbox's own pages sit above the guest's addresses (GUEST_ADDRESS_LIMIT), in a
# page directory every address space shares.
SYSCALL_STUB = PLATFORM_BASE                         # user-executable: `out SYSCALL_PORT, al`
SUPERVISOR_CODE = PLATFORM_BASE + 0x1000             # fault stubs, then the iretq gadget
FAULT_STUBS = SUPERVISOR_CODE
IRET_GADGET = SUPERVISOR_CODE + 0x200
DESCRIPTOR_TABLES = PLATFORM_BASE + 0x2000           # GDT at +0, IDT at +0x800
GDT = DESCRIPTOR_TABLES
IDT = DESCRIPTOR_TABLES + 0x800
KERNEL_STACKS = PLATFORM_BASE + 0x10000              # one page per vCPU, its TSS at the bottom
SYSCALL_PORT, FAULT_PORT_BASE = 0x10, 0x80
TSS_SIZE = 0x68
TSS_IO_BITMAP_BYTES = SYSCALL_PORT // 8 + 1
VECTORS = 32

# Linux's selectors (arch/x86/include/asm/segment.h).
KERNEL_CS, KERNEL_DS, USER32_CS, USER_DS, USER_CS, TSS_SELECTOR = 0x10, 0x18, 0x23, 0x2B, 0x33, 0x40


CR0_PE, CR0_MP, CR0_ET, CR0_NE, CR0_WP, CR0_AM, CR0_PG = 1, 2, 0x10, 0x20, 0x10000, 0x40000, 0x80000000
CR4_PAE, CR4_OSFXSR, CR4_OSXMMEXCPT, CR4_FSGSBASE, CR4_OSXSAVE = 0x20, 0x200, 0x400, 0x10000, 0x40000
EFER_SCE, EFER_LME, EFER_LMA, EFER_NXE = 1, 0x100, 0x400, 0x800
# What `syscall` clears in rflags (Linux's): TF, DF, IF, IOPL, NT, AC.
SYSCALL_MASK = 0x47700

STOP_SYSCALL, STOP_FAULT, STOP_INTERRUPTED, STOP_FATAL = 1, 2, 3, 4     # as vcpu.c says why a vCPU stopped
SYSCALL_STOP_STATUS = ((0x80 | 5) << 8) | 0x7F      # the wait status the sentry knows for a syscall stop
OTHER_STOP_STATUS = (5 << 8) | 0x7F
FAULT_FIXED = -1                                    # _stopped(): a page fault answered by the platform
KICK_SIGNAL = signal.SIGRTMIN + 3

SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV = 4, 5, 7, 8, 11
SI_KERNEL = 0x80
ILL_ILLOPN, FPE_INTDIV, FPE_FLTINV, SEGV_MAPERR, SEGV_ACCERR = 2, 1, 7, 1, 2
BUS_ADRALN, BUS_ADRERR, TRAP_TRACE = 1, 2, 2
# vector -> (signal, si_code, whether si_addr is the faulting instruction), as Linux's traps.c sends them
_TRAP_SIGNALS = {0: (SIGFPE, FPE_INTDIV, True), 1: (SIGTRAP, TRAP_TRACE, False), 3: (SIGTRAP, SI_KERNEL, False),
                 4: (SIGSEGV, SI_KERNEL, False), 5: (SIGSEGV, SI_KERNEL, False), 6: (SIGILL, ILL_ILLOPN, True),
                 7: (SIGSEGV, SI_KERNEL, False), 10: (SIGSEGV, SI_KERNEL, False), 11: (SIGBUS, SI_KERNEL, False),
                 12: (SIGBUS, SI_KERNEL, False), 13: (SIGSEGV, SI_KERNEL, False), 16: (SIGFPE, FPE_FLTINV, True),
                 17: (SIGBUS, BUS_ADRALN, False), 19: (SIGFPE, FPE_FLTINV, True)}
_ERROR_CODE_VECTORS = {8, 10, 11, 12, 13, 14, 17, 21, 29, 30}
XSAVE_HEADER = 512
XCR0_OFFSET_IN_IMAGE = 464                # where ptrace's NT_X86_XSTATE image keeps XCR0, as the sentry expects


def host_support():
    """(usable, reason) for this host, without changing anything."""
    if not os.path.exists("/dev/kvm"):
        return False, "/dev/kvm missing"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm not accessible (needs read/write permission)"
    kind = host_kind()
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as error:
        return False, f"/dev/kvm: {error.strerror}"
    try:
        if kvm.ioctl(fd, kvm.KVM_GET_API_VERSION) != kvm.KVM_API_VERSION:
            return False, "unsupported KVM API version"
        for cap, name in ((kvm.KVM_CAP_SYNC_REGS, "sync regs"), (kvm.KVM_CAP_IMMEDIATE_EXIT, "immediate exit"),
                          (kvm.KVM_CAP_XCRS, "XCRs")):
            if kvm.ioctl(fd, kvm.KVM_CHECK_EXTENSION, cap) <= 0:
                return False, f"{kind} host without KVM_CAP {name}"
    finally:
        os.close(fd)
    return True, f"{kind} host, supported" + ("" if kind == "PVM" else " (untested on this kind of host)")


def host_kind():
    """PVM (kvm_pvm: software virtualisation, ring-3 syscall entry) or VMX/SVM hardware."""
    if os.path.exists("/sys/module/kvm_pvm"):
        return "PVM"
    if os.path.exists("/sys/module/kvm_intel"):
        return "VMX"
    if os.path.exists("/sys/module/kvm_amd"):
        return "SVM"
    return "hardware"


def _gate(handler):
    """A 64-bit interrupt gate to `handler` in ring 0, callable only by the CPU."""
    low = (handler & 0xFFFF) | (KERNEL_CS << 16) | (0x8E << 40) | (((handler >> 16) & 0xFFFF) << 48)
    return struct.pack("<QQ", low, handler >> 32)


def _supervisor_code():
    """Fault stubs (16 bytes per vector): push a zero error code where the CPU pushes none,
    then `out FAULT_PORT_BASE + vector, al`; at +0x200 the `iretq` the host returns through."""
    code = bytearray(b"\xcc" * PAGE)
    for vector in range(VECTORS):
        stub = (b"" if vector in _ERROR_CODE_VECTORS else b"\x6a\x00") + bytes([0xE6, FAULT_PORT_BASE + vector])
        code[vector * 16:vector * 16 + len(stub)] = stub + b"\x0f\x0b"[:16 - len(stub)]
    code[0x200:0x202] = b"\x48\xcf"
    return bytes(code)


def _descriptor_tables():
    gdt = [0, 0,
           0x00AF9B000000FFFF,      # KERNEL_CS: 64-bit code, ring 0
           0x00CF93000000FFFF,      # KERNEL_DS
           0x00CFFB000000FFFF,      # USER32_CS
           0x00CFF3000000FFFF,      # USER_DS
           0x00AFFB000000FFFF]      # USER_CS: 64-bit code, ring 3
    page = bytearray(PAGE)
    struct.pack_into(f"<{len(gdt)}Q", page, 0, *gdt)
    for vector in range(VECTORS):
        page[0x800 + vector * 16:0x800 + vector * 16 + 16] = _gate(FAULT_STUBS + vector * 16)
    return bytes(page)


class KvmPlatform(Platform):
    name = "kvm"

    def __init__(self, cpu=None):
        usable, reason = host_support()
        if not usable:
            raise SandboxError(f"kvm: {reason} (use --platform=ptrace)", 2)
        self.cpu = cpu                      # the sentry's CPU: vCPU threads inherit its affinity
        self._kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
        self._vm = kvm.ioctl(self._kvm, kvm.KVM_CREATE_VM)
        self._run_size = kvm.ioctl(self._kvm, kvm.KVM_GET_VCPU_MMAP_SIZE)
        self.memory = PhysicalMemory(self._vm)
        self._cpuid = kvm.CpuidTable()
        self._cpuid.header.nent = kvm.MAX_CPUID_ENTRIES
        kvm.ioctl(self._kvm, kvm.KVM_GET_SUPPORTED_CPUID, self._cpuid)
        self.xcr0, self.xsave_size = self._xsave_features()
        self._event_fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_SEMAPHORE)
        self._epoll = select.epoll()
        self._epoll.register(self._event_fd, select.EPOLLIN)
        self._watched = set()
        self._ready = ffi.new("int[64]")
        self._n_ready = ffi.new("int *")
        err = lib.psk_init(self._event_fd, SYSCALL_STUB, FAULT_STUBS, IRET_GADGET, KICK_SIGNAL)
        if err < 0:
            raise SandboxError(f"kvm: cannot set up the vCPU kick signal: {os.strerror(-err)}")
        self._shared_directory = self._build_platform_pages()
        self.vcpus = []                     # every vCPU made so far, by index
        self._idle_vcpus = []               # stopped vCPUs no context holds
        self.contexts = {}                  # context id -> KvmContext
        self._by_vcpu = {}                  # vCPU index -> KvmContext
        self._running = 0                   # vCPUs running on their own threads
        self._ids = itertools.count(1)
        self._initial_fpstate = None
        self.threads_confined = False       # confine_threads: every vCPU thread gets its filter
        self.closed = False

    def _xsave_features(self):
        for entry in self._cpuid.entries[:self._cpuid.header.nent]:
            if entry.function == 0xD and entry.index == 0:
                return entry.eax | (entry.edx << 32), entry.ecx
        return 3, 576

    # -- the sandbox's own pages ------------------------------------------------
    def _build_platform_pages(self):
        """The page directory mapping [PLATFORM_BASE, +1 GiB): the syscall stub (user), the
        fault stubs, descriptor tables and kernel stacks (supervisor)."""
        memory = self.memory
        directory = memory.alloc_table()
        table = memory.alloc_table()
        memory.set_entry(directory, 0, (table << PAGE_SHIFT) | TABLE_ENTRY)
        self._platform_table = table
        syscall_page = memory.alloc_page()
        memory.write_page(syscall_page, (bytes([0xE6, SYSCALL_PORT]) + b"\x0f\x0b").ljust(PAGE, b"\xcc"))
        code_page = memory.alloc_page()
        memory.write_page(code_page, _supervisor_code())
        tables_page = memory.alloc_page()
        memory.write_page(tables_page, _descriptor_tables())
        memory.set_entry(table, 0, (syscall_page << PAGE_SHIFT) | PTE_PRESENT | PTE_USER)
        memory.set_entry(table, 1, (code_page << PAGE_SHIFT) | PTE_PRESENT)
        memory.set_entry(table, 2, (tables_page << PAGE_SHIFT) | PTE_PRESENT | PTE_NX)
        return directory

    # -- vCPUs ----------------------------------------------------------------------
    def _take_vcpu(self):
        if self._idle_vcpus:
            return self._idle_vcpus.pop()
        index = len(self.vcpus)
        if index >= MAX_VCPUS:
            raise SyscallError(errno.EAGAIN)
        vcpu = Vcpu(self, index)
        self.vcpus.append(vcpu)
        if self._initial_fpstate is None:
            self._initial_fpstate = vcpu.get_xsave()
        return vcpu

    def _give_back(self, vcpu):
        """A vCPU whose context is gone: idle again once its thread has stopped."""
        if not vcpu.running:
            self._idle_vcpus.append(vcpu)
        else:
            vcpu.orphaned = True
            lib.psk_kick(vcpu.index)

    def confine_threads(self, mode, log_fd):
        """Each vCPU thread's own seccomp filter (security/seccomp.py: vcpu_rules), stacked on the
        sentry's: vCPUs made later get theirs when they are made. A call the filter refuses is
        reported by vcpu.c's SIGSYS handler, in seccomp.denial_line's words (platform/hostcall.c)."""
        if mode == "off":
            return
        keep_going = mode == "debug"
        self._log_fd = log_fd
        before, names, after = seccomp.denial_report(keep_going, "a KVM vCPU thread", " (vcpu_rules)")
        err = lib.psk_confine_setup(log_fd, before, names, len(names), seccomp.REPORT_NAMES, after, keep_going,
                                    seccomp.VCPU_FILTER_DATA, seccomp.KILLED_STATUS)
        if err < 0:
            raise SandboxError(f"kvm: cannot install the vCPU threads' SIGSYS handler: {os.strerror(-err)}", 125)
        self.threads_confined = True
        for vcpu in self.vcpus:
            vcpu.confine()

    def load_root(self, space):
        """Point every vCPU of `space` at its new root table before it next runs guest code."""
        running = [c for c in space.contexts if c.vcpu is not None and c.vcpu.running]
        if running:
            lib.psk_pause_all()
        try:
            for context in space.contexts:
                if context.vcpu is not None:
                    lib.psk_set_cr3(context.vcpu.index, space.root << PAGE_SHIFT)
        finally:
            if running:
                lib.psk_unpause_all()

    def new_process(self):
        space = KvmAddressSpace(self)
        return KvmContext(self, space, None)

    # -- the event loop ----------------------------------------------------------------
    def resume_and_wait(self, context):
        tid, status = self.resume_and_wait_raw(context)
        return ([self.event_for(tid, status)] if tid > 0 else []), ()

    def resume_and_wait_raw(self, context, timeout=None):
        """The hot path: resume `context`, block for the next stop of any vCPU; returns
        (context id, wait-status-like code) for event_for(), or (0, 0) for nothing to report:
        also when `timeout` seconds passed or a watched fd became ready first (the vCPU then
        runs on, on its own thread)."""
        context.stopped = False
        vcpu = context.vcpu
        if timeout is not None or self._watched:
            return self._resume_and_wait_until(context, timeout)
        while True:
            if self._running == 0:
                # Nothing else runs guest code: run it on this thread, saving two thread switches
                # (and no other Python runs meanwhile, so the vCPU need not be marked running).
                stop = lib.psk_run_inline(vcpu.index)
                if stop == STOP_SYSCALL:
                    context.stopped = True
                    return context.tid, SYSCALL_STOP_STATUS
                index = vcpu.index if stop > 0 else stop
            else:
                self.mark_running(vcpu)
                index = lib.psk_resume_wait(vcpu.index)
            while True:
                if index < 0:
                    if index == -errno.EBUSY:
                        raise SandboxError("kvm: resumed a vCPU that was still running")
                    return 0, 0
                tid, status = self._stopped(index)
                if tid != FAULT_FIXED:
                    if tid or context.stopped or context.exited:
                        return tid, status
                elif self.contexts.get(status) is context:
                    break                             # run it again
                else:
                    self._resume_thread(self.contexts[status])
                index = lib.psk_wait()

    def _resume_and_wait_until(self, context, timeout):
        """resume_and_wait_raw with a deadline or watched fds: the vCPU runs on its own thread
        (running it inline would leave nothing to end the wait at the deadline)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._resume_thread(context)
        while True:
            index = lib.psk_take()
            if index < 0:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                lib.psk_wait_event(self._epoll.fileno(), timeout_ms(left), self._ready, 64, self._n_ready)
                index = lib.psk_take()
                if index < 0:
                    return 0, 0                      # the deadline, or a watched fd
            tid, status = self._stopped(index)
            if tid == FAULT_FIXED:
                self._resume_thread(self.contexts[status])
            elif tid or context.stopped or context.exited:
                return tid, status

    def _resume_thread(self, context):
        self.mark_running(context.vcpu)
        lib.psk_resume(context.vcpu.index)

    def mark_running(self, vcpu):
        """`vcpu` is about to run on its own thread."""
        vcpu.running = True
        self._running += 1

    def _stopped(self, index):
        context = self._by_vcpu.get(index)
        vcpu = self.vcpus[index]
        if vcpu.running:
            self._running -= 1
        vcpu.running = False
        if context is None or context.exited:
            if vcpu.orphaned:
                vcpu.orphaned = False
                self._idle_vcpus.append(vcpu)
            return 0, 0
        stop = lib.psk_stop(index)
        if stop == STOP_SYSCALL:
            context.stopped = True
            return context.tid, SYSCALL_STOP_STATUS
        if (stop == STOP_FAULT and lib.psk_vector(index) == 14
                and context.address_space.fix_fault(lib.psk_fault_addr(index), lib.psk_error_code(index))):
            return FAULT_FIXED, context.tid      # run it on: the guest never sees this fault
        context.stopped = True
        context.last_stop = stop
        return context.tid, OTHER_STOP_STATUS

    def event_for(self, tid, status):
        context = self.contexts.get(tid)
        if context is None:
            return None, None
        if status == SYSCALL_STOP_STATUS:
            return context, SYSCALL
        if context.last_stop == STOP_FAULT:
            return context, context.fault()
        if context.last_stop == STOP_FATAL:
            reason = lib.psk_exit_reason(context.vcpu.index)
            return context, Fault(SIGSEGV, SI_KERNEL, 0, trapno=0, error_code=reason)
        return context, INTERRUPTED

    def wait(self, timeout):
        """Wait for a vCPU stop, a watched fd, or `timeout` seconds (None: forever)."""
        events = self._take_stops()
        if events:
            return events, ()
        lib.psk_wait_event(self._epoll.fileno(), timeout_ms(timeout), self._ready, 64, self._n_ready)
        ready = [self._ready[i] for i in range(self._n_ready[0])]
        return self._take_stops(), ready

    def _take_stops(self):
        events = []
        while True:
            index = lib.psk_take()
            if index < 0:
                return events
            tid, status = self._stopped(index)
            if tid == FAULT_FIXED:
                self._resume_thread(self.contexts[status])
            elif tid > 0:
                events.append(self.event_for(tid, status))

    def close(self):
        if self.closed:
            return
        self.closed = True
        lib.psk_shutdown()
        for vcpu in self.vcpus:
            vcpu.close()
        self._epoll.close()
        os.close(self._event_fd)
        self.memory.close()
        os.close(self._vm)
        os.close(self._kvm)


class Vcpu:
    """One KVM vCPU and the host thread that runs it."""

    def __init__(self, platform, index):
        self.platform = platform
        self.index = index
        self.orphaned = False
        self.running = False                # in the guest on its own thread, or about to be
        self.fd = kvm.ioctl(platform._vm, kvm.KVM_CREATE_VCPU, index)
        self.run_map = mmap.mmap(self.fd, platform._run_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        memory = platform.memory
        self.kstack_page = memory.alloc_page()
        self.kstack_va = KERNEL_STACKS + index * PAGE
        memory.set_entry(platform._platform_table, (self.kstack_va - PLATFORM_BASE) >> PAGE_SHIFT,
                         (self.kstack_page << PAGE_SHIFT) | PTE_PRESENT | PTE_WRITE | PTE_NX)
        # The TSS at the bottom of the stack page: rsp0 (offset 4) is where the CPU switches
        # to on an exception in ring 3. Its I/O bitmap lets ring 3 use SYSCALL_PORT alone: on
        # PVM the syscall entry runs in ring 3.
        bitmap = bytearray(b"\xff" * (TSS_IO_BITMAP_BYTES + 1))
        bitmap[SYSCALL_PORT // 8] &= ~(1 << (SYSCALL_PORT % 8))
        memory.write_page(self.kstack_page, struct.pack("<IQ", 0, self.kstack_va + PAGE).ljust(102, b"\0")
                          + struct.pack("<H", TSS_SIZE) + bytes(bitmap))
        kvm.ioctl(self.fd, kvm.KVM_SET_CPUID2, platform._cpuid)
        self._set_special_registers()
        kvm.ioctl(self.fd, kvm.KVM_SET_MSRS, kvm.msr_list([
            (kvm.MSR_LSTAR, SYSCALL_STUB), (kvm.MSR_CSTAR, SYSCALL_STUB),
            (kvm.MSR_STAR, (USER32_CS << 48) | (KERNEL_CS << 32)), (kvm.MSR_SYSCALL_MASK, SYSCALL_MASK),
            (kvm.MSR_KERNEL_GS_BASE, 0)]))
        xcrs = kvm.kvm_xcrs()
        xcrs.nr_xcrs = 1
        xcrs.xcrs[0].xcr, xcrs.xcrs[0].value = 0, platform.xcr0
        kvm.ioctl(self.fd, kvm.KVM_SET_XCRS, xcrs)
        regs = kvm.kvm_regs()
        regs.rflags = 0x202
        kvm.ioctl(self.fd, kvm.KVM_SET_REGS, regs)
        run_address = ctypes.addressof(ctypes.c_char.from_buffer(self.run_map))
        err = lib.psk_vcpu_start(index, self.fd, ffi.cast("void *", run_address),
                                 ffi.cast("void *", memory.address + (self.kstack_page << PAGE_SHIFT)),
                                 self.kstack_va)
        if err < 0:
            raise SandboxError(f"kvm: cannot start a vCPU thread: {os.strerror(-err)}")
        if platform.threads_confined:
            self.confine()

    def confine(self):
        """This vCPU's thread under its own seccomp filter, before it next runs guest code."""
        rules = seccomp.vcpu_rules(self.fd, self.platform._event_fd, self.platform._log_fd)
        program = seccomp.compile_filter(rules, fallback_errnos={},
                                         deny=seccomp.SECCOMP_RET_TRAP | seccomp.VCPU_FILTER_DATA)
        self._filter = ffi.from_buffer(program)        # the thread reads it while it installs it
        test_syscall = int(os.environ.get("PYSANDBOX_TEST_VCPU_SYSCALL", "-1"))   # test-only: see the filter hold
        err = lib.psk_confine(self.index, self._filter, len(program) // 8, test_syscall)
        if err < 0:
            raise SandboxError(f"cannot install a KVM vCPU thread's seccomp filter ({os.strerror(-err)}); "
                               f"--seccomp off runs without it", 125)

    def _set_special_registers(self):
        sregs = kvm.kvm_sregs()
        kvm.ioctl(self.fd, kvm.KVM_GET_SREGS, sregs)
        sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG
        sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_FSGSBASE | CR4_OSXSAVE
        sregs.efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE
        code = kvm.kvm_segment(0, 0xFFFFFFFF, USER_CS, 11, 1, 3, 0, 1, 1, 1, 0, 0, 0)
        data = kvm.kvm_segment(0, 0xFFFFFFFF, USER_DS, 3, 1, 3, 1, 1, 0, 1, 0, 0, 0)
        sregs.cs = code
        sregs.ss = sregs.ds = sregs.es = sregs.fs = sregs.gs = data
        sregs.tr = kvm.kvm_segment(self.kstack_va, TSS_SIZE + TSS_IO_BITMAP_BYTES, TSS_SELECTOR, 11, 1, 0, 0, 0, 0, 0, 0, 0, 0)
        sregs.ldt = kvm.kvm_segment(0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0, 1, 0)
        sregs.gdt.base, sregs.gdt.limit = GDT, 8 * 8 - 1
        sregs.idt.base, sregs.idt.limit = IDT, VECTORS * 16 - 1
        kvm.ioctl(self.fd, kvm.KVM_SET_SREGS, sregs)

    def get_xsave(self):
        area = kvm.kvm_xsave()
        kvm.ioctl(self.fd, kvm.KVM_GET_XSAVE, area)
        return bytes(area)

    def set_xsave(self, image):
        area = kvm.kvm_xsave.from_buffer_copy(bytes(image[:4096]).ljust(4096, b"\0"))
        try:
            kvm.ioctl(self.fd, kvm.KVM_SET_XSAVE, area)
        except OSError:
            return False
        return True

    def close(self):
        self.run_map.close()
        os.close(self.fd)


class KvmContext:
    """One guest thread: a vCPU running in one address space."""

    def __init__(self, platform, address_space, parent):
        self.platform = platform
        self.address_space = address_space
        self.tid = next(platform._ids)
        self.pid = parent.pid if parent is not None else self.tid
        self.regs = ffi.new("struct user_regs_struct *")
        self.stopped = True
        self.exited = False
        self.task = None
        self.last_stop = 0
        self.vcpu = platform._take_vcpu()
        lib.psk_set_regs(self.vcpu.index, self.regs)
        lib.psk_set_cr3(self.vcpu.index, address_space.root << PAGE_SHIFT)
        lib.psk_reset_run_ns(self.vcpu.index)
        if parent is not None:
            ffi.memmove(self.regs, parent.regs, ffi.sizeof("struct user_regs_struct"))
            self.vcpu.set_xsave(parent.vcpu.get_xsave())
        else:
            self.regs.eflags = 0x202
            self.vcpu.set_xsave(platform._initial_fpstate)
        self.regs.cs, self.regs.ss = USER_CS, USER_DS
        platform.contexts[self.tid] = self
        platform._by_vcpu[self.vcpu.index] = self
        address_space.contexts.add(self)

    def resume(self):
        self.stopped = False
        self.platform.mark_running(self.vcpu)
        err = lib.psk_resume(self.vcpu.index)
        if err < 0:
            raise SandboxError(f"kvm: resume: {os.strerror(-err)}")

    def interrupt(self):
        if not self.stopped and self.vcpu is not None:
            lib.psk_kick(self.vcpu.index)

    def cpu_times(self):
        return self.address_space.cpu_seconds(), 0.0

    def get_fpstate(self):
        """The vCPU's XSAVE image as ptrace gives it: the size the enabled features need,
        XCR0 in the FXSAVE area's software bytes."""
        image = bytearray(self.vcpu.get_xsave()[:self.platform.xsave_size])
        image[XCR0_OFFSET_IN_IMAGE:XCR0_OFFSET_IN_IMAGE + 8] = self.platform.xcr0.to_bytes(8, "little")
        return bytes(image)

    def set_fpstate(self, data):
        """Load an XSAVE image, or a bare 512-byte FXSAVE image; False if the CPU refuses it."""
        data = bytes(data)
        if len(data) <= XSAVE_HEADER:
            image = bytearray(self.vcpu.get_xsave())
            image[:len(data)] = data
            xstate_bv = int.from_bytes(image[XSAVE_HEADER:XSAVE_HEADER + 8], "little") | 3
            image[XSAVE_HEADER:XSAVE_HEADER + 8] = xstate_bv.to_bytes(8, "little")
        else:
            image = bytearray(data)
        image[XCR0_OFFSET_IN_IMAGE:XSAVE_HEADER] = bytes(XSAVE_HEADER - XCR0_OFFSET_IN_IMAGE)
        return self.vcpu.set_xsave(image)

    def clone_thread(self):
        return KvmContext(self.platform, self.address_space, self)

    def fork(self, share_memory=False):
        space = self.address_space if share_memory else self.address_space.fork()
        child = KvmContext(self.platform, space, self)
        child.pid = child.tid
        return child

    def exit(self):
        self._gone()

    def kill_process(self):
        """End every context of this process (its address space's threads)."""
        for context in [c for c in self.address_space.contexts if c.pid == self.pid]:
            context._gone()

    def _gone(self):
        if self.exited:
            return
        self.exited = True
        self.stopped = False
        self.platform.contexts.pop(self.tid, None)
        vcpu, self.vcpu = self.vcpu, None
        self.address_space.past_run_ns += lib.psk_run_ns(vcpu.index)
        self.address_space.contexts.discard(self)
        if self.platform._by_vcpu.get(vcpu.index) is self:
            del self.platform._by_vcpu[vcpu.index]
        self.platform._give_back(vcpu)

    def fault(self):
        """The signal for the exception this vCPU stopped at, as Linux's traps.c sends it."""
        index = self.vcpu.index
        vector, error_code = lib.psk_vector(index), lib.psk_error_code(index)
        if vector == 14:
            addr = lib.psk_fault_addr(index)
            if self.address_space.past_end(addr):
                return Fault(SIGBUS, BUS_ADRERR, addr, trapno=14, error_code=error_code | 4)
            code = SEGV_ACCERR if error_code & PF_PROTECTION else SEGV_MAPERR
            return Fault(SIGSEGV, code, addr, trapno=14, error_code=error_code | 4)
        signo, code, at_instruction = _TRAP_SIGNALS.get(vector, (SIGSEGV, SI_KERNEL, False))
        return Fault(signo, code, self.regs.rip if at_instruction else 0, trapno=vector, error_code=error_code)
