"""The sandbox's defence in depth and its measurement: the host syscall allowlists (seccomp),
the footprint report, the security benchmark with its attack suite, and resource limits."""
