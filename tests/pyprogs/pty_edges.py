"""Pseudo-terminal edge cases, printed one per line so that a run under pysandbox can be compared with Linux."""
import errno, fcntl, os, select, signal, stat, struct, sys, termios, time

TIOCGPTN, TIOCSPTLCK, TIOCGPTPEER, TIOCGSID = 0x80045430, 0x40045431, 0x5441, 0x5429


def errname(call, *args):
    try:
        result = call(*args)
    except OSError as error:
        return errno.errorcode[error.errno]
    return "ok" if not isinstance(result, bytes) else result


def events(fd, expect_input=False):
    """The ready poll events; with expect_input, once input is there (Linux moves bytes between
    the two ends of a pair in a work queue, so they show up a moment after the write)."""
    poller = select.poll()
    if expect_input:
        poller.register(fd, select.POLLIN)
        poller.poll(2000)
    poller.register(fd, 0xFFFF)
    ready = poller.poll(0)
    return ready[0][1] if ready else 0


def open_pair(unlock=True):
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY)
    number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, bytes(4)))[0]
    if unlock:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    return master, f"/dev/pts/{number}"


# A new pair is locked until unlockpt; its replica is a character device 136:N.
master, name = open_pair(unlock=False)
print("locked open:", errname(os.open, name, os.O_RDWR | os.O_NOCTTY))
fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
info = os.stat(name)
print("replica:", stat.S_ISCHR(info.st_mode), os.major(info.st_rdev), os.minor(info.st_rdev) == int(name.rsplit("/", 1)[1]))
replica = os.open(name, os.O_RDWR | os.O_NOCTTY)
print("fresh master events:", events(master), "replica events:", events(replica))
watcher = select.epoll()
watcher.register(master, select.EPOLLIN)
watcher.register(replica, select.EPOLLIN | select.EPOLLET)
print("epoll before:", watcher.poll(0))
os.write(replica, b"z")
os.write(master, b"w\n")
events(master, expect_input=True), events(replica, expect_input=True)
print("epoll after:", sorted((fd == master, events) for fd, events in watcher.poll(0)))
drained = os.read(master, 10)
while not drained.endswith(b"\r\n"):  # the echo comes after the replica's "z" on its own
    drained += os.read(master, 10)
print("drained:", drained, os.read(replica, 10))
watcher.close()
print("TIOCGPTN on replica:", errname(fcntl.ioctl, replica, TIOCGPTN, bytes(4)))
print("not our terminal:", errname(fcntl.ioctl, replica, termios.TIOCGPGRP, bytes(4)),
      errname(fcntl.ioctl, replica, TIOCGSID, bytes(4)),
      errname(os.tcsetpgrp, replica, os.getpgrp()))
print("TIOCNOTTY:", errname(fcntl.ioctl, replica, termios.TIOCNOTTY))
print("TCFLSH bad:", errname(fcntl.ioctl, replica, termios.TCFLSH, 7))

# Canonical mode: nothing readable before the end of the line.
os.write(master, b"partial")
print("before newline:", events(replica), fcntl.ioctl(replica, termios.FIONREAD, b"\0\0\0\0") != b"\0\0\0\0")
os.set_blocking(replica, False)
print("nonblocking read:", errname(os.read, replica, 10))
os.write(master, b" line\n")
print("after newline:", events(replica, expect_input=True), os.read(replica, 4), os.read(replica, 100))
print("echo:", os.read(master, 100))
os.write(master, b"\x04")
print("EOF read:", errname(os.read, replica, 10))
os.write(master, b"abc\x04")
print("EOF after text:", errname(os.read, replica, 10))
print("echo so far:", os.read(master, 100))

# Output processing: ONLCR, then -opost.
os.write(replica, b"one\ntwo\n")
print("onlcr:", os.read(master, 100))
attrs = termios.tcgetattr(replica)
attrs[1] &= ~termios.OPOST
termios.tcsetattr(replica, termios.TCSANOW, attrs)
os.write(replica, b"three\n")
print("-opost:", os.read(master, 100))

# Non-canonical: VMIN/VTIME.
attrs = termios.tcgetattr(replica)
attrs[3] &= ~(termios.ICANON | termios.ECHO)
attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 0, 0
termios.tcsetattr(replica, termios.TCSANOW, attrs)
os.set_blocking(replica, True)
print("VMIN 0 VTIME 0:", errname(os.read, replica, 10))
attrs[6][termios.VTIME] = 2
termios.tcsetattr(replica, termios.TCSANOW, attrs)
print("VMIN 0 VTIME 2:", errname(os.read, replica, 10))
os.write(master, b"xy")
print("VMIN 0 VTIME 2 with data:", errname(os.read, replica, 10))
attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 3, 0
termios.tcsetattr(replica, termios.TCSANOW, attrs)
os.write(master, b"12")
print("VMIN 3, 2 bytes:", events(replica))
os.write(master, b"3")
print("VMIN 3, 3 bytes:", events(replica, expect_input=True), os.read(replica, 10))
attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 5, 2
termios.tcsetattr(replica, termios.TCSANOW, attrs)
os.write(master, b"ab")
print("VMIN 5 VTIME 2, inter-byte timeout:", errname(os.read, replica, 10))

# TIOCGPTPEER opens the same replica.
peer = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY)
print("peer:", os.path.samestat(os.fstat(peer), os.fstat(replica)), os.readlink(f"/proc/self/fd/{peer}") == name)
os.close(peer)

# The replica closes: the master reads what is left, then EIO.
os.write(replica, b"bye")
os.close(replica)
print("master after replica close:", events(master, expect_input=True), os.read(master, 100), errname(os.read, master, 100))
os.close(master)

# The master closes: the replica reads end of file, writes EIO.
master, name = open_pair()
replica = os.open(name, os.O_RDWR | os.O_NOCTTY)
os.write(master, b"lost\n")
os.close(master)
print("replica after master close:", events(replica, expect_input=True), errname(os.read, replica, 10),
      errname(os.write, replica, b"x"), errname(os.open, name, os.O_RDWR | os.O_NOCTTY))
os.close(replica)

# A session leader takes a terminal: TIOCSCTTY, then the session's requests answer.
master, name = open_pair()
sys.stdout.flush()
pid = os.fork()
if pid == 0:
    try:
        replica = os.open(name, os.O_RDWR | os.O_NOCTTY)
        print("child not leader TIOCSCTTY:", errname(fcntl.ioctl, replica, termios.TIOCSCTTY, 0))
        os.setsid()
        fcntl.ioctl(replica, termios.TIOCSCTTY, 0)
        sid = struct.unpack("i", fcntl.ioctl(replica, TIOCGSID, bytes(4)))[0]
        print("child sid is own pid:", sid == os.getpid(), os.tcgetpgrp(replica) == os.getpid())
        stat = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
        tty_nr = int(stat[4])
        print("tty_nr major, tpgid is own group:", tty_nr >> 8 & 0xFFF, int(stat[5]) == os.getpid())
        fd = os.open("/dev/tty", os.O_RDWR)
        os.write(fd, b"via /dev/tty\n")
        print("second TIOCSCTTY same:", errname(fcntl.ioctl, replica, termios.TIOCSCTTY, 0))
        print("tcsetpgrp missing group:", errname(os.tcsetpgrp, replica, 99999))
        # A background group touching the terminal: SIGTTIN for a read, SIGTTOU for tcsetattr or,
        # with TOSTOP, a write; EIO for a read that ignores SIGTTIN.
        for action in ("read", "tcsetattr", "write", "write-tostop", "read-ignored"):
            sys.stdout.flush()
            job = os.fork()
            if job == 0:
                os.setpgid(0, 0)
                if action == "read-ignored":
                    signal.signal(signal.SIGTTIN, signal.SIG_IGN)
                    print("background read ignoring SIGTTIN:", errname(os.read, replica, 10), flush=True)
                elif action == "read":
                    os.read(replica, 10)
                elif action == "tcsetattr":
                    termios.tcsetattr(replica, termios.TCSANOW, termios.tcgetattr(replica))
                else:
                    os.write(replica, b"from the background\n")
                os._exit(0)
            _, status = os.waitpid(job, os.WUNTRACED)
            print(action, "->", signal.Signals(os.WSTOPSIG(status)).name if os.WIFSTOPPED(status)
                  else os.waitstatus_to_exitcode(status), flush=True)
            if os.WIFSTOPPED(status):
                os.kill(job, signal.SIGKILL)
                os.waitpid(job, 0)
            if action == "write":
                attrs = termios.tcgetattr(replica)
                attrs[3] |= termios.TOSTOP
                termios.tcsetattr(replica, termios.TCSANOW, attrs)
        # An orphaned background group gets EIO instead of being stopped.
        results, report = os.pipe()
        sys.stdout.flush()
        job = os.fork()
        if job == 0:
            os.setpgid(0, 0)
            job = os.getpid()
            if os.fork() == 0:
                while os.getppid() == job:
                    time.sleep(0.01)
                os.write(report, errname(os.read, replica, 10).encode())
                os._exit(0)
            os._exit(0)
        os.waitpid(job, 0)
        os.close(report)
        print("orphaned background read:", os.read(results, 100).decode())
        fcntl.ioctl(replica, termios.TIOCNOTTY)
        print("after TIOCNOTTY:", errname(os.open, "/dev/tty", os.O_RDWR))
    finally:
        os._exit(0)
os.waitpid(pid, 0)
print("master got:", os.read(master, 100))
os.close(master)
