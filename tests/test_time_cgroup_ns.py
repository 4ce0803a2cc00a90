"""Time and cgroup namespaces (sentry/timens.py, sentry/cgroupns.py, syscalls/sys_process.py):
unshare(2), clone(2), clone3(2) and setns(2) with CLONE_NEWTIME and CLONE_NEWCGROUP,
/proc/PID/timens_offsets, /proc/PID/cgroup and /proc/PID/ns/{time,time_for_children,cgroup},
compared with Linux run natively as root."""
import os
import posixpath
import shutil

import pytest
from hypothesis import given, strategies as st

from helpers import assert_same, native_unshare, run_native, run_sandbox
from pysandbox.sentry import cgroupns, timens
from pysandbox.sentry.errors import SyscallError

NSENTER = shutil.which("nsenter")

UPTIME_SCRIPT = ("read before idle < /proc/uptime; "
                 "after=$(unshare --time --boottime 1000 --monotonic 500 cat /proc/uptime); "
                 "after=${after%% *}; echo \"${before%.*} ${after%.*}\"; "
                 "unshare --time --boottime 1000 --monotonic 500 cat /proc/self/timens_offsets; "
                 "unshare --time --monotonic 500 sh -c "
                 "'[ \"$(readlink /proc/self/ns/time)\" = \"$(readlink /proc/self/ns/time_for_children)\" ] "
                 "&& echo entered at exec'; "
                 "a=$(grep btime /proc/stat); b=$(unshare --time --boottime 1000 grep btime /proc/stat); "
                 "echo btime earlier by $((${a#btime } - ${b#btime })); "
                 "unshare --time --boottime 1000 sh -c 'echo etimes $(ps -o etimes= -p $$)'")

NSENTER_SCRIPT = """
fifo=/tmp/timens-ready.$$
mkfifo $fifo
unshare --time --boottime 2000 sh -c 'echo > "$1"; exec sleep 30' sh $fifo &
read ready < $fifo
rm $fifo
read mine idle < /proc/uptime
theirs=$(nsenter -t $! -T cat /proc/uptime)
theirs=${theirs%% *}
echo $(( ${theirs%.*} - ${mine%.*} ))
kill $!
wait
"""


def _uptime_shift(result):
    before, after = map(int, result.out.split("\n", 1)[0].split())
    return after - before


@pytest.mark.usefixtures("each_platform")
def test_time_namespace_program_matches_linux(build):
    """tests/cprogs/timens_clocks.c: offsets written once before anyone enters (EINVAL, ERANGE,
    EACCES, EPERM as the man page has them), clocks of a child shifted by exactly the offsets,
    absolute clock_nanosleep, timerfd (TFD_TIMER_ABSTIME) and POSIX timers in the namespace's
    time, /proc/uptime and sysinfo, setns (EINVAL, EUSERS), clone3(CLONE_NEWTIME), execve.
    Static too: a static glibc would read a vDSO's clocks if the sandbox gave it one."""
    program = build("timens_clocks")
    native = run_native([program])
    assert native.status == 0, native
    sandboxed = run_sandbox([program])
    assert_same(native, sandboxed)
    for line in ("child sees: monotonic 500 raw 500 coarse 500 boottime 1000 realtime 0 /proc/uptime 1000 "
                 "sysinfo +1000 1", "offsets after a child entered: EACCES", "after setns: monotonic jumped 500 s",
                 "setns(time) with two threads: EUSERS", "posix timer absolute +100 s: remaining between 90 and 100 s 1",
                 "after exec: in the namespace for children 1", "unprivileged opener writes offsets: EPERM",
                 "timerfd boottime absolute: set 0, remaining at most 1 s and not yet 0 1"):
        assert line in sandboxed.out, line


@pytest.mark.usefixtures("each_platform")
def test_cgroup_namespace_program_matches_linux(cprog):
    """tests/cprogs/timens_cgroupns.c: unshare/clone/setns with CLONE_NEWCGROUP, the cgroup v2
    line of /proc/self/cgroup, a cgroup2 mount made inside, EPERM unprivileged, and setns with a
    pidfd joining a process's cgroup and time namespaces."""
    program = cprog("timens_cgroupns")
    native = run_native([native_unshare("a mount namespace for its cgroup2 mount"), "-m", program])
    assert native.status == 0, native
    sandboxed = run_sandbox([program])
    assert_same(native, sandboxed)
    assert "joined by pidfd: cgroup 1, time 1, time for children 1" in sandboxed.out


def test_util_linux_unshare_time_shifts_uptime():
    """`unshare --time --boottime 1000 --monotonic 500 cat /proc/uptime` reads 1000 s more than
    outside; the offsets file shows both; the exec'd program is in the new namespace; /proc/stat's
    btime is 1000 s earlier; ps's elapsed time (starttime in /proc/PID/stat against /proc/uptime)
    is not shifted."""
    native_unshare("time namespaces")
    native = run_native(["sh", "-c", UPTIME_SCRIPT])
    sandboxed = run_sandbox(["sh", "-c", UPTIME_SCRIPT])
    assert sandboxed.status == 0 and native.status == 0, (native, sandboxed)
    assert _uptime_shift(sandboxed) in (1000, 1001), sandboxed
    assert _uptime_shift(native) in (1000, 1001), native
    lines, native_lines = sandboxed.out.splitlines(), native.out.splitlines()
    assert lines[1:4] == native_lines[1:4]
    assert lines[1:4] == ["monotonic         500         0", "boottime         1000         0", "entered at exec"]
    assert native_lines[4] == "btime earlier by 1000", native
    assert lines[4] in ("btime earlier by 999", "btime earlier by 1000", "btime earlier by 1001"), sandboxed
    # Elapsed time is /proc/uptime less starttime, both shifted alike. (Linux itself now and then
    # gives a wrapped-around value here, a rounding race of its own, so only the sandbox's is checked.)
    assert lines[-1].startswith("etimes ") and 0 <= int(lines[-1].split()[1]) < 100, sandboxed


def test_nsenter_joins_a_time_namespace():
    """util-linux nsenter -T (setns on /proc/PID/ns/time) reads the other process's boot time."""
    if NSENTER is None:
        pytest.skip("util-linux nsenter is not installed")
    native = run_native([native_unshare("time namespaces"), "-m", "sh", "-c", NSENTER_SCRIPT])
    sandboxed = run_sandbox(["sh", "-c", NSENTER_SCRIPT])
    assert sandboxed.status == 0, sandboxed
    assert int(sandboxed.out) in (2000, 2001), sandboxed
    assert int(native.out) in (2000, 2001), native


def test_util_linux_unshare_cgroup():
    """`unshare -C cat /proc/self/cgroup`: the v2 line is "0::/" in the new namespace, and the
    namespace link changes."""
    script = ("a=$(readlink /proc/self/ns/cgroup); unshare -C sh -c "
              "'grep ^0:: /proc/self/cgroup; [ \"$(readlink /proc/self/ns/cgroup)\" != \"$1\" ] && echo new' sh \"$a\"")
    native = run_native([native_unshare("cgroup namespaces"), "-m", "sh", "-c", script])
    sandboxed = run_sandbox(["sh", "-c", script])
    assert_same(native, sandboxed)
    assert sandboxed.out == "0::/\nnew\n", sandboxed


CGROUP_SCRIPT = r"""
base=$1
d=$base/pysandbox-cgns-$$
mkdir $d $d/a $d/a/inner $d/b
sleep 30 &
echo $! > $d/b/cgroup.procs
echo $$ > $d/a/cgroup.procs
mnt=/tmp/pysandbox-cgns-mnt-$$
mkdir $mnt
unshare -C -m sh -c '
  grep ^0:: /proc/self/cgroup
  grep ^0:: /proc/$1/cgroup
  mount -t cgroup2 none $2 && echo mounted
  (cd $2 && find . -mindepth 1 -type d)
  awk -v m=$2 "\$5 == m {print \"mount root\", \$4}" /proc/self/mountinfo
  echo $$ > $3/b/cgroup.procs && echo moved out of the namespace root
  grep ^0:: /proc/self/cgroup
' sh $! $mnt $d
rmdir $mnt
rmdir $d/b 2>/dev/null || echo "rmdir busy cgroup: refused"
rmdir $d/a 2>/dev/null || echo "rmdir cgroup with a child: refused"
echo $$ > $base/cgroup.procs
kill $!
wait
rmdir $d/b && echo "rmdir empty cgroup: ok"
rmdir $d/a/inner $d/a $d && echo cleaned up
"""


def _host_cgroup2_mount():
    """Where the host's cgroup v2 hierarchy is mounted, if this process sits at its root."""
    with open("/proc/self/cgroup") as own:
        if "0::/\n" not in own.read().splitlines(keepends=True):
            return None
    with open("/proc/self/mountinfo") as mounts:
        for line in mounts:
            fields = line.split()
            if fields[fields.index("-") + 1] == "cgroup2" and fields[3] == "/":
                return fields[4]
    return None


@pytest.mark.usefixtures("each_platform")
def test_cgroup_namespace_sees_its_root_and_outside_cgroups_as_linux_does():
    """cgroups made with mkdir, processes moved through cgroup.procs; in a namespace rooted at
    /a, /proc/PID/cgroup reads "/" for itself and "/../b" for a process outside; a cgroup2
    mount there shows /a's subtree; rmdir EBUSY while a cgroup has a process or a child. Native:
    the host's cgroup v2 hierarchy (cleaned up after)."""
    host_mount = _host_cgroup2_mount()
    if host_mount is None or os.geteuid() != 0:
        pytest.skip("the native run needs root and a cgroup v2 hierarchy this process is at the root of")
    native = run_native(["sh", "-c", CGROUP_SCRIPT, "sh", host_mount])
    sandboxed = run_sandbox(["sh", "-c", "mkdir -p /tmp/cgroot && mount -t cgroup2 none /tmp/cgroot && "
                             "exec sh -c \"$0\" sh /tmp/cgroot", CGROUP_SCRIPT])
    assert_same(native, sandboxed)
    assert sandboxed.out.splitlines()[:2] == ["0::/", "0::/../b"], sandboxed
    assert sandboxed.out.endswith("cleaned up\n"), sandboxed


@pytest.mark.parametrize("root, cgroup, seen", [
    (b"/", b"/", b"/"), (b"/", b"/a/b", b"/a/b"), (b"/sub", b"/sub", b"/"), (b"/sub", b"/sub/x", b"/x"),
    (b"/sub", b"/sub2", b"/../sub2"),           # cgroup_namespaces(7)'s example
    (b"/a/b", b"/", b"/../.."), (b"/a/b", b"/a/c/d", b"/../c/d"), (b"/a", b"/ab", b"/../ab")])
def test_cgroup_paths_are_relative_to_the_readers_root(root, cgroup, seen):
    """cgroup_path_ns(): "/.." for each step from the namespace root up to the common ancestor."""
    assert cgroupns.path_from(root, cgroup) == seen


_CGROUP_PATHS = st.lists(st.sampled_from([b"a", b"b", b"ab", b"sub"]), max_size=4).map(lambda parts: b"/" + b"/".join(parts))


@given(root=_CGROUP_PATHS, cgroup=_CGROUP_PATHS)
def test_cgroup_path_rule_agrees_with_relpath(root, cgroup):
    """The same rule from another side: posixpath.relpath counts the same ".." steps."""
    relative = posixpath.relpath(cgroup, root)
    assert cgroupns.path_from(root, cgroup) == (b"/" if relative == b"." else b"/" + relative)


@pytest.mark.parametrize("text, taken, offsets", [
    (b"monotonic 5 0\n", 14, [(1, 5_000_000_000)]),
    (b"boottime -1 500000000", 21, [(7, -500_000_000)]),
    (b"1 1 0\n7 2 0\nrest", 12, [(1, 1_000_000_000), (7, 2_000_000_000)]),
    (b"monotonic5 0 0\n", 15, [(1, 5_000_000_000)]),        # sscanf's %9s stops after nine
    (b"  boottime\t3 +4\0junk", 15, [(7, 3_000_000_004)])])
def test_timens_offsets_are_parsed_as_linux_does(text, taken, offsets):
    assert timens.parse_offsets(text) == (offsets, taken)


@pytest.mark.parametrize("text", [b"", b"\n", b"boottime5 0 0", b"monotonic 1", b"monotonic 1 -1",
                                  b"realtime 1 0", b"monotonic 1 1000000000", b"monotonic 1 0\n\n"])
def test_bad_timens_offsets_are_einval(text):
    with pytest.raises(SyscallError) as raised:
        timens.parse_offsets(text)
    assert raised.value.errno == 22
