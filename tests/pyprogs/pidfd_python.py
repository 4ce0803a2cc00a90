"""Python's own pidfd users, printed so that a native run and a sandboxed run can be compared:
os.pidfd_open with select.poll, select.select and os.waitid(P_PIDFD), signal.pidfd_send_signal,
a pidfd in select.epoll, and asyncio's PidfdChildWatcher."""
import asyncio
import errno
import os
import select
import signal
import sys
import warnings


def gated_child(code):
    """A child that exits with `code` once a byte arrives; returns (pid, gate)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(write_end)
        os.read(read_end, 1)
        os._exit(code)
    os.close(read_end)
    return pid, write_end


def poll_and_waitid():
    pid, gate = gated_child(9)
    fd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    print("ready before exit:", poller.poll(0), select.select([fd], [], [], 0)[0])
    os.write(gate, b"x")
    print("ready after exit:", [(r == fd, events) for r, events in poller.poll(10000)])
    print("select after exit:", select.select([fd], [fd], [fd], 10) == ([fd], [], []))
    result = os.waitid(os.P_PIDFD, fd, os.WEXITED)
    print("waitid:", result.si_pid == pid, result.si_code == os.CLD_EXITED, result.si_status)
    try:
        os.waitid(os.P_PIDFD, fd, os.WEXITED)
    except ChildProcessError:
        print("waitid again: ECHILD")
    print("link:", os.readlink(f"/proc/self/fd/{fd}"))
    os.close(fd)


def nonblocking_waitid():
    pid, gate = gated_child(0)
    fd = os.pidfd_open(pid, getattr(os, "PIDFD_NONBLOCK", os.O_NONBLOCK))
    try:
        os.waitid(os.P_PIDFD, fd, os.WEXITED)
    except BlockingIOError as error:
        print("PIDFD_NONBLOCK waitid:", errno.errorcode[error.errno])
    print("WNOHANG waitid:", os.waitid(os.P_PIDFD, fd, os.WEXITED | os.WNOHANG))
    os.write(gate, b"x")
    os.set_blocking(fd, True)
    print("blocking again:", os.waitid(os.P_PIDFD, fd, os.WEXITED).si_status)
    os.close(fd)


def signal_through_pidfd():
    pid, gate = gated_child(0)
    fd = os.pidfd_open(pid)
    signal.pidfd_send_signal(fd, signal.SIGKILL)
    epoll = select.epoll()
    epoll.register(fd, select.EPOLLIN)
    print("epoll:", [(r == fd, events) for r, events in epoll.poll(10)])
    result = os.waitid(os.P_PIDFD, fd, os.WEXITED)
    print("killed:", result.si_code == os.CLD_KILLED, result.si_status)
    try:
        signal.pidfd_send_signal(fd, signal.SIGTERM)
    except ProcessLookupError:
        print("signal after reaping: ESRCH")
    for bad in (lambda: os.pidfd_open(-5), lambda: os.pidfd_open(os.getpid(), 1)):
        try:
            bad()
        except OSError as error:
            print("bad pidfd_open:", errno.errorcode[error.errno])
    os.close(gate)
    epoll.close()
    os.close(fd)


async def run_children():
    results = []
    for code in (0, 3, 4):
        process = await asyncio.create_subprocess_exec(sys.executable, "-c", f"raise SystemExit({code})")
        results.append(await process.wait())
    shell = await asyncio.create_subprocess_exec("/bin/sh", "-c", "echo from the child",
                                                 stdout=asyncio.subprocess.PIPE)
    out, _ = await shell.communicate()
    return results, out.decode().strip(), shell.returncode


def asyncio_pidfd_watcher():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        watcher = asyncio.PidfdChildWatcher()
        asyncio.set_child_watcher(watcher)
    print("asyncio with", type(watcher).__name__ + ":", asyncio.run(run_children()))


poll_and_waitid()
nonblocking_waitid()
signal_through_pidfd()
asyncio_pidfd_watcher()
