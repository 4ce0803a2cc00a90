"""Syscall coverage: recording what a workload calls (`do --syscall-profile`), turning that
record into a seccomp profile (`profile seccomp`), and running conformance suites natively
and in the sandbox (`conformance`)."""
