"""devpts: pseudo-terminal pairs made inside the sentry (pty(7), termios(3), ioctl_tty(2)).

Opening a devpts mount's `ptmx` makes a new pair: the opener gets the master, and
`N` (/dev/pts/N) appears for the replica end. Bytes between the two ends pass
through a line discipline, as Linux's n_tty: canonical line editing, echo, CR/NL
mapping, VMIN/VTIME, and the characters that signal the foreground process group.
A replica can be the controlling terminal of one session (kernel.controlling_terminals).
"""
import collections
import errno
import os
import stat as st
import struct

from .. import signals
from ..errors import SyscallError, WouldBlock
from ..waiter import WaitQueue
from .file import POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, File
from .inode import DirEntry, Inode, new_synthetic_dev, now_ns
from .memfs import MemInode
from .stat import StatResult, dirent_type
from .tty import (FIONREAD, TCFLSH, TCGETS, TCSBRK, TCSETS, TCSETSF, TCSETSW, TCXONC, TERMIOS_SIZE,
                  TIOCGPGRP, TIOCGSID, TIOCGWINSZ, TIOCNOTTY, TIOCSCTTY, TIOCSPGRP, TIOCSWINSZ, WINSIZE_SIZE)

TIOCOUTQ, TIOCEXCL, TIOCNXCL = 0x5411, 0x540C, 0x540D
TCSBRKP, TIOCSBRK, TIOCCBRK = 0x5425, 0x5427, 0x5428
TIOCGPTN, TIOCSPTLCK, TIOCGPTLCK, TIOCGPTPEER = 0x80045430, 0x40045431, 0x80045439, 0x5441
TIOCGEXCL = 0x80045440

PTY_REPLICA_MAJOR = 136          # UNIX98_PTY_SLAVE_MAJOR: /dev/pts/N is 136:N
PTMX_DEVICE = os.makedev(5, 2)
MAX_PTYS = 4096                  # /proc/sys/kernel/pty/max
INPUT_CAPACITY = 4096            # N_TTY_BUF_SIZE: what the replica's reader may have queued
OUTPUT_CAPACITY = 65536          # what the master's reader may have queued

# termios flags (asm-generic/termbits.h)
ISTRIP, INLCR, IGNCR, ICRNL, IUCLC, IXON = 0x20, 0x40, 0x80, 0x100, 0x200, 0x400
OPOST, OLCUC, ONLCR, OCRNL, ONOCR, ONLRET = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
ISIG, ICANON, ECHO, ECHOE, ECHOK, ECHONL, NOFLSH = 0x1, 0x2, 0x8, 0x10, 0x20, 0x40, 0x80
ECHOCTL, ECHOKE, IEXTEN = 0x200, 0x800, 0x8000
B38400, CS8, CREAD = 0xF, 0x30, 0x80
(VINTR, VQUIT, VERASE, VKILL, VEOF, VTIME, VMIN, VSWTC, VSTART, VSTOP, VSUSP, VEOL, VREPRINT,
 VDISCARD, VWERASE, VLNEXT, VEOL2) = range(17)
NCCS = 19
TCIFLUSH, TCOFLUSH, TCIOFLUSH = 0, 1, 2

# A new replica's settings: Linux's tty_std_termios without HUPCL (the pty driver's init_termios).
DEFAULT_CONTROL_CHARS = bytes([3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22, 0, 0, 0])
_TERMIOS = struct.Struct("<IIIIB19s")

DEVPTS_OPTIONS = ("newinstance", "ptmxmode", "mode", "gid", "uid", "max")


class Termios:
    """struct termios as the kernel copies it for TCGETS/TCSETS."""

    def __init__(self):
        self.iflag, self.oflag = ICRNL | IXON, OPOST | ONLCR
        self.cflag = B38400 | CS8 | CREAD
        self.lflag = ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN
        self.line = 0
        self.cc = bytearray(DEFAULT_CONTROL_CHARS)

    def pack(self):
        return _TERMIOS.pack(self.iflag, self.oflag, self.cflag, self.lflag, self.line, bytes(self.cc))

    def unpack(self, data):
        self.iflag, self.oflag, self.cflag, self.lflag, self.line, cc = _TERMIOS.unpack(data)
        self.cc = bytearray(cc)

    def is_special(self, byte, index):
        """Whether `byte` is the control character at c_cc[index] (a zero entry is disabled)."""
        return self.cc[index] == byte and byte != 0


class Pty:
    """One pseudo-terminal pair: the line discipline between the master and its replica."""

    def __init__(self, devpts, index, kernel, uid, gid):
        self.devpts = devpts
        self.index = index
        self.kernel = kernel
        self.termios = Termios()
        self.winsize = bytes(8)
        self.locked = True          # until unlockpt(3): TIOCSPTLCK 0
        self.master_open = True
        self.replicas_open = 0
        self.replica_closed = False  # the last replica end closed (the master reads EIO)
        self.session = None          # the session (sid) it is the controlling terminal of
        self.foreground = None       # its foreground process group (pgid)
        self.input = bytearray()     # typed at the master, ready for the replica's reader
        self.line_lengths = collections.deque()  # canonical mode: lengths of the complete lines in input
        self.editing = bytearray()   # canonical mode: the line being typed
        self.literal_next = False    # VLNEXT was typed
        self.output = bytearray()    # written by the replica (and echoes), for the master's reader
        self.queue = WaitQueue()
        self.inode = ReplicaInode(self, uid, gid)

    @property
    def rdev(self):
        return os.makedev(PTY_REPLICA_MAJOR, self.index)

    @property
    def name(self):
        return b"/dev/pts/%d" % self.index

    @property
    def hung_up(self):
        return not self.master_open

    # --- input: the master writes, the replica reads ---

    def receive(self, data):
        """Bytes written to the master go through input processing, as if typed."""
        tios = self.termios
        if not tios.lflag & (ICANON | ISIG | ECHO | IEXTEN) and not tios.iflag & (ISTRIP | INLCR | IGNCR | ICRNL):
            room = INPUT_CAPACITY - len(self.input)
            self.input += data[:room]
        else:
            for byte in data:
                self._receive_byte(byte)
        self.queue.notify()

    def _receive_byte(self, byte):
        tios = self.termios
        lflag, iflag = tios.lflag, tios.iflag
        if iflag & ISTRIP:
            byte &= 0x7F
        if self.literal_next:
            self.literal_next = False
            self._add_input(byte, literal=True)
            return
        if lflag & ISIG:
            for index, signo in ((VINTR, signals.SIGINT), (VQUIT, signals.SIGQUIT), (VSUSP, signals.SIGTSTP)):
                if tios.is_special(byte, index):
                    if not lflag & NOFLSH:
                        self.flush_input()
                        self.output.clear()
                    self._echo_control(byte)
                    self.signal_foreground(signo)
                    return
        if byte == 0x0D:
            if iflag & IGNCR:
                return
            if iflag & ICRNL:
                byte = 0x0A
        elif byte == 0x0A and iflag & INLCR:
            byte = 0x0D
        if lflag & ICANON:
            if lflag & IEXTEN and tios.is_special(byte, VLNEXT):
                self.literal_next = True
                if lflag & ECHO and lflag & ECHOCTL:
                    self.echo(b"^\b")
                return
            if tios.is_special(byte, VERASE) or lflag & IEXTEN and tios.is_special(byte, VWERASE):
                self._erase(word=not tios.is_special(byte, VERASE))
                return
            if tios.is_special(byte, VKILL):
                self._kill_line()
                return
            if lflag & IEXTEN and tios.is_special(byte, VREPRINT):
                self._echo_control(byte)
                self.echo(b"\n" + bytes(self.editing))
                return
            if tios.is_special(byte, VEOF):
                self._end_line(b"")
                if lflag & ECHO and lflag & ECHOCTL:
                    self.echo(b"")  # Linux echoes nothing for EOF
                return
        self._add_input(byte)

    def _add_input(self, byte, literal=False):
        tios = self.termios
        lflag = tios.lflag
        char = bytes([byte])
        if not lflag & ICANON:
            if len(self.input) < INPUT_CAPACITY:
                self.input += char
                if lflag & ECHO:
                    self._echo_char(byte)
            return
        ends_line = not literal and (byte == 0x0A or tios.is_special(byte, VEOL)
                                     or lflag & IEXTEN and tios.is_special(byte, VEOL2))
        if len(self.editing) >= INPUT_CAPACITY - 1 and not ends_line:
            return  # a full line buffer takes nothing but the end of the line
        if lflag & ECHO or lflag & ECHONL and byte == 0x0A:
            self._echo_char(byte)
        if ends_line:
            self._end_line(char)
        else:
            self.editing += char

    def _end_line(self, terminator):
        line = bytes(self.editing) + terminator
        self.editing.clear()
        self.input += line
        self.line_lengths.append(len(line))

    def _erase(self, word):
        """VERASE takes back one character; VWERASE the word before the cursor and the blanks after it."""
        tios = self.termios
        erased = bytearray()
        while self.editing and word and self.editing[-1] in b" \t":
            erased.append(self.editing.pop())
        while self.editing:
            if word and self.editing[-1] in b" \t":
                break
            erased.append(self.editing.pop())
            if not word:
                break
        if tios.lflag & ECHO and tios.lflag & ECHOE:
            width = sum(2 if tios.lflag & ECHOCTL and _is_control(b) else 1 for b in erased)
            self.echo(b"\b \b" * width)

    def _kill_line(self):
        tios = self.termios
        if tios.lflag & ECHO:
            if tios.lflag & ECHOKE and tios.lflag & ECHOE:
                width = sum(2 if tios.lflag & ECHOCTL and _is_control(b) else 1 for b in self.editing)
                self.echo(b"\b \b" * width)
            else:
                self._echo_control(tios.cc[VKILL])
                if tios.lflag & ECHOK:
                    self.echo(b"\n")
        self.editing.clear()

    def _echo_char(self, byte):
        if byte in (0x0A, 0x09) or not _is_control(byte) or not self.termios.lflag & ECHOCTL:
            self.echo(bytes([byte]))
        else:
            self._echo_control(byte)

    def _echo_control(self, byte):
        """^C and the like, echoed as two characters when ECHOCTL is set."""
        if self.termios.lflag & ECHO and self.termios.lflag & ECHOCTL and byte:
            self.echo(b"^" + bytes([byte ^ 0x40]))

    def echo(self, data):
        self.output += self.process_output(data)

    def flush_input(self):
        self.input.clear()
        self.line_lengths.clear()
        self.editing.clear()

    def set_canonical(self, canonical):
        """ICANON changed: a line being typed becomes readable, or readable bytes become the line."""
        if canonical:
            self.editing[:0] = self.input
            self.input.clear()
            self.line_lengths.clear()
        else:
            self.input += self.editing
            self.editing.clear()
            self.line_lengths.clear()

    def input_ready(self):
        """Whether the replica's reader would get data (or end of file) now."""
        if self.termios.lflag & ICANON:
            return bool(self.line_lengths)
        return len(self.input) >= max(1, min(self.termios.cc[VMIN], INPUT_CAPACITY)) or bool(
            self.input and self.termios.cc[VTIME])

    def take_input(self, n):
        if self.termios.lflag & ICANON:
            length = self.line_lengths[0]
            taken = min(n, length)
            if taken == length:
                self.line_lengths.popleft()
            else:
                self.line_lengths[0] -= taken
        else:
            taken = n
        data = bytes(self.input[:taken])
        del self.input[:taken]
        self.queue.notify()
        return data

    # --- output: the replica writes, the master reads ---

    def process_output(self, data):
        oflag = self.termios.oflag
        if not oflag & OPOST or not oflag & (ONLCR | OCRNL | OLCUC):
            return data
        if oflag & OLCUC:
            data = data.upper()
        if oflag & OCRNL:
            data = data.replace(b"\r", b"\n")
        if oflag & ONLCR:
            data = data.replace(b"\n", b"\r\n")
        return data

    # --- signals and sessions ---

    def signal_foreground(self, signo):
        if self.foreground is not None:
            signal_process_group(self.kernel, self.foreground, signo)

    def hang_up(self):
        """The master closed: the session leader gets SIGHUP and SIGCONT (tty_signal_session_leader).
        The session keeps the hung-up terminal until its leader exits."""
        if self.session is not None:
            leader = self.kernel.thread_groups.get(self.session)
            if leader is not None and not leader.zombie and leader.sid == self.session:
                for signo in (signals.SIGHUP, signals.SIGCONT):
                    signals.send_signal(leader, signals.SigInfo(signo, signals.SI_KERNEL))
        self.queue.notify()

    def session_leader_exited(self):
        """disassociate_ctty on exit: the foreground process group gets SIGHUP (and SIGCONT after
        a hangup, as Linux's tty_old_pgrp); the session loses its terminal."""
        foreground = self.foreground
        self.detach_session()
        if foreground is not None:
            signal_process_group(self.kernel, foreground, signals.SIGHUP)
            if self.hung_up:
                signal_process_group(self.kernel, foreground, signals.SIGCONT)

    def attach_session(self, tg):
        self.session, self.foreground = tg.sid, tg.pgid
        self.kernel.controlling_terminals[tg.sid] = self

    def detach_session(self):
        if self.session is not None and self.kernel.controlling_terminals.get(self.session) is self:
            del self.kernel.controlling_terminals[self.session]
        self.session = self.foreground = None

    def maybe_free(self):
        if not self.master_open and not self.replicas_open:
            self.devpts.ptys.pop(self.index, None)


def _is_control(byte):
    return byte < 0x20 or byte == 0x7F


def signal_process_group(kernel, pgid, signo):
    """A signal the terminal raises (^C, a resize, a hangup) for every process of group `pgid`."""
    for tg in list(kernel.thread_groups.values()):
        if tg.pgid == pgid and not tg.zombie:
            signals.send_signal(tg, signals.SigInfo(signo, signals.SI_KERNEL))


def controlling_terminal(tg):
    """The pty that is the controlling terminal of tg's session, or None."""
    pty = tg.kernel.controlling_terminals.get(tg.sid)
    if pty is not None and pty.session == tg.sid:
        return pty
    return None


# --- the open ends ---

class PtyEnd(File):
    """What both ends share: the terminal requests (ioctl_tty(2)) and readiness."""

    def __init__(self, pty, flags, dentry):
        super().__init__(flags, dentry)
        self.pty = pty
        self.wait_queue = pty.queue

    def stat(self):
        return self.dentry.inode.stat()

    def ioctl(self, t, cmd, arg):
        pty = self.pty
        if cmd == TCGETS:
            t.copy_out(arg, pty.termios.pack())
            return 0
        if cmd in (TCSETS, TCSETSW, TCSETSF):
            data = t.copy_in(arg, TERMIOS_SIZE)
            was_canonical = pty.termios.lflag & ICANON
            pty.termios.unpack(data)
            if cmd == TCSETSF:
                pty.flush_input()
            if was_canonical != pty.termios.lflag & ICANON:
                pty.set_canonical(bool(pty.termios.lflag & ICANON))
            pty.queue.notify()
            return 0
        if cmd == TIOCGWINSZ:
            t.copy_out(arg, pty.winsize)
            return 0
        if cmd == TIOCSWINSZ:
            winsize = t.copy_in(arg, WINSIZE_SIZE)
            if winsize != pty.winsize:
                pty.winsize = winsize
                pty.signal_foreground(signals.SIGWINCH)
            return 0
        if cmd == TIOCSCTTY:
            return self._set_controlling_terminal(t, arg)
        if cmd == TIOCNOTTY:
            return self._drop_controlling_terminal(t)
        if cmd == TIOCGPGRP:
            self._check_controlling(t)
            t.copy_out_u32(arg, pty.foreground or 0)
            return 0
        if cmd == TIOCSPGRP:
            return self._set_foreground(t, arg)
        if cmd == TIOCGSID:
            self._check_controlling(t)
            if pty.session is None:
                raise SyscallError(errno.ENOTTY)
            t.copy_out_u32(arg, pty.session)
            return 0
        if cmd == TCFLSH:
            if arg not in (TCIFLUSH, TCOFLUSH, TCIOFLUSH):
                raise SyscallError(errno.EINVAL)
            if arg in (TCIFLUSH, TCIOFLUSH):
                pty.flush_input()
            if arg in (TCOFLUSH, TCIOFLUSH):
                pty.output.clear()
            pty.queue.notify()
            return 0
        if cmd == TCXONC:
            if arg not in (0, 1, 2, 3):
                raise SyscallError(errno.EINVAL)
            return 0
        if cmd in (TCSBRK, TCSBRKP, TIOCSBRK, TIOCCBRK, TIOCEXCL, TIOCNXCL):
            return 0
        if cmd == TIOCGEXCL:
            t.copy_out_u32(arg, 0)
            return 0
        if cmd == TIOCOUTQ:
            t.copy_out_u32(arg, self.queued_output())
            return 0
        raise SyscallError(errno.ENOTTY)

    def queued_output(self):
        return 0

    def _check_controlling(self, t):
        """The replica answers session requests only for the session it controls; the master always does."""
        if isinstance(self, PtyReplicaFile) and controlling_terminal(t.tg) is not self.pty:
            raise SyscallError(errno.ENOTTY)

    def _set_controlling_terminal(self, t, arg):
        """TIOCSCTTY: a session leader without a terminal takes this one (tiocsctty)."""
        pty, tg = self.pty, t.tg
        if tg.sid == tg.tgid and pty.session == tg.sid:
            return 0
        if tg.sid != tg.tgid or controlling_terminal(tg) is not None:
            raise SyscallError(errno.EPERM)
        if pty.session is not None:
            if arg != 1 or t.creds.euid != 0:
                raise SyscallError(errno.EPERM)
            pty.detach_session()
        if not self.readable and t.creds.euid != 0:
            raise SyscallError(errno.EPERM)
        pty.attach_session(tg)
        return 0

    def _drop_controlling_terminal(self, t):
        """TIOCNOTTY: a session leader giving its terminal up hangs up its foreground group."""
        pty, tg = self.pty, t.tg
        if controlling_terminal(tg) is not pty:
            raise SyscallError(errno.ENOTTY)
        if tg.sid == tg.tgid:
            foreground = pty.foreground
            pty.detach_session()
            if foreground is not None:
                signal_process_group(pty.kernel, foreground, signals.SIGHUP)
                signal_process_group(pty.kernel, foreground, signals.SIGCONT)
        return 0

    def _set_foreground(self, t, arg):
        """TIOCSPGRP (tcsetpgrp(3)): checks in tiocspgrp's order."""
        pty, tg = self.pty, t.tg
        pgrp = t.copy_in_i32(arg)
        if pgrp < 0:
            raise SyscallError(errno.EINVAL)
        if controlling_terminal(tg) is not pty:
            raise SyscallError(errno.ENOTTY)
        members = [other for other in t.kernel.thread_groups.values() if other.pgid == pgrp and not other.zombie]
        if not members:
            raise SyscallError(errno.ESRCH)
        if members[0].sid != tg.sid:
            raise SyscallError(errno.EPERM)
        pty.foreground = pgrp
        return 0


class PtyMasterFile(PtyEnd):
    """The master end (what posix_openpt(3) returns)."""

    def release(self):
        pty = self.pty
        pty.master_open = False
        pty.hang_up()
        pty.maybe_free()

    def read(self, t, n):
        pty = self.pty
        if pty.output and n:
            data = bytes(pty.output[:n])
            del pty.output[:n]
            pty.queue.notify()
            return data
        if n == 0:
            return b""
        if pty.replica_closed:
            raise SyscallError(errno.EIO)
        if self.nonblocking:
            raise SyscallError(errno.EAGAIN)
        raise WouldBlock(pty.queue)

    def write(self, t, data):
        pty = self.pty
        if not data:
            return 0
        room = INPUT_CAPACITY - len(pty.input) if not pty.termios.lflag & ICANON else len(data)
        if room <= 0:
            if self.nonblocking:
                raise SyscallError(errno.EAGAIN)
            raise WouldBlock(pty.queue)
        written = data[:room]
        pty.receive(written)
        return len(written)

    def queued_output(self):
        return len(self.pty.input)

    def bytes_available(self):
        return len(self.pty.output)

    def poll_events(self):
        pty = self.pty
        events = 0
        if pty.output:
            events |= POLLIN | POLLRDNORM
        if pty.replica_closed:
            events |= POLLHUP
        if len(pty.input) < INPUT_CAPACITY:
            events |= POLLOUT | POLLWRNORM
        return events

    def ioctl(self, t, cmd, arg):
        pty = self.pty
        if cmd == TIOCGPTN:
            t.copy_out_u32(arg, pty.index)
            return 0
        if cmd == TIOCSPTLCK:
            pty.locked = t.copy_in_i32(arg) != 0
            return 0
        if cmd == TIOCGPTLCK:
            t.copy_out_u32(arg, int(pty.locked))
            return 0
        if cmd == TIOCGPTPEER:
            return self._open_peer(t, arg)
        return super().ioctl(t, cmd, arg)

    def _open_peer(self, t, flags):
        """TIOCGPTPEER: open the replica without a path lookup."""
        allowed = os.O_ACCMODE | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC
        if flags & ~allowed & 0xFFFFFFFF:
            raise SyscallError(errno.EINVAL)
        directory = self.dentry.parent
        dentry = directory.lookup(b"%d" % self.pty.index)
        replica = self.pty.inode.open(t, dentry, flags)
        return t.fds.install(replica, cloexec=bool(flags & os.O_CLOEXEC))


class PtyReplicaFile(PtyEnd):
    """The replica end, /dev/pts/N: what the program in the terminal reads and writes."""

    def __init__(self, pty, flags, dentry):
        super().__init__(pty, flags, dentry)
        pty.replicas_open += 1
        pty.replica_closed = False

    def release(self):
        pty = self.pty
        pty.replicas_open -= 1
        if pty.replicas_open == 0:
            pty.replica_closed = True
            pty.queue.notify()
        pty.maybe_free()

    def read(self, t, n):
        pty = self.pty
        if pty.hung_up:
            return b""
        state = t.syscall_state
        if n and pty.input_ready():
            return self._read_ready(t, n)
        if n == 0:
            return b""
        if self.nonblocking:
            raise SyscallError(errno.EAGAIN)
        tios = pty.termios
        if not tios.lflag & ICANON and tios.cc[VTIME]:
            # VTIME: with VMIN 0 a timeout for the whole read, otherwise between bytes once one came.
            if t.timed_out() and (pty.input or tios.cc[VMIN] == 0):
                state.pop("tty_deadline", None)
                return pty.take_input(n)
            if tios.cc[VMIN] == 0 or pty.input:
                mark = (len(pty.input), state.get("tty_deadline"))
                if "tty_deadline" not in state or state.get("tty_seen") != mark[0]:
                    state["tty_deadline"] = t.kernel.now() + tios.cc[VTIME] / 10
                    state["tty_seen"] = mark[0]
                raise WouldBlock(pty.queue, deadline=state["tty_deadline"])
        if not tios.lflag & ICANON and tios.cc[VMIN] == 0:
            return b""
        raise WouldBlock(pty.queue)

    def _read_ready(self, t, n):
        pty = self.pty
        if pty.termios.lflag & ICANON and pty.line_lengths[0] == 0:
            pty.take_input(0)
            return b""  # VEOF at the start of a line
        return pty.take_input(n)

    def write(self, t, data):
        pty = self.pty
        if pty.hung_up:
            raise SyscallError(errno.EIO)
        if not data:
            return 0
        room = OUTPUT_CAPACITY - len(pty.output)
        if room <= 0:
            if self.nonblocking:
                raise SyscallError(errno.EAGAIN)
            raise WouldBlock(pty.queue)
        written = data[:room]
        pty.output += pty.process_output(written)
        pty.queue.notify()
        return len(written)

    def queued_output(self):
        return len(self.pty.output)

    def bytes_available(self):
        pty = self.pty
        if pty.termios.lflag & ICANON:
            return sum(pty.line_lengths)
        return len(pty.input)

    def poll_events(self):
        pty = self.pty
        if pty.hung_up:
            return POLLIN | POLLOUT | POLLERR | POLLHUP | POLLRDNORM | POLLWRNORM
        events = 0
        if pty.input_ready():
            events |= POLLIN | POLLRDNORM
        if len(pty.output) < OUTPUT_CAPACITY:
            events |= POLLOUT | POLLWRNORM
        return events


# --- the filesystem ---

class ReplicaInode(MemInode):
    """/dev/pts/N."""

    def __init__(self, pty, uid, gid):
        devpts = pty.devpts
        super().__init__(st.S_IFCHR | devpts.mode, uid, gid, dev=devpts.dev, ino=pty.index + 3,
                         rdev=os.makedev(PTY_REPLICA_MAJOR, pty.index))
        self.pty = pty

    def open(self, t, dentry, flags):
        pty = self.pty
        if pty.locked or pty.hung_up:
            raise SyscallError(errno.EIO)
        replica = PtyReplicaFile(pty, flags, dentry)
        tg = t.tg
        if (not flags & os.O_NOCTTY and tg.sid == tg.tgid and pty.session is None
                and controlling_terminal(tg) is None):
            pty.attach_session(tg)
        return replica


class PtmxInode(MemInode):
    """ptmx: each open makes a new pair."""

    def __init__(self, devpts, mode):
        super().__init__(st.S_IFCHR | mode, dev=devpts.dev, ino=2, rdev=PTMX_DEVICE)
        self.devpts = devpts

    def open(self, t, dentry, flags):
        pty = self.devpts.new_pty(t)
        return PtyMasterFile(pty, flags, dentry)


class DevptsRoot(Inode):
    """The root directory of a devpts mount: ptmx and one node per open pair."""

    cache_children = False  # replicas come and go without a directory operation

    def __init__(self, devpts):
        self.devpts = devpts
        self.mode = st.S_IFDIR | 0o755
        self.ino = 1
        self.ctime_ns = now_ns()

    def stat(self):
        return StatResult(dev=self.devpts.dev, ino=1, mode=self.mode, nlink=2, atime_ns=self.ctime_ns,
                          mtime_ns=self.ctime_ns, ctime_ns=self.ctime_ns)

    def statfs(self):
        return (DEVPTS_SUPER_MAGIC, 4096, 0, 0, 0, 0, 0, 255, 4096, 0)

    def open(self, t, dentry, flags):
        from .dirfile import DirFile
        return DirFile(flags, dentry)

    def lookup(self, name):
        if name == b"ptmx":
            return self.devpts.ptmx
        if name.isdigit() and not name.startswith(b"0") or name == b"0":
            pty = self.devpts.ptys.get(int(name))
            if pty is not None:
                return pty.inode
        raise SyscallError(errno.ENOENT)

    def list(self):
        entries = [DirEntry(b"ptmx", 2, dirent_type(self.devpts.ptmx.mode))]
        for index in sorted(self.devpts.ptys):
            entries.append(DirEntry(b"%d" % index, index + 3, dirent_type(st.S_IFCHR)))
        return entries

    def children_visible(self):
        return True


DEVPTS_SUPER_MAGIC = 0x1CD1


class Devpts:
    """One devpts instance (mount(8)'s newinstance): its pairs and its options."""

    def __init__(self, options=()):
        self.dev = new_synthetic_dev()
        self.ptys = {}
        self.mode, self.ptmx_mode, self.gid, self.uid, self.max = 0o600, 0o000, None, None, MAX_PTYS
        for option in options:
            key, has_value, value = option.partition("=")
            if key not in DEVPTS_OPTIONS or bool(has_value) != (key != "newinstance"):
                raise SyscallError(errno.EINVAL)
            try:
                if key in ("mode", "ptmxmode"):
                    number = int(value, 8) & 0o777
                elif key != "newinstance":
                    number = int(value, 10)
            except ValueError:
                raise SyscallError(errno.EINVAL) from None
            if key == "mode":
                self.mode = number
            elif key == "ptmxmode":
                self.ptmx_mode = number
            elif key in ("gid", "uid"):
                setattr(self, key, number)
            elif key == "max":
                self.max = min(number, MAX_PTYS)
        self.ptmx = PtmxInode(self, self.ptmx_mode)
        self.root = DevptsRoot(self)

    def new_pty(self, t):
        """A new pair at the lowest free index (ENOSPC past max=)."""
        index = next(i for i in range(len(self.ptys) + 1) if i not in self.ptys)
        if index >= self.max:
            raise SyscallError(errno.ENOSPC)
        uid = self.uid if self.uid is not None else t.creds.fsuid
        gid = self.gid if self.gid is not None else t.creds.fsgid
        pty = Pty(self, index, t.kernel, uid, gid)
        self.ptys[index] = pty
        return pty


def devpts_root(options):
    """The root inode of a new devpts mount with mount(8) options `options` (EINVAL for unknown ones)."""
    return Devpts(options).root


def new_encode_dev(device):
    """A device number as /proc/<pid>/stat's tty_nr shows it."""
    major, minor = os.major(device), os.minor(device)
    return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)
