"""SO_TIMESTAMP and SO_TIMESTAMPNS on every kind of socket (socket(7)): tests/cprogs/socket_timestamps.c
sets and clears them on loopback UDP (v4, v6), TCP and unix datagram, stream and seqpacket pairs
and prints the options' values and the control messages recvmsg(2) gets, each stamp checked to lie
between its message's send and the receive; compared with the same program run natively in a
network namespace with only lo. --network=none: the sentry's netstack stamps; host: the host does.
"""
import pytest

from helpers import assert_same, native_unshare, run_native, run_sandbox


@pytest.mark.parametrize("network", ["none", "host"])
def test_receive_timestamps_match_linux(cprog, network):
    program = cprog("socket_timestamps")
    unshare = native_unshare("a network namespace with only lo")
    native = run_native([unshare, "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", program])
    assert native.status == 0, native
    sandboxed = run_sandbox([program], flags=[f"--network={network}"])
    assert_same(native, sandboxed)
    out = sandboxed.out
    assert "OUT OF RANGE" not in out and "setsockopt" not in out, out
    assert out.count("cmsg level 1 type 29 len 32: between send and receive") == 15, out      # SCM_TIMESTAMP
    assert out.count("cmsg level 1 type 35 len 32: between send and receive") == 5, out       # SCM_TIMESTAMPNS
    stream = out.split("unix stream\n")[1].split("unix seqpacket")[0]
    assert "SO_TIMESTAMP on: SO_TIMESTAMP 1 SO_TIMESTAMPNS 0" in stream and "cmsg" not in stream, stream
