"""ping in the sandbox: ICMP ping sockets and raw ICMP sockets (sentry/vfs/icmp.py).

Native runs happen inside `unshare -n` with `lo` up and net.ipv4.ping_group_range set as the
sandbox sets it ("0 2147483647", Docker's value), so both sides have a network with only `lo`.
"""
import os
import re
import shutil

import pytest

from helpers import (TEST_ENV, _run, assert_same, native_unshare, no_traceback, run_native, run_sandbox,
                     sandbox_argv)
from oci_fixtures import bundle, docker, docker_images, runtime  # noqa: F401

OPEN_RANGE = "0 2147483647"
PYTHON3 = "/usr/bin/python3"
BUSYBOX = shutil.which("busybox")
IPUTILS_PING = "/usr/bin/ping"


def native_lo_only(argv, ping_group_range=OPEN_RANGE):
    """`argv` run natively in a new network namespace with lo up and ping_group_range set."""
    unshare = native_unshare("a network namespace with only lo")
    script = (f"ip link set lo up && echo '{ping_group_range}' > /proc/sys/net/ipv4/ping_group_range"
              ' && exec "$@"')
    return run_native([unshare, "-n", "sh", "-c", script, "sh", *argv])


def without_times(text):
    """ping's output with its round-trip times (which differ from run to run) blanked."""
    text = re.sub(r"time[= ]\d+(\.\d+)?( ?ms)?", "time=T", text)
    return re.sub(r"(round-trip|rtt) (.*) = \S+", r"\1 \2 = T", text)


def assert_same_ping(native, sandboxed):
    assert_same(native._replace(out=without_times(native.out)), sandboxed._replace(out=without_times(sandboxed.out)))


@pytest.mark.parametrize("mode", ["root", "nocap", "user"])
def test_icmp_sockets_match_linux(cprog, mode, each_platform):
    """tests/cprogs/ping_sockets.c as root (raw and ping sockets), without CAP_NET_RAW (raw EPERM)
    and as uid 65534 (ping sockets only): every errno (EPROTONOSUPPORT, EINVAL, EADDRINUSE without
    SO_REUSEADDR, EDESTADDRREQ, EAFNOSUPPORT, EMSGSIZE, EOPNOTSUPP, ENETUNREACH beyond lo), the echo
    id rewritten to the bound one, replies with and without an IPv4 header, ICMP_FILTER and
    ICMP6_FILTER, IPV6_CHECKSUM, IP_HDRINCL, a damaged checksum left unanswered."""
    program = cprog("ping_sockets")
    native = native_lo_only([program, mode])
    assert native.status == 0, native
    assert "ping4 reply: id as expected, icmp checksum good" in native.out, native
    sandboxed = run_sandbox([program, mode])
    assert_same(native, sandboxed)
    if mode == "root":
        assert "raw4 reply only: ip version 4 ihl 5 length 42 ttl 64 protocol 1" in sandboxed.out
        assert "raw6 reply: 22 bytes type 129 code 0 seq 3" in sandboxed.out
    else:
        assert "raw4 socket: EPERM" in sandboxed.out


def test_ping_group_range_excludes_the_caller(cprog):
    """A ping socket outside net.ipv4.ping_group_range is EACCES (root's write of "1 0" first)."""
    program = cprog("ping_sockets")
    native = native_lo_only([program, "range", "1 0"])
    sandboxed = run_sandbox([program, "range", "1 0"])
    assert_same(native, sandboxed)
    assert "ping4 socket: EACCES" in sandboxed.out and "ping6 socket: EACCES" in sandboxed.out


def test_busybox_ping_as_root_uses_raw_sockets():
    if BUSYBOX is None:
        pytest.fail("busybox is missing: run scripts/install.sh", pytrace=False)
    for argv in ([BUSYBOX, "ping", "-c", "2", "-i", "0.2", "127.0.0.1"], [BUSYBOX, "ping", "-6", "-c", "1", "::1"],
                 [BUSYBOX, "ping", "-c", "1", "10.1.2.3"]):
        native = native_lo_only(argv)
        sandboxed = run_sandbox(argv)
        assert_same_ping(native, sandboxed)
    assert "1 packets received" in sandboxed.out or "Network is unreachable" in sandboxed.err


def test_busybox_ping_as_a_user_is_refused_like_linux(cprog):
    """busybox 1.35's ping knows only raw sockets: without CAP_NET_RAW it gives up, on Linux too."""
    argv = [cprog("ping_sockets"), "as-nobody", BUSYBOX or "busybox", "ping", "-c", "1", "127.0.0.1"]
    native = native_lo_only(argv)
    sandboxed = run_sandbox(argv)
    assert_same(native, sandboxed)
    assert "permission denied (are you root?)" in sandboxed.err


def test_iputils_ping_as_a_user_uses_ping_sockets(cprog):
    """iputils' ping uses ping sockets (SOCK_DGRAM, IPPROTO_ICMP), IP_RECVTTL, SO_TIMESTAMP."""
    if not os.path.exists(IPUTILS_PING):
        pytest.fail("iputils-ping is missing: run scripts/install.sh", pytrace=False)
    as_nobody = [cprog("ping_sockets"), "as-nobody"]
    for argv in ([*as_nobody, IPUTILS_PING, "-c", "2", "-i", "0.2", "127.0.0.1"],
                 [*as_nobody, IPUTILS_PING, "-6", "-c", "1", "::1"],
                 [*as_nobody, IPUTILS_PING, "-c", "1", "10.1.2.3"]):
        native = native_lo_only(argv)
        sandboxed = run_sandbox(argv)
        assert_same_ping(native, sandboxed)
    assert "Network is unreachable" in sandboxed.err


PYTHON_ECHO = """
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
s.settimeout(5)
s.sendto(struct.pack("!BBHHH", 8, 0, 0, 0xbeef, 3) + b"round trip", ("127.0.0.1", 0))
reply, sender = s.recvfrom(100)
kind, code, _, ident, sequence = struct.unpack("!BBHHH", reply[:8])
print(kind, code, ident == s.getsockname()[1], sequence, reply[8:], sender)
"""


def test_python_ping_socket_round_trip(cprog):
    argv = [cprog("ping_sockets"), "as-nobody", PYTHON3, "-c", PYTHON_ECHO]
    native = native_lo_only(argv)
    sandboxed = run_sandbox(argv)
    assert_same(native, sandboxed)
    assert sandboxed.out == "0 0 True 3 b'round trip' ('127.0.0.1', 0)\n", sandboxed


SYSCTL_WRITES = """
import os
path = "/proc/sys/net/ipv4/ping_group_range"
print(repr(open(path).read()))
for value in ("5 3", "100 200", "7", "0 4294967294", "0 4294967295", "-1 5", "x", "", "0 2147483647 9"):
    try:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
        print(repr(value), "->", repr(open(path).read()))
    except OSError as error:
        print(repr(value), "error", error.errno, repr(open(path).read()))
"""


def test_ping_group_range_sysctl_writes_match_linux():
    """The sandbox starts where Docker puts a container ("0 2147483647"); writes follow Linux:
    high below low is "1 0", a single number sets low, values outside a gid_t are EINVAL."""
    native = native_lo_only([PYTHON3, "-c", SYSCTL_WRITES])
    assert native.status == 0, native
    assert_same(native, run_sandbox([PYTHON3, "-c", SYSCTL_WRITES]))


@pytest.mark.parametrize("ping_group_range", [OPEN_RANGE, "1 0"])
def test_host_network_ping_sockets_are_host_ones(cprog, ping_group_range):
    """--network host: ping sockets are the host namespace's (its ping_group_range applies to the
    sentry, gid 0); raw sockets stay EPERM, as runsc without --net-raw. Run in a namespace of
    its own with only lo, against the native run without CAP_NET_RAW."""
    program = cprog("ping_sockets")
    native = native_lo_only([program, "nocap"], ping_group_range)
    unshare = native_unshare("a network namespace with only lo")
    script = (f"ip link set lo up && echo '{ping_group_range}' > /proc/sys/net/ipv4/ping_group_range"
              ' && exec "$@"')
    sandboxed = _run([unshare, "-n", "sh", "-c", script, "sh",
                      *sandbox_argv([program, "root"], flags=["--network=host"])],
                     stdin=None, timeout=120, env=dict(TEST_ENV), cwd="/")
    no_traceback(sandboxed)
    assert_same(native, sandboxed)
    assert "raw4 socket: EPERM" in sandboxed.out
    expected = "ping4 socket: ok" if ping_group_range == OPEN_RANGE else "ping4 socket: EACCES"
    assert expected in sandboxed.out


def test_oci_linux_sysctl_sets_ping_group_range(runtime, bundle, cprog):  # noqa: F811
    """An OCI config's linux.sysctl decides who may make ping sockets; without one, everyone may."""
    program = cprog("ping_sockets", static=True)
    runtime.global_flags += ["--network", "none"]
    outputs = {}
    for name, sysctl in (("open", None), ("closed", {"net.ipv4.ping_group_range": "1 0"})):
        config = bundle(["/out/ping_sockets", "root"], process_user={"uid": 65534, "gid": 65534})
        shutil.copy(program, os.path.join(config.out, "ping_sockets"))
        if sysctl is not None:
            document = config.config()
            document["linux"]["sysctl"] = sysctl
            config.write_config(document)
        result = runtime.run("run", "--bundle", config, f"ping-{name}", timeout=60)
        assert result.status == 0, result
        outputs[name] = result.out
    assert "ping4 reply: id as expected, icmp checksum good" in outputs["open"], outputs["open"]
    assert "ping4 socket: EACCES" in outputs["closed"] and "ping6 socket: EACCES" in outputs["closed"]
    assert "raw4 socket: EPERM" in outputs["open"]



DOCKER_PING = """
import socket, struct
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
except OSError as error:
    raise SystemExit(f"socket: errno {error.errno}")
s.settimeout(5)
s.sendto(struct.pack("!BBHHH", 8, 0, 0, 0, 1) + b"docker", ("127.0.0.1", 0))
reply, sender = s.recvfrom(100)
print(reply[0], reply[8:], sender)
"""


@pytest.mark.parametrize("sysctl", [[], ["--sysctl", "net.ipv4.ping_group_range=1 0"]])
def test_docker_ping_socket_as_runc_gives_it(docker, docker_images, sysctl):  # noqa: F811
    """docker run --runtime=pysandbox: Docker's ping_group_range ("0 2147483647", or --sysctl's)
    reaches the container's network namespace, whose ping sockets the sentry's are (host mode)."""
    argv = ["run", "--rm", "--label", docker.label, *sysctl]
    native = docker.run(*argv, "--runtime=runc", docker_images["py"], "python3", "-c", DOCKER_PING)
    sandboxed = docker.run(*argv, "--runtime=pysandbox", docker_images["py"], "python3", "-c", DOCKER_PING)
    assert (sandboxed.status, sandboxed.out, sandboxed.err) == (native.status, native.out, native.err), \
        (native, sandboxed)
    assert ("socket: errno 13" in sandboxed.err) == bool(sysctl), sandboxed


# Raw and ping sockets of each family open, then /proc/net's tables of them. The slot column is
# a hash salted per network namespace natively, and the order of lines follows it: both are
# left out (lines sorted); inodes become the socket's role, picked echo ids the word "picked".
PROC_NET_ICMP = r'''
import os, socket
roles = {}

def keep(role, sock):
    roles[str(os.fstat(sock.fileno()).st_ino)] = role
    return sock

raw4 = keep("raw4", socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
raw4.connect(("127.0.0.1", 0))
raw4_bound = keep("raw4_bound", socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
raw4_bound.bind(("127.0.0.2", 0))
socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()          # gone: not listed
raw6 = keep("raw6", socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6))
ping4 = keep("ping4", socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP))
ping4.bind(("127.0.0.1", 4242))
ping4_connected = keep("ping4_connected", socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP))
ping4_connected.connect(("127.0.0.1", 0))
picked = "%04X" % ping4_connected.getsockname()[1]
ping4_unbound = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)   # not listed
ping6 = keep("ping6", socket.socket(socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_ICMPV6))
ping6.bind(("::1", 4343))
print("names:", raw4.getsockname(), raw4_bound.getsockname(), raw6.getsockname()[:2],
      ping4_connected.getsockname()[0], ping4_unbound.getsockname(), ping6.getsockname()[:2])

for name in ("raw", "raw6", "icmp", "icmp6"):
    header, *lines = open("/proc/net/" + name).read().splitlines(True)
    print(name, repr(header))
    rows = []
    for line in lines:
        f = line.split()
        # f[0] is the hash slot; f[11], the pointer, is the kernel's business.
        local = f[1].replace(":" + picked, ":picked")
        rows.append(" ".join([local, f[2], f[3], f[4], f[5], f[6], f[7], f[8], roles.get(f[9], "other"),
                              f[10], f[12], "padded" if len(line) == 128 else "unpadded",
                              "slot width %d" % line.index(":")]))
    print("\n".join(sorted(rows)))
for name in ("sockstat", "sockstat6"):
    print(name, [line for line in open("/proc/net/" + name) if line.startswith("RAW")])
raw6.close(); raw4.close()
print("after close", [line for line in open("/proc/net/sockstat") if line.startswith("RAW")],
      [line for line in open("/proc/net/sockstat6") if line.startswith("RAW6")])
'''


def test_proc_net_lists_raw_and_ping_sockets_as_linux():
    """/proc/net/raw, raw6, icmp and icmp6 list the open raw ICMP sockets and the bound ping
    sockets field by field as Linux does (icmp padded to 127 columns, raw's 4-wide slot), and
    sockstat's RAW and RAW6 count the raw ones."""
    native = native_lo_only([PYTHON3, "-c", PROC_NET_ICMP])
    assert native.status == 0, native
    sandboxed = run_sandbox([PYTHON3, "-c", PROC_NET_ICMP])
    assert_same(native, sandboxed)
    out = sandboxed.out
    assert "0100007F:0001 0100007F:0000 01 00000000:00000000 00:00000000 00000000 0 0 raw4 2 0" in out, out
    assert "0200007F:0001 00000000:0000 07" in out and "0100007F:1092 00000000:0000 07" in out, out
    assert "0100007F:picked 0100007F:0000 01" in out and ":003A 00000000000000000000000000000000:0000 07" in out
    assert "00000000000000000000000001000000:10F7" in out and "ping4 2 0 padded slot width 5" in out, out
    assert "raw4 2 0 unpadded slot width 4" in out and "names: ('127.0.0.1', 1) ('127.0.0.2', 1) ('::', 58)" in out
    assert "sockstat ['RAW: inuse 2\\n']" in out and "sockstat6 ['RAW6: inuse 1\\n']" in out, out
    assert "after close ['RAW: inuse 1\\n'] ['RAW6: inuse 0\\n']" in out, out


def test_proc_net_ping_slots_follow_the_echo_id():
    """The sandbox's slot column: bucket order, a ping socket's id mod 64, raw's hash_32(protocol)."""
    program = ("import socket\nkeep = []\nfor port in (4160, 4097, 4100):\n"
               "    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)\n"
               "    s.bind(('127.0.0.1', port)); keep.append(s)\n"
               "keep.append(socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))\n"
               "for name in ('icmp', 'raw'):\n"
               "    print([(line.split()[0], line.split()[1]) for line in open('/proc/net/' + name)][1:])\n")
    sandboxed = run_sandbox([PYTHON3, "-c", program])
    assert sandboxed.status == 0, sandboxed
    assert sandboxed.out == ("[('0:', '0100007F:1040'), ('1:', '0100007F:1001'), ('4:', '0100007F:1004')]\n"
                             "[('97:', '00000000:0001')]\n"), sandboxed
