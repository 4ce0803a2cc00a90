"""POSIX message queues checked call by call against Linux: tests/cprogs/mqueue_ops.c prints one
line per call, natively (in a fresh IPC and mount namespace, so its queues and its mqueue mount
stay private) and under pysandbox (whose sandbox is its own IPC namespace)."""

from __future__ import annotations

import json
import shutil

import pytest
from hypothesis import given, settings, strategies as st

from helpers import assert_same, run_native, run_sandbox
from pysandbox.sentry.vfs.mqueue import MQ_PRIO_MAX, MqueueNamespace


def _native_isolated(argv):
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("util-linux's unshare is needed to run the native side in its own IPC namespace")
    return run_native([unshare, "--ipc", "--mount", "--propagation", "private", *argv])


@pytest.fixture(scope="module")
def mqueue_runs(cprog, tmp_path_factory):
    mount_point = str(tmp_path_factory.mktemp("mqueue") / "mnt")
    argv = [cprog("mqueue_ops"), mount_point]
    native = _native_isolated(argv)
    assert native.status == 0, native
    return native, run_sandbox(argv)


def test_mqueue_calls_match_linux(mqueue_runs):
    native, sandboxed = mqueue_runs
    assert_same(native, sandboxed)


def test_sticky_root_asks_for_cap_fowner_not_uid_0(cprog, tmp_path, as_root):
    """tests/cprogs/mqueue_sticky.c: mq_unlink by the queue's owner, the root directory's owner
    and others, with and without CAP_FOWNER (root without it too), against Linux."""
    argv = [cprog("mqueue_sticky"), str(tmp_path / "mnt")]
    native = _native_isolated(argv)
    assert native.status == 0, native
    sandboxed = run_sandbox(argv)
    assert_same(native, sandboxed)
    assert "uid 2000 with CAP_FOWNER: 0\nuid 2000 without CAP_FOWNER: EPERM\n" in sandboxed.out
    assert "root without CAP_FOWNER, the root directory uid 3000's: EPERM\n" in sandboxed.out


def test_names_attributes_and_limits(mqueue_runs):
    out = mqueue_runs[1].out
    assert "raw open name with slash: EACCES\nraw open empty name: ENOENT\n" in out
    assert "default attrs: flags=0 maxmsg=10 msgsize=8192 curmsgs=0\n" in out
    assert "other second queue over RLIMIT_MSGQUEUE: EMFILE\n" in out
    assert "other second queue while the first is open: EMFILE\nother second queue fits now: 1\n" in out


def test_priorities_blocking_and_readiness(mqueue_runs):
    out = mqueue_runs[1].out
    assert "received 4 'five' prio 5\nreceived 6 'five-b' prio 5\nreceived 3 'one' prio 1\n" in out
    assert "receive empty 50ms: ETIMEDOUT\n" in out
    assert "blocking receive 10 'from child' prio 3\n" in out
    assert "full: poll 1 revents 0x41\n" in out
    assert "epoll events 0x1 data 42\n" in out


def test_notification_and_the_filesystem(mqueue_runs):
    out = mqueue_runs[1].out
    assert "signal 10 code SI_MESGQ value 1234 pid is sender 1\n" in out
    assert "close drops the registration: 0\nnotify after close: 0\n" in out
    assert "QSIZE:12         NOTIFY:0     SIGNO:12    NOTIFY_PID:self  \n" in out
    assert "mkdir in the fs: EPERM\n" in out


def test_notification_by_thread(mqueue_runs):
    """glibc's SIGEV_THREAD: a netlink socket receives the cookie, and glibc's helper thread
    starts the function."""
    out = mqueue_runs[1].out
    assert "send (starts the thread): 0\nthread wrote: 1\nthread got value 77\n" in out
    assert "raw thread notify on a unix socket: EINVAL\nraw thread notify on a pipe: ENOTSOCK\n" in out


# --- the queue's order, against a model ---

_OPERATIONS = st.lists(st.one_of(
    st.tuples(st.just("send"), st.integers(0, MQ_PRIO_MAX - 1) | st.sampled_from([0, 1, 5]), st.binary(max_size=8)),
    st.just(("receive",))), max_size=60)


@settings(max_examples=200, deadline=None)
@given(_OPERATIONS)
def test_messages_leave_by_priority_then_arrival(operations):
    """The highest priority first, and first in first out within one priority; QSIZE counts the
    queued text. The model: a list kept sorted by (-priority, arrival)."""
    queue = MqueueNamespace().create(b"q", 0o600, 0, 0, 8, 8, limit=None)
    model, arrivals = [], 0
    for operation in operations:
        if operation[0] == "send":
            if len(model) == 8:
                continue        # a full queue: the syscall would wait
            _, priority, text = operation
            queue.send(None, text, priority)
            model.append((-priority, arrivals, text))
            model.sort()
            arrivals += 1
        elif model:
            negative_priority, _, text = model.pop(0)
            assert queue.receive() == (text, -negative_priority)
        assert queue.qsize == sum(len(text) for _, _, text in model)
        assert queue.status_line().startswith(b"QSIZE:%-10d " % queue.qsize)
        assert len(queue.messages) == len(model) and queue.full == (len(model) == 8)


# --- the OCI config's /dev/mqueue ---

pytest_plugins = ("oci_fixtures",)        # runtime, bundle


def test_dev_mqueue_and_mqueue_sysctls_of_an_oci_container(runtime, bundle, cprog):
    """The config's mqueue mount shows the queues, and its linux.sysctl sets the limits that bind
    a root without CAP_SYS_RESOURCE (not in the default OCI set)."""
    b = bundle(["sh", "-c", "exec /out/mqueue_devmqueue"])
    config = json.loads(open(b.config_path).read())
    config["linux"]["sysctl"] = {"fs.mqueue.msg_max": "20"}
    b.write_config(config)
    shutil.copy(cprog("mqueue_devmqueue", static=True), f"{b.out}/mqueue_devmqueue")
    result = runtime.run("run", "--bundle", b, "mq")
    assert result.status == 0, result
    assert result.out == ("mq_open: 1\nmq_send: 0\nread status: 60\n"
                          "QSIZE:5          NOTIFY:0     SIGNO:0     NOTIFY_PID:0     \n"
                          "entry oci-queue\nunlink in /dev/mqueue: 0\ngone: ENOENT\n"
                          "read msg_max: 3\nmsg_max 20\nmaxmsg at msg_max: 1\nmaxmsg past msg_max: EINVAL\n"), result
