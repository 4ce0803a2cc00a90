"""`pysandbox profile seccomp PROFILE.json`: a Docker/OCI seccomp profile from a syscall profile.

The result allows exactly the syscalls the workload completed in the sandbox (successfully
or with an error: a call that failed was still made, and the workload may rely on the
error it got). Calls the sandbox answered with ENOSYS because it does not implement them
get ENOSYS natively too (SCMP_ACT_ERRNO with errnoRet 38), so the workload takes the same
fallback path it took in the sandbox; everything else gets EPERM (defaultAction
SCMP_ACT_ERRNO, defaultErrnoRet 1), as in Docker's own profile.

The sentry sees the workload from its first execve onward, so the dynamic loader's and the
language runtime's start-up calls are in the record. The first execve itself is made by
the container runtime once the filter is in place, so it is always allowed; so are the
calls the runtime makes between installing the filter and that execve (see RUNTIME_CALLS).
"""
import errno

from pysandbox.sentry.syscalls import table
from pysandbox.sentry.syscalls.linux64 import UNIMPLEMENTED

ARCHITECTURES = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]

# What the container runtime itself calls after installing the filter, up to and including
# the workload's first execve. runc (1.1) installs the filter as its last step when
# noNewPrivileges is set; without it (Docker's default), before dropping privileges, so a
# few identity and capability calls follow. Its init is a Go program, so the Go runtime's
# own calls (scheduling, signals, memory) may happen at any point in between.
RUNTIME_CALLS = {
    "none": ("execve",),
    "runc": ("execve", "futex", "nanosleep", "sched_yield", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
             "sigaltstack", "mmap", "munmap", "madvise", "getpid", "gettid", "tgkill", "exit", "exit_group",
             "epoll_pwait", "epoll_ctl", "close", "fcntl", "write", "read", "openat", "newfstatat", "fstat",
             "getppid", "capget", "capset", "prctl", "setgroups", "setresuid", "setresgid", "setuid", "setgid",
             "chdir", "fchdir", "getdents64", "close_range", "clock_gettime", "getrandom", "statfs", "fstatfs"),
}
RUNTIMES = tuple(RUNTIME_CALLS)


def seccomp_profile(profile, runtime="runc"):
    """The Docker/OCI `linux.seccomp` object for a loaded syscall profile."""
    used = profile["syscalls"]
    allowed, enosys = set(RUNTIME_CALLS[runtime]), set()
    unknown_numbers = []
    for name, record in used.items():
        if name.startswith("syscall_"):
            unknown_numbers.append(record["nr"])
            continue
        outcomes = record.get("returned", {})
        answered_enosys_only = set(outcomes) <= {"ENOSYS"}
        if record["level"] == UNIMPLEMENTED and answered_enosys_only:
            enosys.add(name)
        else:
            allowed.add(name)
    enosys -= allowed
    rules = [{"names": sorted(allowed, key=_number), "action": "SCMP_ACT_ALLOW"}]
    if enosys:
        rules.append({"names": sorted(enosys, key=_number), "action": "SCMP_ACT_ERRNO",
                      "errnoRet": errno.ENOSYS})
    result = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno.EPERM,
        "architectures": ARCHITECTURES,
        "syscalls": rules,
    }
    if unknown_numbers:
        result["comment"] = ("numbers outside the x86_64 table were called and get EPERM: "
                             + ", ".join(map(str, sorted(unknown_numbers))))
    return result


def _number(name):
    return _NUMBERS.get(name, 1 << 30)


_NUMBERS = {entry.name: entry.nr for entry in table.SYSCALLS.values()}
