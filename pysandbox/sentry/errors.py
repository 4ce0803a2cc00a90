"""Errors and control-flow signals raised by syscall handlers."""
import errno as _errno
import os


class SyscallError(Exception):
    """A syscall failed: the guest sees -errno in rax."""

    def __init__(self, err, message=None):
        super().__init__(message or os.strerror(err))
        self.errno = err

    def __repr__(self):
        return f"SyscallError({_errno.errorcode.get(self.errno, self.errno)})"


# What a parked syscall does when a signal handler interrupts it (see signal(7)).
RESTART_NEVER = 0      # always EINTR
RESTART_SYS = 1        # restart if the handler has SA_RESTART (ERESTARTSYS)
RESTART_ALWAYS = 2     # restart unless a handler runs (ERESTARTNOHAND)
RESTART_BLOCK = 3      # restart through restart_syscall (ERESTART_RESTARTBLOCK)


class WouldBlock(Exception):
    """The handler must wait: park the task on `queues` until one fires or `deadline` passes.

    An uninterruptible wait (Linux's TASK_KILLABLE) isn't ended by signals: they stay pending
    until it is over, and only dying ends it early."""

    def __init__(self, *queues, deadline=None, restart=RESTART_SYS, interruptible=True):
        super().__init__()
        self.queues = queues
        self.deadline = deadline
        self.restart = restart
        self.interruptible = interruptible


class _KeepRegs:
    def __repr__(self):
        return "KEEP_REGS"


# A handler returns this when it has set the registers itself (execve, rt_sigreturn).
KEEP_REGS = _KeepRegs()


class host_errors:
    """Context manager turning a host OSError into the same SyscallError for the guest."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if isinstance(error, OSError) and error.errno is not None:
            raise SyscallError(error.errno) from error
        return False


class SandboxError(Exception):
    """An error to report to the user as one line (no traceback)."""

    def __init__(self, message, exit_status=1):
        super().__init__(message)
        self.exit_status = exit_status
