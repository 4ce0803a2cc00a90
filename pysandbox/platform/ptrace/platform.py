"""The ptrace platform: each address space is a stub process, each task a stub thread.

Guest syscalls are caught with PTRACE_SYSEMU (they never run on the host).
Memory is changed by making the stub run mmap/munmap/mprotect through its
gadget, and read or written through /proc/PID/mem.
"""
import errno
import itertools
import os
import select
import _signal as signal  # the C module: `signal` adds enum's import, ~2 ms of every start
import time
from collections import OrderedDict

from pysandbox.platform import INTERRUPTED, SYSCALL, Exited, Fault, Platform, timeout_ms
from pysandbox.platform.ptrace._loop import ffi, lib
from pysandbox.platform.ptrace.stub import (CHANNEL_FD, CMSG_ADDR, CMSG_FD_OFFSET, COPY_GADGET_ADDR, GADGET_ADDR,
                                            MSGHDR_ADDR, NAME_ADDR, SCRATCH_ADDR, SECCOMP_FPROG_ADDR, STUB_BASE,
                                            STUB_END, TAG_ADDR, scratch_page_init, stub_memfd)
from pysandbox.security.hostproc import open_proc, read_proc
from pysandbox.sentry.errors import SandboxError, SyscallError
from pysandbox.sentry.task import host_cpu_times

SYS_MMAP, SYS_MPROTECT, SYS_MUNMAP, SYS_CLONE, SYS_EXIT, SYS_PRCTL = 9, 10, 11, 56, 60, 157
SYS_MREMAP, MREMAP_MAYMOVE, MREMAP_FIXED, MREMAP_DONTUNMAP = 25, 1, 2, 4
SYS_SECCOMP, SECCOMP_SET_MODE_FILTER, PR_SET_NO_NEW_PRIVS = 317, 1, 38
SYS_CLOSE, SYS_RECVMSG = 3, 47
MSG_DONTWAIT, MSG_CMSG_CLOEXEC = 0x40, 0x40000000
MAP_PRIVATE, MAP_SHARED, MAP_FIXED, MAP_ANONYMOUS, MAP_NORESERVE = 0x02, 0x01, 0x10, 0x20, 0x4000
CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND = 0x100, 0x200, 0x400, 0x800
CLONE_PARENT, CLONE_THREAD, CLONE_SYSVSEM = 0x8000, 0x10000, 0x40000
PR_SET_NAME = 15
SYSCALL_STOP = signal.SIGTRAP | 0x80
FAULT_SIGNALS = {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGTRAP}
WALL = 0x40000000
# Test-only: a syscall number every stub makes (and dies of) before its first mapping, to show
# that the seccomp filter holds and that the sandbox reports it and cleans up.
_TEST_FORBIDDEN_SYSCALL = os.environ.get("PYSANDBOX_TEST_STUB_SYSCALL")
FXSAVE_SIZE = 512
DIRECT_WRITE_MIN = 4096       # copies this large go through process_vm_writev first
XSTATE_BUFFER_SIZE = 16384
# Large reads of host files: the stub maps windows of the file above the guest's addresses
# (read-only, shared) and copies from them into the guest's buffer itself (COPY_GADGET), so the
# bytes are copied once, as by a native read, and never pass through the sentry. The guest could
# read a window itself, so windows belong to the open file that made them and go when it is closed
# (drop_file_windows); until then the guest may read the whole file through that file anyway.
WINDOW_AREA = STUB_BASE + (1 << 32)
WINDOW_SIZE = 32 << 20
WINDOW_SLOTS = 8
# Mapping a window costs about as much as copying 1-2 MiB through the sentry: a file with less
# than this left to read is copied that way unless its window is already there.
WINDOW_WORTH = 2 << 20
# Large writes: the stub copies the guest's bytes into a staging buffer of its own (a memfd the
# sentry maps too), and the sentry writes the file from there, rather than reading them out of
# the stub through /proc/PID/mem. The guest can read its staging buffer, which only ever holds
# bytes it wrote itself; a forked child loses it (it would see its parent's next writes).
STAGING_AREA = WINDOW_AREA + WINDOW_SLOTS * WINDOW_SIZE
STAGING_SIZE = 4 << 20
PROT_READ, PROT_WRITE = 1, 2


class PtracePlatform(Platform):
    name = "ptrace"

    def __init__(self, cpu=0):
        self.cpu = -1 if cpu is None else cpu
        self._stub_fd = stub_memfd()
        # Files reach stubs over this channel (SCM_RIGHTS), so that they map them themselves.
        channel = ffi.new("int[2]")
        if lib.psb_channel(channel) < 0:
            raise SandboxError("ptrace: cannot create the stubs' file channel")
        self._channel, self._stub_channel = channel[0], channel[1]
        self._file_tags = itertools.count(1)
        self._template = None                   # the stub new address spaces are forked from
        self.contexts = {}                      # host tid -> PtraceContext
        self._status = ffi.new("int *")
        self._n_ready = ffi.new("int *")
        self._ready = ffi.new("int[64]")
        self._sigchld_fd = lib.psb_sigchld_fd()
        if self._sigchld_fd < 0:
            raise SandboxError(f"ptrace: signalfd: {os.strerror(-self._sigchld_fd)}")
        self._epoll = select.epoll()
        self._epoll.register(self._sigchld_fd, select.EPOLLIN)
        self._epoll_fd = self._epoll.fileno()
        self._watched = set()

    # -- processes -------------------------------------------------------
    def new_process(self):
        """A fresh, empty address space: a fork of the template stub, which is started and
        confined once per sandbox (forking it is much cheaper than starting a stub)."""
        for attempt in range(2):
            if self._template is None:
                self._template = self._start_stub()
            try:
                pid = self._template._new_child(CLONE_PARENT | signal.SIGCHLD)
                break
            except SyscallError:
                if attempt or self._template.tid in self.contexts:
                    raise
                self._template = None            # it died: start another
        return PtraceContext(self, PtraceAddressSpace(self, pid), pid, pid)

    def _start_stub(self):
        pid = lib.psb_spawn_stub(self._stub_fd, self._stub_channel, self.cpu)
        if pid < 0:
            raise SandboxError(f"ptrace: cannot start a stub: {os.strerror(-pid)}")
        address_space = PtraceAddressSpace(self, pid)
        context = PtraceContext(self, address_space, pid, pid)
        address_space.inject(context, SYS_PRCTL, PR_SET_NAME, NAME_ADDR)
        address_space.unmap_host_leftovers(context)
        address_space.write(SCRATCH_ADDR, scratch_page_init())
        self._confine(address_space, context)
        return context

    @staticmethod
    def _confine(address_space, context):
        """Install the stub's seccomp filter: from now on it can make only the injected calls."""
        if address_space.inject(context, SYS_PRCTL, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise SandboxError("ptrace: cannot set no_new_privs on a stub")
        result = address_space.inject(context, SYS_SECCOMP, SECCOMP_SET_MODE_FILTER, 0, SECCOMP_FPROG_ADDR)
        if result != 0:
            raise SandboxError(f"ptrace: cannot install the stub's seccomp filter: {os.strerror(-result)}")

    # -- the event loop --------------------------------------------------
    def resume_and_wait(self, context):
        """Hot path: resume one context and block until any context stops."""
        context.stopped = False
        tid = lib.psb_resume_wait(context.tid, context.regs, self._status)
        if tid < 0:
            if tid == -errno.EINTR:
                return [], ()
            if tid == -errno.ESRCH:
                return self.wait(None)
            raise SandboxError(f"ptrace: resume: {os.strerror(-tid)}")
        return [self._event(tid, self._status[0])], ()

    def resume_and_wait_raw(self, context, timeout=None):
        """The hottest path: (tid, wait status) of the next stop after resuming `context`;
        tid <= 0 when the wait ended first: interrupted, `timeout` seconds passed, or a watched
        fd became ready (the context then runs on). event_for() turns the pair into an event."""
        context.stopped = False
        if timeout is None and not self._watched:
            tid = lib.psb_resume_wait(context.tid, context.regs, self._status)
        else:
            tid = lib.psb_resume_wait_event(context.tid, context.regs, self._status, self._epoll_fd,
                                            self._sigchld_fd, timeout_ms(timeout), self._ready, 64,
                                            self._n_ready)
        if tid == context.tid:
            context.stopped = True
        elif tid < 0 and tid not in (-errno.EINTR, -errno.ESRCH, -errno.ECHILD):
            raise SandboxError(f"ptrace: resume: {os.strerror(-tid)}")
        return tid, self._status[0]

    def event_for(self, tid, status):
        return self._event(tid, status)

    def wait(self, timeout):
        """Wait for a stop, a watched fd, or `timeout` seconds (None: forever)."""
        if timeout is None and not self._watched:
            tid = lib.psb_wait(self._status, 1)
            if tid < 0:
                if tid in (-errno.ECHILD, -errno.EINTR):
                    return [], ()
                raise SandboxError(f"ptrace: wait: {os.strerror(-tid)}")
            return [self._event(tid, self._status[0])], ()
        tid = lib.psb_wait_event(self._epoll_fd, self._sigchld_fd, timeout_ms(timeout),
                                 self._status, self._ready, 64, self._n_ready)
        if tid < 0:
            if tid in (-errno.ECHILD, -errno.EINTR):
                return [], [self._ready[i] for i in range(self._n_ready[0])]
            raise SandboxError(f"ptrace: wait: {os.strerror(-tid)}")
        ready = [self._ready[i] for i in range(self._n_ready[0])]
        if tid == 0:
            return [], ready
        return [self._event(tid, self._status[0])], ready

    def _event(self, tid, status):
        context = self.contexts.get(tid)
        if context is None:
            return None, None                    # a host thread we already forgot
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            context._gone()
            return context, Exited(status)
        context.stopped = True
        sig = os.WSTOPSIG(status)
        if sig == SYSCALL_STOP:
            return context, SYSCALL
        if sig in FAULT_SIGNALS and (status >> 16) == 0:
            return context, context._fault(sig)
        return context, INTERRUPTED

    def close(self):
        """Kill every stub left and reap it, so nothing of the sandbox outlives this call."""
        left = set(self.contexts)
        for context in list(self.contexts.values()):
            context.kill_process()
        # A thread group leader is reported only after its other threads, so reap in any order.
        deadline = time.monotonic() + 5
        while left and time.monotonic() < deadline:
            for tid in list(left):
                try:
                    if os.waitpid(tid, WALL | os.WNOHANG)[0] == tid:
                        left.discard(tid)
                except ChildProcessError:
                    left.discard(tid)
            if left:
                self._wait_for_sigchld(deadline - time.monotonic())
        os.close(self._stub_fd)
        os.close(self._channel)
        os.close(self._stub_channel)
        os.close(self._sigchld_fd)
        self._epoll.close()

    def _wait_for_sigchld(self, timeout):
        """Sleep until a SIGCHLD arrives (or `timeout` seconds pass), and consume it."""
        poller = select.poll()                   # poll(2), not select(2): the sentry's seccomp allows poll
        poller.register(self._sigchld_fd, select.POLLIN)
        if poller.poll(timeout_ms(max(timeout, 0))):
            try:
                os.read(self._sigchld_fd, 128 * 16)  # signalfd_siginfo records
            except BlockingIOError:
                pass


class PtraceAddressSpace:
    """One stub process: the host-side mirror of one MemoryManager."""

    def __init__(self, platform, pid):
        self.platform = platform
        self.pid = pid
        self.contexts = set()
        self._mem_fd = open_proc(f"{pid}/mem", os.O_RDWR)
        self.released = False
        self.file_windows = OrderedDict()   # (owner, file offset) -> window slot, least recently used first
        self._windows_to_drop = []          # owners whose windows go when a thread is next stopped
        self._staging = None                # (memfd, the sentry's mmap of it) once a large write used it

    def _stopped_context(self):
        for context in self.contexts:
            if context.stopped:
                return context
        raise SandboxError("ptrace: no stopped thread to change the address space")

    def inject(self, context, nr, *args):
        args = args + (0,) * (6 - len(args))
        return lib.psb_inject(context.tid, GADGET_ADDR, nr, *args)

    def _call(self, nr, *args):
        context = self._stopped_context()
        result = self.inject(context, nr, *args)
        if result == -errno.ESRCH:
            self._died_under_call(context, nr)
        if -4096 < result < 0:
            raise SyscallError(-result)
        return result

    @staticmethod
    def _died_under_call(context, nr):
        """A stub died making a host syscall for the sentry: its seccomp filter killed it, or
        something outside did. The sandbox can't trust its state any more: it ends."""
        context.kill_process()
        raise SandboxError(f"a stub process died making host syscall {nr} for the sentry "
                           f"(killed by its seccomp filter, or from outside the sandbox)", 125)

    def unmap_host_leftovers(self, context):
        """Drop what the host exec left (stack, vdso): the guest gets everything below STUB_BASE."""
        maps = read_proc(f"{self.pid}/maps").decode().splitlines()
        ranges = [tuple(int(x, 16) for x in line.split(" ", 1)[0].split("-")) for line in maps]
        for start, end in ranges:
            if not STUB_BASE <= start < STUB_END and end <= 0x800000000000:
                self.inject(context, SYS_MUNMAP, start, end - start)

    def map(self, addr, length, prot, shared=False):
        if _TEST_FORBIDDEN_SYSCALL is not None:
            self._call(int(_TEST_FORBIDDEN_SYSCALL))
        # Never refused by the host's commit accounting (gVisor's memory file is NORESERVE too):
        # memory costs what the workload touches, as a native MAP_NORESERVE mapping does.
        flags = MAP_FIXED | MAP_ANONYMOUS | MAP_NORESERVE | (MAP_SHARED if shared else MAP_PRIVATE)
        result = self._call(SYS_MMAP, addr, length, prot, flags, -1, 0)
        if result != addr:
            raise SyscallError(errno.ENOMEM)

    def map_file(self, addr, length, prot, host_fd, offset, shared=False):
        """Map host file `host_fd` at `addr` (MAP_FIXED): the stub receives the fd over its
        channel, maps it and closes it again."""
        context = self._stopped_context()
        fd = self._receive_fd(context, host_fd)
        try:
            flags = MAP_FIXED | MAP_NORESERVE | (MAP_SHARED if shared else MAP_PRIVATE)
            result = self.inject(context, SYS_MMAP, addr, length, prot, flags, fd, offset)
        finally:
            self.inject(context, SYS_CLOSE, fd)
        if -4096 < result < 0:
            raise SyscallError(-result)
        if result != addr:
            raise SyscallError(errno.ENOMEM)

    def _receive_fd(self, context, host_fd):
        tag = next(self.platform._file_tags)
        sent = lib.psb_send_fd(self.platform._channel, host_fd, tag)
        if sent < 0:
            raise SandboxError(f"ptrace: cannot pass a file to a stub: {os.strerror(-sent)}")
        while True:
            result = self.inject(context, SYS_RECVMSG, CHANNEL_FD, MSGHDR_ADDR, MSG_CMSG_CLOEXEC | MSG_DONTWAIT)
            if -4096 < result < 0:
                raise SandboxError(f"ptrace: a stub could not receive a file: {os.strerror(-result)}")
            fd = int.from_bytes(self.read(CMSG_ADDR + CMSG_FD_OFFSET, 4), "little")
            if int.from_bytes(self.read(TAG_ADDR, 8), "little") == tag:
                return fd
            self.inject(context, SYS_CLOSE, fd)      # left over from a stub that died mid-way

    def unmap(self, addr, length):
        self._call(SYS_MUNMAP, addr, length)

    def protect(self, addr, length, prot):
        self._call(SYS_MPROTECT, addr, length, prot)

    def remap(self, addr, length, new_length, new_addr=None, keep_old=False):
        """Resize [addr, addr + length) in place, or move it to new_addr (replacing what is
        there), pages and all; keep_old leaves the old range mapped but empty (MREMAP_DONTUNMAP)."""
        if new_addr is None:
            flags, expected = 0, addr
        else:
            flags, expected = MREMAP_MAYMOVE | MREMAP_FIXED | (MREMAP_DONTUNMAP if keep_old else 0), new_addr
        if self._call(SYS_MREMAP, addr, length, new_length, flags, new_addr or 0) != expected:
            raise SyscallError(errno.ENOMEM)

    def read(self, addr, n):
        try:
            data = os.pread(self._mem_fd, n, addr)
        except OSError:
            raise SyscallError(errno.EFAULT) from None
        if len(data) != n:
            raise SyscallError(errno.EFAULT)
        return data

    def write(self, addr, data):
        """Copy `data` to `addr`, protections ignored. process_vm_writev is about twice as fast
        as /proc/PID/mem for large copies but can't write pages the stub maps read-only (the
        loader fills some, and so does MemoryManager.copy_out(force=True)): /proc/PID/mem
        writes the rest, from the first such page on."""
        size = len(data)
        done = 0
        if size >= DIRECT_WRITE_MIN:
            done = max(0, lib.psb_write_mem(self.pid, addr, ffi.from_buffer(data), size))
            if done == size:
                return
        try:
            written = os.pwrite(self._mem_fd, memoryview(data)[done:] if done else data, addr + done)
        except OSError:
            raise SyscallError(errno.EFAULT) from None
        if written != size - done:
            raise SyscallError(errno.EFAULT)

    def copy_from_file(self, addr, host_fd, offset, n, ahead, owner):
        """Copy `n` bytes of host file `host_fd` from `offset` (the file holds them) to `addr`,
        protections as the host has them; `ahead`: the bytes from `offset` to the file's end;
        `owner`: what the windows belong to until drop_file_windows(owner) (the open file).
        Returns the count copied (short when the copy runs into a page the stub can't write), or
        None when a window would have to be mapped for less than WINDOW_WORTH bytes.
        SyscallError when the file can't be mapped."""
        context = self._stopped_context()
        self._drop_pending_windows()
        if ahead < WINDOW_WORTH and (owner, offset - offset % WINDOW_SIZE) not in self.file_windows:
            return None
        done = 0
        while done < n:
            position = offset + done
            start = position - position % WINDOW_SIZE
            window = WINDOW_AREA + self._file_window(owner, host_fd, start) * WINDOW_SIZE
            size = min(n - done, start + WINDOW_SIZE - position)
            left = _stub_copy(context, addr + done, window + position - start, size)
            done += size - left
            if left:
                break
        return done

    def _file_window(self, owner, host_fd, start):
        """The slot of the window mapping [start, start + WINDOW_SIZE) of the file, mapped anew in
        a free slot or over the least recently used window when missing."""
        windows = self.file_windows
        slot = windows.get((owner, start))
        if slot is not None:
            windows.move_to_end((owner, start))
            return slot
        used = set(windows.values())
        slot = next((i for i in range(WINDOW_SLOTS) if i not in used), None)
        if slot is None:
            slot = windows.popitem(last=False)[1]
        # MAP_FIXED replaces the old window at once; after a failure the slot holds nothing.
        self.map_file(WINDOW_AREA + slot * WINDOW_SIZE, WINDOW_SIZE, PROT_READ, host_fd, start, shared=True)
        windows[(owner, start)] = slot
        return slot

    def drop_file_windows(self, owner):
        """`owner`'s file was closed: its windows go, so the guest can't read them from its own
        address space any more. At once when a thread of the stub is stopped to unmap them (the
        one closing the file is), else before the next copy."""
        if self.released or not any(key[0] is owner for key in self.file_windows):
            return
        self._windows_to_drop.append(owner)
        if any(context.stopped for context in self.contexts):
            self._drop_pending_windows()

    def _drop_pending_windows(self):
        if not self._windows_to_drop:
            return
        owners, self._windows_to_drop = self._windows_to_drop, []
        for key in [key for key in self.file_windows if any(key[0] is owner for owner in owners)]:
            self.unmap(WINDOW_AREA + self.file_windows.pop(key) * WINDOW_SIZE, WINDOW_SIZE)

    def view_for_host(self, addr, n):
        """Have the stub copy up to STAGING_SIZE of the `n` bytes at `addr` into its staging
        buffer, protections as the host has them. Returns a memoryview of the bytes copied (short
        where the copy ran into a page the stub can't read), valid until the next call."""
        context = self._stopped_context()
        if self._staging is None:
            self._staging = self._new_staging()
        n = min(n, STAGING_SIZE)
        left = _stub_copy(context, STAGING_AREA, addr, n)
        return memoryview(self._staging[1])[:n - left]

    def _new_staging(self):
        import mmap                          # only for sandboxes that write large files
        fd = os.memfd_create("pysandbox-staging", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, STAGING_SIZE)
            view = mmap.mmap(fd, STAGING_SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            self.map_file(STAGING_AREA, STAGING_SIZE, PROT_READ | PROT_WRITE, fd, 0, shared=True)
        except (OSError, SyscallError):
            os.close(fd)
            raise SyscallError(errno.ENOMEM) from None
        return fd, view

    def lose_staging(self, context):
        """A fork of this stub must not share its staging buffer (the child would read what the
        parent writes next): unmap it in the (stopped) child."""
        if self._staging is not None:
            self.inject(context, SYS_MUNMAP, STAGING_AREA, STAGING_SIZE)

    def release(self):
        """The MemoryManager is done with this address space."""
        if not self.released:
            self.released = True
            for context in list(self.contexts):
                context.kill_process()
            os.close(self._mem_fd)
            if self._staging is not None:
                fd, view = self._staging
                try:
                    view.close()
                except BufferError:
                    pass                    # a view of it is still referenced: it goes with it
                os.close(fd)


def _stub_copy(context, dst, src, n):
    """Have `context`'s stub copy `n` bytes from `src` to `dst` (COPY_GADGET): the bytes left
    uncopied where it ran into a page it can't use."""
    left = lib.psb_stub_copy(context.tid, COPY_GADGET_ADDR, dst, src, n)
    if left < 0:
        context.kill_process()
        raise SandboxError(f"a stub process died copying for the sentry: {os.strerror(-left)}", 125)
    return left


class PtraceContext:
    """One guest thread: a stub thread held in ptrace stops."""

    def __init__(self, platform, address_space, pid, tid):
        self.platform = platform
        self.address_space = address_space
        self.pid = pid                      # host process (thread group) of this thread
        self.tid = tid
        self.regs = ffi.new("struct user_regs_struct *")
        self.stopped = True
        self.exited = False
        self.task = None
        lib.psb_register(tid, self.regs)
        lib.psb_getregs(tid, self.regs)
        platform.contexts[tid] = self
        address_space.contexts.add(self)

    def resume(self):
        self.stopped = False
        err = lib.psb_resume(self.tid, self.regs, 0)
        if err < 0 and err != -errno.ESRCH:
            raise SandboxError(f"ptrace: resume: {os.strerror(-err)}")

    def interrupt(self):
        if not self.stopped:
            lib.psb_kill_thread(self.pid, self.tid, signal.SIGSTOP)

    def cpu_times(self):
        """(user, system) CPU seconds of this context's host process."""
        return host_cpu_times(self.pid)

    def get_fpstate(self):
        """The thread's whole XSAVE image (its first 512 bytes are the FXSAVE area)."""
        buf = ffi.new("char[]", XSTATE_BUFFER_SIZE)
        length = lib.psb_getxstate(self.tid, buf, XSTATE_BUFFER_SIZE)
        if length < 0:
            lib.psb_getfpregs(self.tid, buf)
            length = FXSAVE_SIZE
        return bytes(ffi.buffer(buf, length))

    def set_fpstate(self, data):
        """Load an XSAVE image, or a bare 512-byte FXSAVE image; False if the CPU refuses it."""
        data = bytes(data)
        buf = ffi.new("char[]", data)
        if len(data) > FXSAVE_SIZE:
            return lib.psb_setxstate(self.tid, buf, len(data)) == 0
        return lib.psb_setfpregs(self.tid, buf) == 0

    def _new_child(self, flags):
        """Make this stub thread run clone(flags); returns the new host tid, stopped."""
        child = self.address_space.inject(self, SYS_CLONE, flags, 0, 0, 0, 0)
        if child < 0:
            raise SyscallError(-child if -child in (errno.EAGAIN, errno.ENOMEM) else errno.EAGAIN)
        lib.psb_wait_new_child(child)
        return child

    def clone_thread(self):
        """A new context in the same address space (a host thread of the stub)."""
        tid = self._new_child(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM)
        context = PtraceContext(self.platform, self.address_space, self.pid, tid)
        self._copy_regs_to(context)
        return context

    def fork(self, share_memory=False):
        """A new context in a copy-on-write copy of this address space (or the same memory, for vfork)."""
        flags = CLONE_PARENT | signal.SIGCHLD | (CLONE_VM if share_memory else 0)
        pid = self._new_child(flags)
        if share_memory:
            address_space = self.address_space
        else:
            address_space = PtraceAddressSpace(self.platform, pid)
            address_space.file_windows = self.address_space.file_windows.copy()   # the fork has them too
            address_space._windows_to_drop = list(self.address_space._windows_to_drop)
        context = PtraceContext(self.platform, address_space, pid, pid)
        if not share_memory:
            self.address_space.lose_staging(context)
        self._copy_regs_to(context)
        return context

    def _copy_regs_to(self, context):
        ffi.memmove(context.regs, self.regs, ffi.sizeof("struct user_regs_struct"))

    def exit(self):
        """End this stopped context's host thread; the last one ends its host process."""
        if self.tid not in self.platform.contexts:
            return
        others = [c for c in self.address_space.contexts if c.pid == self.pid and c is not self]
        if not others or not self.stopped:
            self.kill_process()
            return
        # A leader thread that exits first stays a zombie that waitpid can't collect until the
        # other threads are gone; it is simply left stopped, and dies with its process.
        if self.tid != self.pid:
            self.address_space.inject(self, SYS_EXIT, 0)
        self._gone()

    def kill_process(self):
        """End the whole host process of this context, all its threads."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for context in [c for c in self.address_space.contexts if c.pid == self.pid]:
            context._gone()

    def _gone(self):
        self.exited = True
        if self.platform.contexts.get(self.tid) is self:
            del self.platform.contexts[self.tid]
            lib.psb_unregister(self.tid)
        self.address_space.contexts.discard(self)
        self.stopped = False

    def _fault(self, sig):
        info = ffi.new("char[128]")
        lib.psb_read_siginfo(self.tid, info)
        raw = bytes(ffi.buffer(info))
        code = int.from_bytes(raw[8:12], "little", signed=True)
        addr = int.from_bytes(raw[16:24], "little")
        return Fault(sig, code, addr)
