"""Terminal ioctls, forwarded to the host tty the sandbox's stdio is attached to."""
import errno
import fcntl

from ..errors import SyscallError, host_errors

TCGETS, TCSETS, TCSETSW, TCSETSF = 0x5401, 0x5402, 0x5403, 0x5404
TCSBRK, TCXONC, TCFLSH = 0x5409, 0x540A, 0x540B
TIOCSCTTY, TIOCGPGRP, TIOCSPGRP = 0x540E, 0x540F, 0x5410
TIOCGWINSZ, TIOCSWINSZ = 0x5413, 0x5414
FIONREAD, TIOCNOTTY, FIONBIO, TIOCGSID = 0x541B, 0x5422, 0x5421, 0x5429
FIONCLEX, FIOCLEX = 0x5450, 0x5451

TERMIOS_SIZE = 36   # struct termios as the kernel copies it (not glibc's larger one)
WINSIZE_SIZE = 8


class Terminal:
    """A host tty seen by the sandbox: its settings are the host's, its foreground
    process group is the sandbox's own (a virtual pgid)."""

    def __init__(self, host_fd):
        self.host_fd = host_fd
        self.foreground_pgrp = 1

    def ioctl(self, t, cmd, arg):
        if cmd == TCGETS:
            return self._get(t, cmd, arg, TERMIOS_SIZE)
        if cmd in (TCSETS, TCSETSW, TCSETSF):
            return self._set(t, cmd, arg, TERMIOS_SIZE)
        if cmd == TIOCGWINSZ:
            return self._get(t, cmd, arg, WINSIZE_SIZE)
        if cmd == TIOCSWINSZ:
            return self._set(t, cmd, arg, WINSIZE_SIZE)
        if cmd == TIOCGPGRP:
            t.copy_out_u32(arg, self.foreground_pgrp)
            return 0
        if cmd == TIOCSPGRP:
            pgrp = _signed32(t.copy_in_u32(arg))
            if pgrp < 0:
                raise SyscallError(errno.EINVAL)
            self.foreground_pgrp = pgrp
            return 0
        if cmd == TIOCGSID:
            t.copy_out_u32(arg, getattr(t.tg, "sid", 1))
            return 0
        if cmd in (TIOCSCTTY, TIOCNOTTY):
            return 0
        if cmd in (TCSBRK, TCXONC, TCFLSH):
            with host_errors():
                fcntl.ioctl(self.host_fd, cmd, arg & 0xFFFFFFFF)
            return 0
        raise SyscallError(errno.ENOTTY)

    def _get(self, t, cmd, arg, size):
        with host_errors():
            data = fcntl.ioctl(self.host_fd, cmd, bytes(size))
        t.copy_out(arg, data)
        return 0

    def _set(self, t, cmd, arg, size):
        data = t.copy_in(arg, size)
        with host_errors():
            fcntl.ioctl(self.host_fd, cmd, data)
        return 0


def _signed32(value):
    return value - (1 << 32) if value & 0x80000000 else value
