"""Networking: inet sockets in `--network=host` (host sockets) and `--network=none` (the sentry's
loopback netstack), NETLINK_ROUTE, interface ioctls. Real servers and clients from Debian's
packages run in the sandbox and are driven from the host; C and python3 programs run natively
and sandboxed with the same output. Every address used is a loopback one.
"""
from __future__ import annotations

import contextlib
import http.server
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from helpers import TEST_ENV, assert_same, descendants, kill_tree, run_native, run_sandbox, sandbox_argv

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.net import nginx_conf  # noqa: E402  (the nginx.conf bench/net.py serves with)

PYTHON3 = "/usr/bin/python3"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the sandbox exited ({process.returncode}) before listening:\n{out}\n{err}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on port {port} after {timeout}s")


@contextlib.contextmanager
def sandboxed_server(argv, port, flags=("--network=host",), cwd=None):
    """Run a server under `pysandbox do` until the block ends; then SIGTERM it and wait."""
    before = set(descendants())
    process = subprocess.Popen(sandbox_argv(argv, flags=list(flags), cwd=cwd), env=dict(TEST_ENV),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/",
                               start_new_session=True)
    try:
        wait_for_port(port, process)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        ended = True
        try:
            out, err = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            ended = False
            kill_tree(set(descendants()) - before)
            out, err = process.communicate()
        assert ended, f"the sandbox did not end within 20 s of SIGTERM:\n{err}"
        assert "internal error" not in err and "Traceback" not in err, err


def need(program):
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed (scripts/install.sh installs it)")


# -- python3: a server the host talks to, a client that talks to the host ------------------------

def test_http_server_in_sandbox_answers_the_host(tmp_path):
    (tmp_path / "page.txt").write_text("served from the sandbox\n")
    port = free_port()
    argv = [PYTHON3, "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(tmp_path), str(port)]
    with sandboxed_server(argv, port):
        for _ in range(3):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/page.txt", timeout=10) as response:
                assert response.read() == b"served from the sandbox\n"
        if shutil.which("curl"):
            curl = subprocess.run(["curl", "-sS", "-m", "10", f"http://127.0.0.1:{port}/page.txt"],
                                  capture_output=True, text=True)
            assert curl.stdout == "served from the sandbox\n", curl


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


CLIENT = r'''
import socket, sys, urllib.request
port = int(sys.argv[1])
for host in ("127.0.0.1", "localhost"):
    print(urllib.request.urlopen(f"http://{host}:{port}/page.txt", timeout=10).read())
s = socket.create_connection(("127.0.0.1", port))
print(s.getpeername()[1] == port, s.family, s.type)
s.sendall(b"HEAD /page.txt HTTP/1.0\r\n\r\n")
print(s.makefile("rb").readline())
'''


def test_sandboxed_client_fetches_from_a_host_server(tmp_path):
    (tmp_path / "page.txt").write_text("served by the host\n")
    handler = lambda *args: _Quiet(*args, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        argv = [PYTHON3, "-c", CLIENT, str(server.server_address[1])]
        native = run_native(argv)
        sandboxed = run_sandbox(argv, flags=["--network=host"])
        assert_same(native, sandboxed)
        assert "served by the host" in sandboxed.out
    finally:
        server.shutdown()
        server.server_close()


UDP_CLIENT = r'''
import socket, sys
port = int(sys.argv[1])
for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(10)
    s.sendto(b"ping " + host.encode(), (host, port))
    reply, sender = s.recvfrom(100)
    print(reply, sender[:2])
    s.connect((host, port))
    s.send(b"x" * 1000)
    print(len(s.recv(2000)), s.getpeername()[:2])
    if family == socket.AF_INET:                     # control messages from the host: IP_PKTINFO, IP_TOS
        s.setsockopt(socket.IPPROTO_IP, 8, 1)       # IP_PKTINFO
        s.setsockopt(socket.IPPROTO_IP, socket.IP_RECVTOS, 1)
        s.send(b"with ancillary data")
        data, ancillary, flags, _ = s.recvmsg(100, 1024)
        print(data, [(level, kind, len(value)) for level, kind, value in ancillary], flags)
        s.send(b"short control buffer")
        print(s.recvmsg(100, 20)[1:3])
'''


def test_udp_between_the_sandbox_and_a_host_server():
    servers = []
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        server = socket.socket(family, socket.SOCK_DGRAM)
        server.bind((host, servers[0].getsockname()[1] if servers else 0))
        servers.append(server)
    stop = threading.Event()

    def echo(server):
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                data, sender = server.recvfrom(4096)
            except OSError:
                continue
            server.sendto(data.upper(), sender)

    threads = [threading.Thread(target=echo, args=(server,), daemon=True) for server in servers]
    for thread in threads:
        thread.start()
    try:
        argv = [PYTHON3, "-c", UDP_CLIENT, str(servers[0].getsockname()[1])]
        native = run_native(argv)
        assert native.status == 0, native
        assert_same(native, run_sandbox(argv, flags=["--network=host"]))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        for server in servers:
            server.close()


# -- servers under load ------------------------------------------------------------------------

def redis_server(port, directory):
    return ["/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", "/data",
            "--save", "", "--appendonly", "no"], ("--network=host", "-v", f"{directory}:/data")


def redis_cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, timeout=30)


def test_redis_benchmark_and_save_survives_a_restart(tmp_path):
    for program in ("redis-server", "redis-benchmark", "redis-cli"):
        need(program)
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    argv, flags = redis_server(port, data)
    with sandboxed_server(argv, port, flags):
        bench = subprocess.run(["redis-benchmark", "-p", str(port), "-q", "-n", "3000", "-t", "get,set,incr,lpush"],
                               capture_output=True, text=True, timeout=120)
        assert bench.returncode == 0, bench
        summary = bench.stdout.replace("\r", "\n")
        assert "error" not in summary.lower() and "error" not in bench.stderr.lower(), bench
        for test in ("SET", "GET", "INCR", "LPUSH"):
            assert re.search(rf"^{test}: [\d.]+ requests per second", summary, re.M), summary
        assert redis_cli(port, "set", "kept", "across restarts").stdout.strip() == "OK"
        assert redis_cli(port, "save").stdout.strip() == "OK"
    assert (data / "dump.rdb").exists()
    with sandboxed_server(argv, port, flags):
        assert redis_cli(port, "get", "kept").stdout.strip() == "across restarts"


EDGE_SERVER = """
import select, socket, sys
listener = socket.socket()
listener.bind(("127.0.0.1", int(sys.argv[1])))
listener.listen(8)
print("listening", flush=True)
for round_ in range(int(sys.argv[2])):
    conn, _ = listener.accept()
    epoll = select.epoll()
    epoll.register(conn.fileno(), select.EPOLLIN | select.EPOLLET)
    events = epoll.poll(3)
    print(round_, conn.recv(10).decode() if events else "timed out", flush=True)
    epoll.close()
    conn.close()
"""


@pytest.mark.parametrize("runner", ["native", "sandbox"])
def test_an_edge_triggered_wait_on_a_new_connection_sees_data_that_comes_later(runner):
    """A fresh connection is writable at once: that edge reaches the sandbox while its task waits
    for input, and must not leave the host socket unwatched, or the data sent next is lost to
    the wait (nginx's workers lost their first request this way)."""
    port, rounds = free_port(), 30
    argv = [sys.executable, "-c", EDGE_SERVER, str(port), str(rounds)]
    if runner == "sandbox":
        argv = sandbox_argv(["python3", "-c", EDGE_SERVER, str(port), str(rounds)], flags=["--network=host"])
    server = subprocess.Popen(argv, env=dict(TEST_ENV), stdout=subprocess.PIPE, text=True, cwd="/")
    try:
        assert server.stdout.readline() == "listening\n"
        answers = []
        for round_ in range(rounds):
            with socket.create_connection(("127.0.0.1", port)) as client:
                time.sleep(0.05)
                client.sendall(b"ping")
                answers.append(server.stdout.readline())
        assert answers == [f"{round_} ping\n" for round_ in range(rounds)]
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_nginx_under_wrk_has_no_errors(tmp_path):
    need("nginx")
    need("wrk")
    port = free_port()
    (tmp_path / "html").mkdir()
    (tmp_path / "html" / "index.html").write_text("nginx in the sandbox\n" * 100)
    (tmp_path / "nginx.conf").write_text(nginx_conf(tmp_path, port, workers=2))
    argv = ["/usr/sbin/nginx", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)]
    with sandboxed_server(argv, port):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert response.read() == b"nginx in the sandbox\n" * 100
        wrk = subprocess.run(["wrk", "-t2", "-c8", "-d2s", "--timeout", "20s", f"http://127.0.0.1:{port}/"],
                             capture_output=True, text=True, timeout=60)
        assert wrk.returncode == 0, wrk
        assert "Socket errors" not in wrk.stdout and "Non-2xx" not in wrk.stdout, wrk.stdout
        requests = int(re.search(r"(\d+) requests in", wrk.stdout).group(1))
        assert requests > 50, wrk.stdout


# -- loopback only ----------------------------------------------------------------------------------

LOOPBACK_EXCHANGE = r'''
import os, socket, sys
port = int(sys.argv[1])
listeners = []
for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    tcp = socket.socket(family)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((host, port if family == socket.AF_INET else 0))
    tcp.listen()
    udp = socket.socket(family, socket.SOCK_DGRAM)
    udp.bind((host, port if family == socket.AF_INET else 0))
    listeners.append((family, host, tcp, udp))
print("listening", flush=True)
sys.stdin.readline()                       # the host looks at `ss` meanwhile
for family, host, tcp, udp in listeners:
    tcp_port, udp_port = tcp.getsockname()[1], udp.getsockname()[1]
    child = os.fork()
    if child == 0:
        c = socket.create_connection((host, tcp_port))
        c.sendall(bytes(range(256)) * 512)
        c.shutdown(socket.SHUT_WR)
        echoed = c.makefile("rb").read()
        u = socket.socket(family, socket.SOCK_DGRAM)
        u.sendto(b"datagram from the child", (host, udp_port))
        reply, _ = u.recvfrom(100)
        print("child:", len(echoed), echoed == (bytes(range(256)) * 512)[::-1], reply, flush=True)
        os._exit(0)
    conn, peer = tcp.accept()
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    conn.sendall(data[::-1])
    conn.close()
    message, sender = udp.recvfrom(100)
    udp.sendto(message.upper(), sender)
    os.waitpid(child, 0)
    print(family.name, peer[0], conn.family == family, len(data), message, sender[0], flush=True)
try:
    socket.create_connection(("127.0.0.1", port + 1 if port < 65535 else port - 1))
except ConnectionRefusedError as error:
    print("refused", error.errno)
'''


def host_sockets_on(port: int) -> str:
    ss = subprocess.run(["ss", "-Htanu", f"( sport = :{port} or dport = :{port} )"],
                        capture_output=True, text=True, timeout=30)
    return ss.stdout.strip()


def test_loopback_network_between_two_sandboxed_processes_is_invisible_on_the_host():
    need("ss")
    port = free_port()
    argv = [PYTHON3, "-c", LOOPBACK_EXCHANGE, str(port)]
    process = subprocess.Popen(sandbox_argv(argv, flags=["--network=none"]), env=dict(TEST_ENV), cwd="/",
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "listening\n"
        assert host_sockets_on(port) == ""
        process.stdin.write("go\n")
        process.stdin.flush()
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    native = run_native(argv, stdin="go\n")
    assert native.status == 0, native
    assert "listening\n" + out == native.out
    assert out.count("child: 131072 True b'DATAGRAM FROM THE CHILD'") == 2


def test_network_none_reaches_nothing_outside():
    program = ("import socket\n"
               "for address in (('192.0.2.1', 80), ('2001:db8::1', 80)):\n"
               "    try: socket.create_connection(address, timeout=5)\n"
               "    except OSError as error: print(error.errno)\n")
    result = run_sandbox([PYTHON3, "-c", program], flags=["--network=none"])
    assert result.out == "101\n101\n", result             # ENETUNREACH: only lo exists


# -- bad input, readiness, errnos: C, natively and in both modes ------------------------------------

@pytest.mark.parametrize("network", ["host", "none"])
def test_inet_errors_and_readiness_match_linux(cprog, network):
    program = cprog("inet_errors")
    native = run_native([program])
    assert native.status == 0, native
    assert_same(native, run_sandbox([program], flags=[f"--network={network}"]))


TCP_DETAILS = r'''
import socket, struct, select
from socket import SOL_SOCKET, IPPROTO_TCP
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen()
c = socket.create_connection(l.getsockname())
a, _ = l.accept()
print("peercred", struct.unpack("iii", a.getsockopt(SOL_SOCKET, socket.SO_PEERCRED, 12)))
print("rcvbuf>0", a.getsockopt(SOL_SOCKET, socket.SO_RCVBUF) > 0, "type", a.getsockopt(SOL_SOCKET, socket.SO_TYPE))
print("nodelay", a.getsockopt(IPPROTO_TCP, socket.TCP_NODELAY), a.getsockopt(SOL_SOCKET, socket.SO_KEEPALIVE))
c.setsockopt(SOL_SOCKET, socket.SO_KEEPALIVE, 1)
print("keepalive set", c.getsockopt(SOL_SOCKET, socket.SO_KEEPALIVE))
p = select.poll()
p.register(a, select.POLLIN | select.POLLOUT | select.POLLRDHUP)
print("poll", p.poll(0))
c.close()
print("poll after close", sorted(p.poll(100)))
print("recv after close", a.recv(10))
print("sockname", a.getsockname()[0], "peer", a.getpeername()[0])
s6 = socket.socket(socket.AF_INET6); s6.bind(("::", 0)); s6.listen()
c4 = socket.create_connection(("127.0.0.1", s6.getsockname()[1]))
a6, addr = s6.accept()
print("dual", addr[0], a6.getsockname()[0])
print("v6only default", s6.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY))
print("ttl", c4.getsockopt(socket.IPPROTO_IP, socket.IP_TTL))
c2 = socket.create_connection(l.getsockname())
a2, _ = l.accept()
a2.setsockopt(SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("qq", 0, 200000))
print(struct.unpack("qq", a2.getsockopt(SOL_SOCKET, socket.SO_RCVTIMEO, 16)))
try:
    a2.recv(10)
except OSError as error:
    print("recv with SO_RCVTIMEO", error.errno)
c2.sendall(b"late")
print(a2.recv(10))
'''


@pytest.mark.parametrize("network", ["host", "none"])
def test_tcp_options_names_and_poll_match_linux(network):
    argv = [PYTHON3, "-c", TCP_DETAILS]
    native = run_native(argv)
    assert native.status == 0, native
    assert_same(native, run_sandbox(argv, flags=[f"--network={network}"]))


def test_raw_and_packet_sockets_are_refused():
    program = ("import socket\n"
               "for args in ((socket.AF_INET, socket.SOCK_RAW, 1), (socket.AF_PACKET, socket.SOCK_RAW, 0),\n"
               "             (socket.AF_INET6, socket.SOCK_RAW, 58), (socket.AF_NETLINK, socket.SOCK_RAW, 9)):\n"
               "    try: socket.socket(*args)\n"
               "    except OSError as error: print(error.errno)\n")
    # EPERM (no raw sockets on the host: gVisor without --net-raw), EPROTONOSUPPORT; the loopback
    # stack gives raw ICMP sockets to root, who has CAP_NET_RAW (tests/test_ping.py)
    for network, expected in (("host", "1\n1\n1\n93\n"), ("none", "1\n93\n")):
        result = run_sandbox([PYTHON3, "-c", program], flags=[f"--network={network}"])
        assert result.out == expected, result


# -- interfaces: netlink and ioctls -------------------------------------------------------------------

def in_fresh_netns(command):
    """`command` natively in a new network namespace with lo up, or skip."""
    result = run_native(["unshare", "-n", "sh", "-c", f"ip link set lo up && {command}"])
    if result.status != 0:
        pytest.skip(f"cannot make a network namespace here: {result.err.strip()}")
    return result


IP_COMMANDS = "ip addr && ip link && ip route && ip -4 route show table all && ip -6 route show table all"


def test_ip_in_network_none_shows_what_a_fresh_namespace_has():
    need("ip")
    native = in_fresh_netns(IP_COMMANDS)
    sandboxed = run_sandbox(["sh", "-c", IP_COMMANDS], flags=["--network=none"])
    assert sandboxed.status == 0, sandboxed
    assert sandboxed.out.replace("metric 0 \n", "metric 0 pref medium\n") == native.out
    assert "1: lo:" in sandboxed.out and "inet 127.0.0.1/8 scope host lo" in sandboxed.out


def test_ip_in_network_host_shows_the_namespaces_interfaces():
    need("ip")
    command = "ip -o link | cut -d' ' -f1-2; ip -o addr | cut -d' ' -f1-4; ip route"
    native = run_native(["sh", "-c", command])
    sandboxed = run_sandbox(["sh", "-c", command], flags=["--network=host"])
    assert_same(native, sandboxed)


IFACES = r'''
import fcntl, socket, struct
print(socket.if_nameindex())
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
req = struct.pack("16s24x", b"lo")
flags = struct.unpack_from("H", fcntl.ioctl(s, 0x8913, req), 16)[0]
index = struct.unpack_from("i", fcntl.ioctl(s, 0x8933, req), 16)[0]
mtu = struct.unpack_from("i", fcntl.ioctl(s, 0x8921, req), 16)[0]
address = socket.inet_ntoa(fcntl.ioctl(s, 0x8915, req)[20:24])
netmask = socket.inet_ntoa(fcntl.ioctl(s, 0x891B, req)[20:24])
print(hex(flags), index, mtu, address, netmask)
try:
    fcntl.ioctl(s, 0x8913, struct.pack("16s24x", b"nosuchif0"))
except OSError as error:
    print("unknown interface", error.errno)
nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
nl.bind((0, 0))
print(nl.getsockname()[0] > 0)
'''


def test_getifaddrs_and_interface_ioctls():
    argv = [PYTHON3, "-c", IFACES]
    native = run_native(argv)
    assert_same(native, run_sandbox(argv, flags=["--network=host"]))
    loopback_only = run_sandbox(argv, flags=["--network=none"])
    assert loopback_only.status == 0, loopback_only
    assert loopback_only.out.splitlines()[:3] == ["[(1, 'lo')]", "0x49 1 65536 127.0.0.1 255.0.0.0",
                                                  "unknown interface 19"]


def test_netlink_refuses_changes():
    need("ip")
    for network in ("host", "none"):
        result = run_sandbox(["ip", "link", "set", "lo", "mtu", "1500"], flags=[f"--network={network}"])
        assert result.status != 0 and "Operation not permitted" in result.err, result
    assert "mtu 65536" in run_native(["ip", "link", "show", "lo"]).out


def test_network_flag_rejects_unknown_modes():
    result = run_sandbox(["/bin/true"], flags=["--network=bridge"])
    assert result.status == 2 and "invalid choice" in result.err, result
