"""The attack suite of `pysandbox security-bench`: small C programs, one per family.

Each entry of ATTACKS names one attack: the program that makes it, the technique argument,
and which host-side canaries can prove it worked (see pysandbox/security/bench.py).
"""
import os
from typing import NamedTuple

SOURCE_DIR = os.path.dirname(os.path.abspath(__file__))


class Attack(NamedTuple):
    name: str
    program: str           # attacks/PROGRAM.c
    technique: str         # its argv[1]
    what: str
    quick: bool = False    # part of the quick subset CI runs


ATTACKS = [
    Attack("symlink", "file_escapes", "symlink", "canary file through absolute and ../ symlinks", True),
    Attack("dotdot", "file_escapes", "dotdot", "canary file through ../ past / and a double chroot", True),
    Attack("proc_self_root", "file_escapes", "proc_root", "canary file through /proc/self/root and cwd", True),
    Attack("proc_1_root", "file_escapes", "proc_1_root", "canary file through /proc/1/root and cwd"),
    Attack("proc_host_pid", "file_escapes", "proc_host_pid", "canary file through /proc/<host pid>/root", True),
    Attack("shocker", "shocker", "", "canary file through open_by_handle_at (shocker)", True),
    Attack("leaked_fd", "file_escapes", "leaked_fd", "canary file through a leaked fd or cwd (CVE-2024-21626)",
           True),
    Attack("proc_exe", "proc_exe", "", "the runtime's binary through /proc/*/exe (CVE-2019-5736)", True),
    Attack("see_host_process", "host_process", "see", "the host canary process in /proc", True),
    Attack("signal_host_process", "host_process", "signal", "SIGKILL to the host canary process", True),
    Attack("ptrace_host_process", "host_process", "ptrace", "ptrace-attach to the host canary process", True),
    Attack("mount", "namespaces", "mount", "mount the host's disk", True),
    Attack("umount", "namespaces", "umount", "umount / and the runtime's masks"),
    Attack("pivot_root", "namespaces", "pivot_root", "pivot_root and look through the old root"),
    Attack("unshare", "namespaces", "unshare", "unshare user+mount namespaces, then mount the host's disk"),
    Attack("setns", "namespaces", "setns", "setns into the host's mount namespace", True),
    Attack("init_module", "kernel_surface", "init_module", "load a kernel module"),
    Attack("finit_module", "kernel_surface", "finit_module", "load a kernel module from a file"),
    Attack("kexec_load", "kernel_surface", "kexec_load", "kexec_load"),
    Attack("reboot", "kernel_surface", "reboot", "reboot(2) (the harmless CAD_OFF command)"),
    Attack("sethostname", "host_identity", "sethostname", "change the host's hostname", True),
    Attack("settimeofday", "host_identity", "settimeofday", "move the host's clock", True),
    Attack("raw_socket", "kernel_surface", "raw_socket", "raw IP socket on the host's network"),
    Attack("packet_socket", "kernel_surface", "packet_socket", "packet socket on the host's network", True),
    Attack("bpf", "kernel_surface", "bpf", "load a BPF program into the host kernel", True),
    Attack("perf_event_open", "kernel_surface", "perf_event_open", "perf_event_open"),
    Attack("userfaultfd", "kernel_surface", "userfaultfd", "userfaultfd", True),
    Attack("io_uring_setup", "kernel_surface", "io_uring_setup", "io_uring_setup", True),
    Attack("keyctl", "kernel_surface", "keyctl", "keyctl on the host's keyrings"),
    Attack("add_key", "kernel_surface", "add_key", "add_key to the host's keyrings"),
    Attack("dev_mem", "devices", "dev_mem", "open /dev/mem"),
    Attack("dev_kmsg", "devices", "dev_kmsg", "write to the host's kernel log through /dev/kmsg", True),
    Attack("sysrq_trigger", "devices", "sysrq_trigger", "write to /proc/sysrq-trigger"),
    Attack("tiocsti", "devices", "tiocsti", "inject input into the console with TIOCSTI", True),
    Attack("fork_bomb", "resources", "fork_bomb", "more processes than the pids limit", True),
    Attack("memory_bomb", "resources", "memory_bomb", "more memory than the memory limit", True),
    Attack("fd_exhaustion", "resources", "fd_exhaustion", "16384 open files, held as host files"),
    Attack("fill_tmpfs", "resources", "fill_tmpfs", "more tmpfs (/dev/shm) than the memory limit"),
]

PROGRAMS = sorted({attack.program for attack in ATTACKS})
