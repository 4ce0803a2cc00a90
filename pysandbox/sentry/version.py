"""The Linux the sandbox says it is: uname(2), /proc/version and /proc/sys/kernel/{ostype,osrelease,version}.

The release matches the system calls the sentry implements (openat2, close_range, faccessat2,
clone3, pidfd_open are all 5.x), since glibc, Python and others gate features on it.
"""
SYSNAME = "Linux"
RELEASE = "6.1.0"
VERSION = "#1 SMP pysandbox"
MACHINE = "x86_64"
