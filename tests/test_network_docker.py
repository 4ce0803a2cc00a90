"""Docker's default bridge network with pysandbox as the runtime: a port published with -p reaches
python3's http.server inside the sandbox (host-backed sockets in the container's namespace)."""
import socket
import subprocess
import time
import urllib.request

import pytest

from oci_fixtures import docker, docker_images  # noqa: F401  (fixtures)


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _fetch(url, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_published_port_on_the_default_bridge_answers_the_host(docker, docker_images):
    port = _free_port()
    started = docker.run("run", "-d", "--runtime=pysandbox", "-p", f"127.0.0.1:{port}:8000", docker_images["py"],
                         "python3", "-m", "http.server", "--directory", "/etc", "8000")
    if started.status != 0:
        pytest.fail(f"docker run failed: {started}")
    container = started.out.strip()
    try:
        url = f"http://127.0.0.1:{port}/hosts"
        assert b"localhost" in _fetch(url)
        fetched = subprocess.run(["curl", "-sS", "--max-time", "10", url], capture_output=True)
        assert fetched.returncode == 0 and b"localhost" in fetched.stdout, fetched
        inside = docker.run("exec", container, "python3", "-c",
                            "import socket; print([n for _, n in socket.if_nameindex()])")
        assert "'lo'" in inside.out and "'eth0'" in inside.out, inside
    finally:
        docker.run("rm", "-f", container)
