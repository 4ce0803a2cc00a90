"""System V shared memory (sentry/sysv_shm.py, syscalls/sys_shm.py), compared with Linux run
natively in an IPC namespace of its own (unshare --ipc), where ids start from 0 as in a
sandbox: tests/cprogs/sysv_shm.c, util-linux ipcs(1), python3 through ctypes, and random
scripts of operations (tests/cprogs/sysv_shm_model.c) chosen by hypothesis."""
import os
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import assert_same, native_unshare, run_native, run_sandbox

pytestmark = pytest.mark.usefixtures("each_platform")


def _run_in_own_ipc_namespace(argv, **options):
    return run_native([native_unshare("an IPC namespace of its own"), "--ipc", *argv], **options)

PYTHON_SCRIPT = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_int)
shmid = libc.shmget(0x7070, 1 << 20, 0o1600)
memory = (ctypes.c_char * (1 << 20)).from_address(libc.shmat(shmid, None, 0))
children = []
for n in range(3):
    pid = os.fork()
    if pid == 0:
        other = (ctypes.c_char * (1 << 20)).from_address(libc.shmat(libc.shmget(0x7070, 0, 0), None, 0))
        other[n * 4096:n * 4096 + 6] = b"child%d" % n
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
print([memory[n * 4096:n * 4096 + 6] for n in range(3)])
print("IPC_RMID", libc.shmctl(shmid, 0, None))
print("shmdt", libc.shmdt(ctypes.addressof(memory)))
print("gone", libc.shmget(0x7070, 0, 0), ctypes.get_errno())
"""


def test_shared_memory_matches_linux(cprog):
    """Every shmget/shmat/shmdt/shmctl case of tests/cprogs/sysv_shm.c: keys, sizes and limits,
    SHM_RDONLY/SHM_RND/SHM_REMAP, nattch through mprotect splits, fork, exit and exec, IPC_RMID
    while attached, IPC_SET, IPC_INFO/SHM_INFO/SHM_STAT(_ANY), SHM_LOCK, another user's
    permissions, the kernel.shm* sysctls and /proc/sysvipc/shm; memory shared between
    processes that attach it by key."""
    program = cprog("sysv_shm")
    native = _run_in_own_ipc_namespace([program])
    assert native.status == 0, native
    sandboxed = run_sandbox([program])
    assert_same(native, sandboxed)
    for line in ("parent reads: from the child", "after the fork: nattch=1 lpid=child",
                 "split attachment: key=0 mode=600 segsz=12388 nattch=3",
                 "marked: key=0 mode=1600", "exec-child sees nattch=0", "shmget over shmmni: ENOSPC",
                 "other user: shmat read-write: EACCES", "forced: IPC_STAT after the last detach: EINVAL"):
        assert line in sandboxed.out, line


def test_ipcs_lists_the_segments(cprog):
    """util-linux ipcs(1) (from /proc/sysvipc/shm and shmctl) shows what Linux's shows."""
    if shutil.which("ipcs") is None:
        pytest.skip("util-linux ipcs is not installed")
    program = cprog("sysv_shm")
    native = _run_in_own_ipc_namespace([program, "ipcs"])
    assert native.status == 0, native
    sandboxed = run_sandbox([program, "ipcs"])
    assert_same(native, sandboxed)
    assert "0x00000000 2          root       666        12288      1          dest" in sandboxed.out


def _masked(proc_text, masked_columns):
    """/proc/sysvipc lines with the columns that differ between runs (pids, times) reduced to
    whether they are 0, and each line's length (the columns' widths) kept."""
    lines = []
    for line in proc_text.splitlines():
        fields = line.split()
        if fields[0] != "key":
            fields = [("set" if field != "0" else "0") if index in masked_columns else field
                      for index, field in enumerate(fields)]
        lines.append((len(line), fields))
    return lines


def test_proc_sysvipc_msg_and_sem(cprog):
    """/proc/sysvipc/msg and sem list message queues and semaphore sets as Linux's do."""
    program = cprog("sysv_shm")
    native = _run_in_own_ipc_namespace([program, "msg-sem"])
    assert native.status == 0, native
    sandboxed = run_sandbox([program, "msg-sem"])
    assert sandboxed.status == 0, sandboxed
    native_msg, native_sem = native.out.split("       key      semid")
    sandbox_msg, sandbox_sem = sandboxed.out.split("       key      semid")
    assert _masked(sandbox_msg, {5, 11, 13}) == _masked(native_msg, {5, 11, 13})   # lspid, stime, ctime
    assert _masked(sandbox_sem, {9}) == _masked(native_sem, {9})                   # ctime
    assert len(sandbox_msg.splitlines()) == 2 and len(sandbox_sem.splitlines()) == 3, sandboxed


SYSCTL_SCRIPT = """
for setting in shmmni=40000 shmmni=32768 shmmni=-1 shm_rmid_forced=2 shmmax=-1 msgmni=40000 msgmax=-5 msgmnb=7; do
  name=${setting%=*}; value=${setting#*=}
  if echo $value 2>/dev/null > /proc/sys/kernel/$name; then echo "$setting: ok"; else echo "$setting: refused"; fi
  echo "$name = $(cat /proc/sys/kernel/$name)"
done
"""


def test_ipc_sysctls_keep_linux_bounds():
    """Writes of kernel.shm* and kernel.msg* outside ipc_sysctl.c's bounds are refused."""
    native = _run_in_own_ipc_namespace(["sh", "-c", SYSCTL_SCRIPT])
    sandboxed = run_sandbox(["sh", "-c", SYSCTL_SCRIPT])
    assert_same(native, sandboxed)
    assert "shmmni=40000: refused" in sandboxed.out and "shmmni = 32768" in sandboxed.out, sandboxed


POSTGRES_SCRIPT = """
set -e
dir=$(mktemp -d /tmp/pg.XXXXXX)
chown postgres $dir
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
as_pg initdb -D $dir/data -A trust -U postgres --no-sync >/dev/null 2>&1
as_pg pg_ctl -D $dir/data -l $dir/log -w -o "-c shared_memory_type=sysv -c dynamic_shared_memory_type=sysv \
    -c listen_addresses='' -k $dir -c max_connections=5 -c shared_buffers=1MB -c fsync=off" start >/dev/null
echo segments: $(ipcs -m | grep -c postgres)
as_pg psql -h $dir -U postgres -qAt -c "create table t(x int)" -c "insert into t select generate_series(1, 1000)" \
    -c "select count(*), sum(x) from t"
as_pg psql -h $dir -U postgres -qAt -c "select count(*) from t"
as_pg pg_ctl -D $dir/data -w -m fast stop >/dev/null
echo segments after stop: $(ipcs -m | grep -c postgres || true)
rm -rf $dir
"""


def test_postgres_runs_on_sysv_shared_memory():
    """PostgreSQL with shared_memory_type=sysv and dynamic_shared_memory_type=sysv: initdb, a
    server whose backends share its segments, two psql sessions, a clean stop that removes them."""
    if shutil.which("pg_ctl") is None or shutil.which("setpriv") is None:
        pytest.skip("PostgreSQL (pg_ctl, initdb, psql) or util-linux setpriv is not installed")
    native = _run_in_own_ipc_namespace(["sh", "-c", POSTGRES_SCRIPT], timeout=120)
    sandboxed = run_sandbox(["sh", "-c", POSTGRES_SCRIPT], timeout=180)
    assert_same(native, sandboxed)
    assert sandboxed.out.split("\n")[:4] == ["segments: 3", "1000|500500", "1000", "segments after stop: 0"], sandboxed


def test_python_shares_memory_through_ctypes():
    """python3 attaches one segment in three forked children by key and sees their writes."""
    native = _run_in_own_ipc_namespace(["/usr/bin/python3", "-c", PYTHON_SCRIPT])
    assert native.status == 0, native
    sandboxed = run_sandbox(["/usr/bin/python3", "-c", PYTHON_SCRIPT])
    assert_same(native, sandboxed)
    assert "[b'child0', b'child1', b'child2']" in sandboxed.out


# The operations tests/cprogs/sysv_shm_model.c knows; segment and attachment numbers wrap around
# what exists, flags are octal.
_SEG, _ATT, _PAGE = st.integers(0, 5), st.integers(0, 7), st.integers(0, 4)
_OPERATIONS = st.one_of(
    st.builds("get {} {} {}".format, st.sampled_from([0, 11, 12]), st.integers(1, 4),
              st.sampled_from(["1600", "1640", "3600", "600", "0"])),
    st.builds("at {} {}".format, _SEG, st.sampled_from(["0", "10000"])),
    st.builds("remap {} {} {}".format, _SEG, _ATT, st.sampled_from(["0", "40000", "50000"])),
    st.builds("dt {}".format, _ATT),
    st.builds("protect {} {}".format, _ATT, _PAGE),
    st.builds("unmap {} {}".format, _ATT, _PAGE),
    st.builds("write {} {} {}".format, _ATT, _PAGE, st.sampled_from(["101", "102"])),
    st.builds("read {} {}".format, _ATT, _PAGE),
    st.builds("rmid {}".format, _SEG),
    st.builds("stat {}".format, _SEG),
    st.builds("fork {}".format, _SEG),
    st.just("info"),
)


@pytest.fixture(scope="module")
def model(cprog):
    return cprog("sysv_shm_model")


@settings(max_examples=int(os.environ.get("PYSANDBOX_SHM_MODEL_EXAMPLES", "15")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(script=st.lists(_OPERATIONS, min_size=4, max_size=25))
def test_random_shm_scripts_match_linux(script, model):
    """Random scripts of shmget, shmat (SHM_RDONLY, SHM_REMAP), shmdt, mprotect and munmap of
    attached pages, loads and stores (faults included), IPC_RMID, IPC_STAT, forks and SHM_INFO:
    every step prints what Linux's does (nattch, lpid, dtime, SHM_DEST, what memory holds)."""
    text = "".join(line + "\n" for line in ["get 0 2 1600", "at 0 0", *script])
    native = _run_in_own_ipc_namespace([model], stdin=text)
    assert native.status == 0, native
    sandboxed = run_sandbox([model], stdin=text)
    assert sandboxed.status == 0, sandboxed
    assert sandboxed.out == native.out, f"script:\n{text}"
