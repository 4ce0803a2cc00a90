"""cffi (API mode) builder for the ptrace stop/resume loop in loop.c."""
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
PLATFORM = os.path.dirname(HERE)
ROOT = os.path.dirname(os.path.dirname(PLATFORM))
# hostcall.c, shared with the KVM module, is compiled into this one too. Its name is relative
# to the repository: setup.py builds from there, and compile() below runs there.
HOSTCALL_SOURCES, HOSTCALL_DEPENDS = ["pysandbox/platform/hostcall.c"], ["pysandbox/platform/hostcall.h"]

ffibuilder = FFI()
ffibuilder.cdef("""
struct user_regs_struct {
    unsigned long r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8;
    unsigned long rax, rcx, rdx, rsi, rdi, orig_rax, rip, cs, eflags, rsp, ss;
    unsigned long fs_base, gs_base, ds, es, fs, gs;
};
int psb_register(int tid, struct user_regs_struct *regs);
void psb_unregister(int tid);
int psb_spawn_stub(int exe_fd, int channel_fd, int cpu);
int psb_getregs(int tid, struct user_regs_struct *regs);
int psb_setregs(int tid, struct user_regs_struct *regs);
int psb_getfpregs(int tid, void *buf512);
int psb_setfpregs(int tid, void *buf512);
long psb_geteventmsg(int tid);
long psb_getxstate(int tid, void *buf, unsigned long size);
long psb_setxstate(int tid, void *buf, unsigned long size);
int psb_resume(int tid, struct user_regs_struct *regs, int sig);
int psb_wait(int *status, int block);
int psb_resume_wait(int tid, struct user_regs_struct *regs, int *status);
int psb_sigchld_fd(void);
int psb_wait_event(int epfd, int sigfd, int timeout_ms, int *status, int *ready_fds, int max_ready, int *n_ready);
int psb_resume_wait_event(int tid, struct user_regs_struct *regs, int *status, int epfd, int sigfd,
                          int timeout_ms, int *ready_fds, int max_ready, int *n_ready);
long psb_write_mem(int pid, unsigned long addr, const void *buf, unsigned long n);
long psb_inject(int tid, unsigned long gadget, long nr, long a0, long a1, long a2, long a3, long a4, long a5);
long psb_stub_copy(int tid, unsigned long gadget, unsigned long dst, unsigned long src, unsigned long n);
int psb_wait_new_child(int tid);
long psb_read_siginfo(int tid, void *buf128);
int psb_kill_thread(int tgid, int tid, int sig);
long psb_read_mem(int pid, unsigned long addr, void *buf, unsigned long n);
int psb_channel(int *fds);
int psb_send_fd(int channel, int fd, unsigned long tag);
long psb_host_syscall(long nr, long a0, long a1, long a2, long a3, long a4, long a5);
int psb_report_refused_syscalls(int log_fd, const char *before, const char *names, int names_size,
                                int name_count, const char *after, int keep_going);
""")

with open(os.path.join(HERE, "loop.c")) as source:
    ffibuilder.set_source("pysandbox.platform.ptrace._loop", source.read(), extra_compile_args=["-O2"],
                          sources=HOSTCALL_SOURCES, depends=HOSTCALL_DEPENDS, include_dirs=[PLATFORM])

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=ROOT, verbose=False)
