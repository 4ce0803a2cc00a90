"""/proc/net in the sandbox (vfs/procnet.py): the socket tables, interface files and counts that
busybox's ifconfig and netstat and python3 read, compared with the same programs run natively
in a fresh network namespace (`unshare -n`, lo up). Inode numbers and ephemeral ports differ
between the runs, so the programs name each socket by its role: what must match is the set of
lines, every field of them, and that a line's inode is that socket's (/proc/PID/fd's number).
"""
from __future__ import annotations

import ast
import socket

import pytest

from helpers import native_unshare, no_traceback, run_native, run_sandbox

pytestmark = pytest.mark.usefixtures("each_platform")
PYTHON3 = "/usr/bin/python3"

# Makes one socket of each kind the tables list, then prints the tables with inodes replaced by
# the socket's role and ephemeral ports by a name; lines sorted (hash order differs).
SOCKETS = r'''
import os, socket, threading, time
roles, ports = {}, {}

def keep(role, sock):
    roles[str(os.fstat(sock.fileno()).st_ino)] = role
    return sock

def ephemeral(role, sock):
    ports["%04X" % sock.getsockname()[1]] = role
    return keep(role, sock)

listener = keep("listener", socket.socket())
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 18080)); listener.listen(5)
client = ephemeral("client", socket.create_connection(("127.0.0.1", 18080)))
server, _ = listener.accept(); keep("server", server)
client.send(b"hello")                                        # five bytes left unread by the server
waiting = ephemeral("waiting", socket.create_connection(("127.0.0.1", 18080)))   # never accepted
listener6 = keep("listener6", socket.socket(socket.AF_INET6))
listener6.bind(("::", 19090)); listener6.listen(3)
client4to6 = ephemeral("client4to6", socket.create_connection(("127.0.0.1", 19090)))
server6, _ = listener6.accept(); keep("server6", server6)
udp = keep("udp", socket.socket(socket.AF_INET, socket.SOCK_DGRAM)); udp.bind(("0.0.0.0", 15353))
socket.socket(socket.AF_INET, socket.SOCK_DGRAM)             # unbound: not listed
udp6 = keep("udp6", socket.socket(socket.AF_INET6, socket.SOCK_DGRAM))
udp6.bind(("::1", 15354)); udp6.connect(("::1", 15354))
unix_listener = keep("unix_listener", socket.socket(socket.AF_UNIX))
unix_listener.bind("/tmp/pysandbox-procnet.sock"); unix_listener.listen(1)
unix_client = keep("unix_client", socket.socket(socket.AF_UNIX))
unix_client.connect("/tmp/pysandbox-procnet.sock")          # its server end waits to be accepted
abstract = keep("abstract", socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)); abstract.bind("\0pysandbox\0x")
left, right = socket.socketpair(); keep("pair_left", left); keep("pair_right", right)
os.unlink("/tmp/pysandbox-procnet.sock")
time.sleep(0.2)                                              # native TCP: every ACK in

def role(inode):
    return "-" if inode == "0" else roles.get(inode, "other")

def port(endpoint):
    address, number = endpoint.split(":")
    return address + ":" + ports.get(number, number)

def inet(name):
    text = open("/proc/net/" + name).read()
    header, *lines = text.splitlines(True)
    print(name, repr(header))
    rows = []
    for line in lines:
        f = line.split()
        # f[10:], the refcount, pointer and timers, are the kernel's business; tcp pads to 150.
        shape = "padded" if len(line) == 150 else "%d-fields" % len(f)
        rows.append(" ".join([port(f[1]), port(f[2])] + f[3:9] + [role(f[9]), shape]))
    print("\n".join(sorted(rows)))

def unix():
    header, *lines = open("/proc/net/unix").read().splitlines()
    print("unix", repr(header))
    print("\n".join(sorted(" ".join(f[1:6] + [role(f[6])] + f[7:]) for f in map(str.split, lines))))

for name in ("tcp", "tcp6", "udp", "udp6"):
    inet(name)
unix()
for name in ("sockstat", "sockstat6"):
    print(name, [line.split()[:3] for line in open("/proc/net/" + name)])
def sockets_in(path):
    return sorted(tuple(f[1:4] + f[9:10]) for f in map(str.split, open(path).readlines()[1:]))

seen = []
in_thread = lambda: seen.append(sockets_in("/proc/self/task/%d/net/tcp" % threading.get_native_id()))
thread = threading.Thread(target=in_thread)
thread.start(); thread.join()
print("thread sees the same tcp:", seen == [sockets_in("/proc/net/tcp")], os.readlink("/proc/net"))
print("pid dir:", open("/proc/%d/net/unix" % os.getpid()).read() == open("/proc/self/net/unix").read())
'''


def native_netns(argv):
    """argv natively in a fresh network namespace with lo up."""
    unshare = native_unshare("a fresh network namespace")
    result = run_native([unshare, "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *argv])
    if result.status != 0 and "unshare" in result.err:
        pytest.skip(f"cannot make a network namespace here: {result.err.strip()}")
    return result


def same_as_native(argv, flags=("--network=none",)):
    native = native_netns(argv)
    sandboxed = run_sandbox(argv, flags=list(flags))
    no_traceback(sandboxed)
    assert native.status == 0, native
    assert (sandboxed.status, sandboxed.out, sandboxed.err) == (native.status, native.out, native.err), (
        f"=== native ===\n{native}\n=== sandbox ===\n{sandboxed}")
    return sandboxed


def test_socket_tables_match_linux_field_by_field():
    out = same_as_native([PYTHON3, "-c", SOCKETS]).out
    # The lines the comparison stands on are there at all.
    assert "0100007F:46A0 00000000:0000 0A 00000000:00000001" in out          # listener, one to accept
    assert "0100007F:46A0 0100007F:waiting 01 00000000:00000000" in out and " - " in out
    # A v4 peer of a dual-stack listener: the server's end is a tcp6 line with mapped addresses.
    assert "0000000000000000FFFF00000100007F:4A92 0000000000000000FFFF00000100007F:client4to6 01" in out
    assert "00000000:00000005" in out and "@pysandbox@x" in out and "00010000 0001 01 unix_listener" in out
    assert "thread sees the same tcp: True self/net" in out and "pid dir: True" in out


BUSYBOX_NETSTAT = r'''
import os, re, socket
os.system("busybox ifconfig lo")                              # before any traffic: counters are 0
listener = socket.socket(); listener.bind(("127.0.0.1", 18080)); listener.listen(5)
listener6 = socket.socket(socket.AF_INET6); listener6.bind(("::", 19090)); listener6.listen(1)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("0.0.0.0", 15353))
unix = socket.socket(socket.AF_UNIX); unix.bind("/tmp/pysandbox-procnet-bb.sock"); unix.listen(1)
inode = os.fstat(unix.fileno()).st_ino
client = socket.create_connection(("127.0.0.1", 18080)); server, _ = listener.accept()
ephemeral = str(client.getsockname()[1])
for flags in ("-tln", "-uln", "-xl", "-tn", "-rn"):
    lines = os.popen("busybox netstat " + flags).read().replace(ephemeral, "EPHEMERAL").splitlines(True)
    text = "".join(lines[:2] + sorted(lines[2:]))                        # sorted: hash order differs
    print(re.sub(" +%d " % inode, " INODE ", text), end="")           # inodes have more digits natively
os.unlink("/tmp/pysandbox-procnet-bb.sock")
'''


def test_busybox_ifconfig_and_netstat_as_on_linux():
    out = same_as_native([PYTHON3, "-c", BUSYBOX_NETSTAT]).out
    assert "UP LOOPBACK RUNNING  MTU:65536" in out and "inet6 addr: ::1/128 Scope:Host" in out
    assert "tcp        0      0 127.0.0.1:18080         0.0.0.0:*               LISTEN" in out
    assert "tcp        0      0 :::19090                :::*                    LISTEN" in out
    assert "udp        0      0 0.0.0.0:15353           0.0.0.0:*" in out
    assert "LISTENING INODE /tmp/pysandbox-procnet-bb.sock" in out
    assert any(line.split()[3:] == ["127.0.0.1:EPHEMERAL", "127.0.0.1:18080", "ESTABLISHED"]
               for line in out.splitlines()), out


# Files whose whole text a fresh namespace with lo up fixes (dev: before any traffic).
FIXED_FILES = ("dev", "if_inet6", "route", "ipv6_route", "psched", "packet", "arp", "raw", "raw6")


def test_interface_files_as_a_fresh_namespace_has_them():
    program = ("import sys\nfor name in sys.argv[1:]:\n"
               "    print('==', name); print(open('/proc/net/' + name).read(), end='')\n")
    out = same_as_native([PYTHON3, "-c", program, *FIXED_FILES]).out
    assert "    lo:       0       0    0    0" in out and "00000000000000000000000000000001 01 80 10 80       lo" in out


def test_snmp_and_netstat_counters_are_well_formed():
    """Linux adds counters over the years: the sandbox's (6.1's) are the native ones, in order."""
    program = "import sys\nprint(open('/proc/net/' + sys.argv[1]).read(), end='')\n"
    for name in ("snmp", "netstat"):
        native = native_netns([PYTHON3, "-c", program, name]).out.splitlines()
        sandboxed = run_sandbox([PYTHON3, "-c", program, name], flags=["--network=none"]).out.splitlines()
        native_names = {line.split(":")[0]: line.split()[1:] for line in native[::2]}
        assert len(sandboxed) % 2 == 0 and sandboxed, sandboxed
        for names, values in zip(sandboxed[::2], sandboxed[1::2]):
            group = names.split(":")[0]
            assert values.split(":")[0] == group and len(values.split()) == len(names.split()), (names, values)
            fields = iter(native_names[group])
            assert all(field in fields for field in names.split()[1:]), (group, names)
    snmp = run_sandbox([PYTHON3, "-c", program, "snmp"], flags=["--network=none"]).out
    assert "Tcp: 1 200 120000 -1 " in snmp and "\nIp: 2 64 " in snmp


def test_host_network_shows_the_sandboxes_sockets_and_the_hosts_interfaces():
    """--network=host: tcp lists the sandbox's own host sockets (with the sandbox's inodes), never
    other host processes'; dev is the host namespace's, read through the sentry's proc fd."""
    with socket.socket() as outsider:
        outsider.bind(("127.0.0.1", 0))
        outsider.listen(1)
        outsider_port = "%04X" % outsider.getsockname()[1]
        program = ("import os, socket\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(2)\n"
                   "c = socket.create_connection(s.getsockname()); a, _ = s.accept(); c.send(b'abc')\n"
                   "print('%04X' % s.getsockname()[1], os.fstat(s.fileno()).st_ino, os.fstat(a.fileno()).st_ino)\n"
                   "print(open('/proc/net/tcp').read())\n"
                   "print([line.split(':')[0].strip() for line in open('/proc/net/dev')][2:])\n")
        result = run_sandbox([PYTHON3, "-c", program], flags=["--network=host"])
    no_traceback(result)
    assert result.status == 0, result
    first, *table = result.out.splitlines()
    port, listener, accepted = first.split()
    rows = {(row.split()[1], row.split()[3], row.split()[9]): row.split()[4] for row in table[1:-2] if row.strip()}
    assert rows[(f"0100007F:{port}", "0A", listener)] == "00000000:00000000", result.out
    assert any(key[0] == f"0100007F:{port}" and key[1:] == ("01", accepted) and queues == "00000000:00000003"
               for key, queues in rows.items()), result.out
    assert len(rows) == 3 and outsider_port not in result.out, result.out
    with open("/proc/net/dev") as host_dev:
        interfaces = [line.split(":")[0].strip() for line in host_dev][2:]
    assert ast.literal_eval(table[-1]) == interfaces, result.out
