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
from ..credentials import CAP_SYS_ADMIN, capable
from ..errors import SyscallError, WouldBlock
from ..waiter import WaitQueue
from .file import POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM, File
from .inode import DirEntry, Inode, new_synthetic_dev, now_ns
from .memfs import MemInode
from .stat import StatResult, dirent_type
from .tty import (TCFLSH, TCGETS, TCSBRK, TCSETS, TCSETSF, TCSETSW, TCXONC, TERMIOS_SIZE,
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
ISTRIP, INLCR, IGNCR, ICRNL, IUCLC, IXON, IXANY = 0x20, 0x40, 0x80, 0x100, 0x200, 0x400, 0x800
OPOST, OLCUC, ONLCR, OCRNL, ONOCR, ONLRET = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
ISIG, ICANON, ECHO, ECHOE, ECHOK, ECHONL, NOFLSH, TOSTOP = 0x1, 0x2, 0x8, 0x10, 0x20, 0x40, 0x80, 0x100
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
        # Where the write being processed began in output (a signal key drops what it made), and
        # where its echoes not yet sent begin, with the columns then (^S holds them, ^Q sends them).
        self.batch_start = 0
        self.pending_echoes = (0, 0, 0)
        self.stopped = False         # IXON: ^S stopped output until ^Q
        self.held_echoes = bytearray()
        self.column = 0              # the output's column, and where the line being typed began
        self.canon_column = 0
        self.queue = WaitQueue()
        self.inode = ReplicaInode(self, uid, gid)

    @property
    def rdev(self):
        return os.makedev(PTY_REPLICA_MAJOR, self.index)

    @property
    def hung_up(self):
        return not self.master_open

    # --- input: the master writes, the replica reads ---

    def receive(self, data):
        """Bytes written to the master go through input processing, as if typed."""
        tios = self.termios
        if not tios.lflag & (ICANON | ISIG | ECHO | IEXTEN) and not tios.iflag & (ISTRIP | INLCR | IGNCR | ICRNL
                                                                                  | IXON):
            room = INPUT_CAPACITY - len(self.input)
            self.input += data[:room]
        else:
            self.batch_start = len(self.output)
            self.pending_echoes = (len(self.output), self.column, self.canon_column)
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
        if iflag & IXON:
            if tios.is_special(byte, VSTART):
                self.start_output()
                return
            if tios.is_special(byte, VSTOP):
                # The echoes of this write are not out yet (n_tty sends them at its end): they wait too.
                start = self.pending_echoes[0]
                self.held_echoes[:0] = self.output[start:]
                del self.output[start:]
                self.stopped = True
                return
            if self.stopped and iflag & IXANY:
                self.start_output()
        if lflag & ISIG:
            for index, signo in ((VINTR, signals.SIGINT), (VQUIT, signals.SIGQUIT), (VSUSP, signals.SIGTSTP)):
                if tios.is_special(byte, index):
                    if not lflag & NOFLSH:
                        # Linux drops the echoes of this write not yet committed; what was queued
                        # for the master before stays.
                        self.flush_input()
                        _, self.column, self.canon_column = self.pending_echoes
                        del self.output[self.batch_start:]
                        self.held_echoes.clear()
                        self.pending_echoes = (len(self.output), self.column, self.canon_column)
                    if iflag & IXON:
                        self.start_output(echoes_now=not lflag & ECHO)
                    if lflag & ECHO:
                        self._echo_char(byte)
                    self.signal_foreground(signo)
                    return
        # A CR or NL the input flags map goes Linux's "special" way: its NL echoes as is, not as ^J.
        mapped = byte == 0x0D and iflag & (IGNCR | ICRNL) or byte == 0x0A and iflag & INLCR
        if byte == 0x0D:
            if iflag & IGNCR:
                return
            if iflag & ICRNL:
                byte = 0x0A
        elif byte == 0x0A and iflag & INLCR:
            byte = 0x0D
        if lflag & ICANON:
            if tios.is_special(byte, VERASE) or tios.is_special(byte, VKILL) or (
                    lflag & IEXTEN and tios.is_special(byte, VWERASE)):
                self._erase(byte)
                return
            if lflag & IEXTEN and tios.is_special(byte, VLNEXT):
                self.literal_next = True
                if lflag & ECHO and lflag & ECHOCTL:
                    self.echo(b"^\b")
                return
            if lflag & ECHO and lflag & IEXTEN and tios.is_special(byte, VREPRINT):
                self._echo_char(byte)
                self.echo(b"\n")
                for typed in self.editing:
                    self._echo_char(typed, newline_raw=False)
                return
            if tios.is_special(byte, VEOF):
                self._end_line(b"")
                return
        self._add_input(byte, mapped=mapped)

    def _add_input(self, byte, literal=False, mapped=False):
        tios = self.termios
        lflag = tios.lflag
        char = bytes([byte])
        if not lflag & ICANON:
            if len(self.input) < INPUT_CAPACITY:
                self.input += char
                if lflag & ECHO:
                    self._echo_char(byte, newline_raw=mapped)  # NL is no line end here: ^J
            return
        ends_line = not literal and (byte == 0x0A or tios.is_special(byte, VEOL)
                                     or lflag & IEXTEN and tios.is_special(byte, VEOL2))
        if len(self.editing) >= INPUT_CAPACITY - 1 and not ends_line:
            return  # a full line buffer takes nothing but the end of the line
        if lflag & ECHO or lflag & ECHONL and byte == 0x0A:
            if not self.editing:
                self.canon_column = self.column
            self._echo_char(byte, newline_raw=not literal)
        if ends_line:
            self._end_line(char)
        else:
            self.editing += char

    def _end_line(self, terminator):
        line = bytes(self.editing) + terminator
        self.editing.clear()
        self.input += line
        self.line_lengths.append(len(line))

    def _erase(self, byte):
        """VERASE takes back a character, VWERASE a word (letters, digits and _, with what follows
        it), VKILL the line; echoed as n_tty's eraser does."""
        tios = self.termios
        lflag = tios.lflag
        if not self.editing:
            return
        kill = tios.is_special(byte, VKILL)
        if kill and (not lflag & ECHO or not lflag & ECHOK or not lflag & ECHOKE or not lflag & ECHOE):
            self.editing.clear()
            if lflag & ECHO:
                self._echo_char(byte)
                if lflag & ECHOK:
                    self.echo(b"\n")
            return
        word = not kill and not tios.is_special(byte, VERASE)
        seen_word = False
        while self.editing:
            erased = self.editing[-1]
            if word:
                if erased < 0x80 and chr(erased).isalnum() or erased == ord("_"):
                    seen_word = True
                elif seen_word:
                    break
            self.editing.pop()
            if lflag & ECHO:
                if not kill and not word and not lflag & ECHOE:
                    self._echo_char(byte)
                elif erased == 0x09:
                    self._erase_tab()
                else:
                    self.echo(b"\b \b" * self._echo_width(erased))
            if not kill and not word:
                break

    def _erase_tab(self):
        """Back to where the tab started: the columns of what follows the previous tab (or the
        start of the line, from where it began) decide it (n_tty's ECHO_OP_ERASE_TAB)."""
        columns, after_tab = 0, False
        for byte in reversed(self.editing):
            if byte == 0x09:
                after_tab = True
                break
            columns += self._echo_width(byte)
        if not after_tab:
            columns += self.canon_column
        backspaces = 8 - (columns & 7)
        self._emit_echo(b"\b" * backspaces)
        self.column = max(self.column - backspaces, 0)

    def _echo_width(self, byte):
        """How many columns the echo of `byte` took: ^X is two, a control character echoed raw none."""
        if not _is_control(byte):
            return 1
        return 2 if self.termios.lflag & ECHOCTL else 0

    def _echo_char(self, byte, newline_raw=True):
        if byte == 0x09 or byte == 0x0A and newline_raw or not _is_control(byte) or not self.termios.lflag & ECHOCTL:
            self.echo(bytes([byte]))
        else:
            self._echo_control(byte)

    def _echo_control(self, byte):
        """^C and the like: two characters (ECHOCTL), two columns even without OPOST."""
        self._emit_echo(b"^" + bytes([byte ^ 0x40]))
        self.column += 2

    def echo(self, data):
        self._emit_echo(self.process_output(data))

    def _emit_echo(self, data):
        """Echoes wait while output is stopped (^S)."""
        if self.stopped:
            self.held_echoes += data
        else:
            self.output += data

    def start_output(self, echoes_now=True):
        """^Q (or any key with IXANY, or a signal key): output flows again, held echoes first.
        Unless `echoes_now`, the echoes stay with this write's (a later ^S in it holds them again)."""
        self.stopped = False
        start = self.pending_echoes[0]
        self.output[start:start] = self.held_echoes
        self.held_echoes.clear()
        if echoes_now:
            self.pending_echoes = (len(self.output), self.column, self.canon_column)
        self.queue.notify()

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
        """OPOST's mappings, keeping the output column as Linux's do_output_char does (which
        counts columns only with OPOST)."""
        oflag = self.termios.oflag
        if not oflag & OPOST:
            return data
        if oflag & OLCUC:
            data = data.upper()
        if not _has_control_chars(data):
            self.column += len(data)
            return data
        out = bytearray()
        for byte in data:
            if byte == 0x0A:
                if oflag & ONLRET:
                    self.column = 0
                if oflag & ONLCR:
                    self.canon_column = self.column = 0
                    out += b"\r\n"
                    continue
                self.canon_column = self.column
            elif byte == 0x0D:
                if oflag & ONOCR and self.column == 0:
                    continue
                if oflag & OCRNL:
                    byte = 0x0A
                    if oflag & ONLRET:
                        self.canon_column = self.column = 0
                else:
                    self.canon_column = self.column = 0
            elif byte == 0x09:
                self.column = (self.column | 7) + 1
            elif byte == 0x08:
                self.column = max(self.column - 1, 0)
            elif not _is_control(byte):
                self.column += 1
            out.append(byte)
        return bytes(out)

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


_CONTROL_CHARS = bytes(range(0x20)) + b"\x7f"


def _has_control_chars(data):
    return len(data.translate(None, _CONTROL_CHARS)) != len(data)


def _is_control(byte):
    return byte < 0x20 or byte == 0x7F


def signal_process_group(kernel, pgid, signo):
    """A signal the terminal raises (^C, a resize, a hangup) for every process of group `pgid`."""
    for tg in list(kernel.thread_groups.values()):
        if tg.pgid == pgid and not tg.zombie:
            signals.send_signal(tg, signals.SigInfo(signo, signals.SI_KERNEL))


def _is_orphaned(kernel, tg):
    """Whether tg's process group is orphaned: no member has a parent in another group of the
    same session (POSIX's definition, as Linux's will_become_orphaned_pgrp)."""
    return not any(member.parent is not None and not member.parent.zombie
                   and member.parent.pgid != tg.pgid and member.parent.sid == tg.sid
                   for member in kernel.thread_groups.values() if member.pgid == tg.pgid and not member.zombie)


def controlling_terminal(tg):
    """The pty that is the controlling terminal of tg's session, or None (also once it was hung up:
    the session then keeps it only for its leader's exit)."""
    pty = tg.kernel.controlling_terminals.get(tg.sid)
    if pty is not None and pty.session == tg.sid and not pty.hung_up:
        return pty
    return None


# --- the open ends ---

class PtyEnd(File):
    """What both ends share: the terminal requests (ioctl_tty(2)) and readiness."""

    def __init__(self, pty, flags, dentry):
        super().__init__(flags, dentry)
        self.pty = pty
        self.wait_queue = pty.queue

    def ioctl(self, t, cmd, arg):
        pty = self.pty
        if cmd in (TCSETS, TCSETSW, TCSETSF, TCFLSH, TCXONC, TIOCSPGRP):
            self.check_foreground(t, signals.SIGTTOU)
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

    def check_foreground(self, t, signo):
        """tty_check_change: a background process using its controlling terminal stops its group
        with SIGTTIN/SIGTTOU (the call restarts once continued), unless it ignores or blocks the
        signal: then a read fails with EIO and the rest go ahead."""
        pty, tg = self.pty, t.tg
        if not isinstance(self, PtyReplicaFile) or controlling_terminal(tg) is not pty:
            return
        if pty.foreground is None or tg.pgid == pty.foreground:
            return
        if t.sigmask & signals.sigbit(signo) or tg.sighand[signo].handler == signals.SIG_IGN:
            if signo == signals.SIGTTIN:
                raise SyscallError(errno.EIO)
            return
        if _is_orphaned(t.kernel, tg):
            raise SyscallError(errno.EIO)  # no shell would ever continue a stopped group
        signal_process_group(t.kernel, tg.pgid, signo)
        raise WouldBlock(pty.queue)  # the pending signal ends the wait at once

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
            if arg != 1 or not capable(t, CAP_SYS_ADMIN):
                raise SyscallError(errno.EPERM)
            pty.detach_session()
        if not self.readable and not capable(t, CAP_SYS_ADMIN):
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
        """TIOCGPTPEER: open the replica without a path lookup (Linux takes any open flags)."""
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
        self.check_foreground(t, signals.SIGTTIN)
        if n == 0:
            return b""
        if not pty.termios.lflag & ICANON:
            return self._read_raw(t, n)
        if pty.line_lengths:
            if pty.line_lengths[0] == 0:
                pty.take_input(0)
                return b""  # VEOF at the start of a line
            return pty.take_input(n)
        if self.nonblocking:
            raise SyscallError(errno.EAGAIN)
        raise WouldBlock(pty.queue)

    def _read_raw(self, t, n):
        """Non-canonical reads: VMIN bytes are enough; VTIME (tenths of a second) bounds the wait
        for a first byte when VMIN is 0, and otherwise the gap allowed after each byte."""
        pty, state = self.pty, t.syscall_state
        vmin, vtime = pty.termios.cc[VMIN], pty.termios.cc[VTIME]
        available = len(pty.input)
        if vmin == 0 and (vtime == 0 or available or t.timed_out()):
            return pty.take_input(n)
        if available >= min(vmin, n) or available and (self.nonblocking or t.timed_out()):
            return pty.take_input(n)
        if self.nonblocking:
            raise SyscallError(errno.EAGAIN)
        if vtime and (vmin == 0 or available):
            if state.get("tty_seen") != available:   # the timer starts anew with each byte
                state["tty_seen"] = available
                state["tty_deadline"] = t.kernel.now() + vtime / 10
            raise WouldBlock(pty.queue, deadline=state["tty_deadline"])
        raise WouldBlock(pty.queue)

    def write(self, t, data):
        pty = self.pty
        if pty.hung_up:
            raise SyscallError(errno.EIO)
        if pty.termios.lflag & TOSTOP:
            self.check_foreground(t, signals.SIGTTOU)
        if not data:
            return 0
        room = 0 if pty.stopped else OUTPUT_CAPACITY - len(pty.output)
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
        if len(pty.output) < OUTPUT_CAPACITY and not pty.stopped:
            events |= POLLOUT | POLLWRNORM
        return events


# --- the filesystem ---

class ReplicaInode(MemInode):
    """/dev/pts/N."""

    def __init__(self, pty, uid, gid):
        devpts = pty.devpts
        super().__init__(st.S_IFCHR | devpts.mode, uid, gid, dev=devpts.dev, ino=pty.index + 3,
                         rdev=pty.rdev)
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
            index = int(name)
            if index in self.devpts.consoles:
                return self.devpts.consoles[index]
            pty = self.devpts.ptys.get(index)
            if pty is not None and pty.master_open:
                return pty.inode
        raise SyscallError(errno.ENOENT)

    def list(self):
        entries = [DirEntry(b"ptmx", 2, dirent_type(self.devpts.ptmx.mode))]
        indexes = [index for index, pty in self.devpts.ptys.items() if pty.master_open] + list(self.devpts.consoles)
        for index in sorted(indexes):
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
        self.consoles = {}  # index -> inode: the host terminal the sandbox's stdio is on (show_console)
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

    def free_index(self):
        """The lowest index neither a pair nor a console has."""
        taken = self.ptys.keys() | self.consoles.keys()
        return next(i for i in range(len(taken) + 1) if i not in taken)

    def new_pty(self, t):
        """A new pair at the lowest free index (ENOSPC past max=)."""
        index = self.free_index()
        if index >= self.max:
            raise SyscallError(errno.ENOSPC)
        uid = self.uid if self.uid is not None else t.creds.fsuid
        gid = self.gid if self.gid is not None else t.creds.fsgid
        pty = Pty(self, index, t.kernel, uid, gid)
        self.ptys[index] = pty
        return pty


def show_console(root, inode):
    """Show `inode` (the sandbox's stdio terminal) as N in devpts root `root`, as runc's console is
    /dev/pts/0; returns N (the same one each time), or None when `root` is no devpts."""
    if not isinstance(root, DevptsRoot):
        return None
    devpts = root.devpts
    for index, console in devpts.consoles.items():
        if console is inode:
            return index
    index = devpts.free_index()
    devpts.consoles[index] = inode
    return index


def devpts_root(options):
    """The root inode of a new devpts mount with mount(8) options `options` (EINVAL for unknown ones)."""
    return Devpts(options).root


def new_encode_dev(device):
    """A device number as /proc/<pid>/stat's tty_nr shows it."""
    major, minor = os.major(device), os.minor(device)
    return (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)
