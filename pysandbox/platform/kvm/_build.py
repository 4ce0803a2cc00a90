"""cffi (API mode) builder for the KVM platform's vCPU loop in vcpu.c."""
import os

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
PLATFORM = os.path.dirname(HERE)
ROOT = os.path.dirname(os.path.dirname(PLATFORM))
# hostcall.c, shared with the ptrace module, is compiled into this one too. Its name is relative
# to the repository: setup.py builds from there, and compile() below runs there.
HOSTCALL_SOURCES, HOSTCALL_DEPENDS = ["pysandbox/platform/hostcall.c"], ["pysandbox/platform/hostcall.h"]

ffibuilder = FFI()
ffibuilder.cdef("""
struct user_regs_struct {
    unsigned long r15, r14, r13, r12, rbp, rbx, r11, r10, r9, r8;
    unsigned long rax, rcx, rdx, rsi, rdi, orig_rax, rip, cs, eflags, rsp, ss;
    unsigned long fs_base, gs_base, ds, es, fs, gs;
};
int psk_init(int efd, uint64_t lstar, uint64_t faults, uint64_t iret, int signo);
int psk_vcpu_start(int index, int fd, void *run, void *kstack, uint64_t kstack_va);
int psk_confine_setup(int log_fd, const char *before, const char *names, int names_size, int name_count,
                      const char *after, int keep_going, int data, int status);
int psk_confine(int index, void *code, int count, long test_syscall);
void psk_set_regs(int index, struct user_regs_struct *regs);
void psk_set_cr3(int index, uint64_t cr3);
int psk_resume(int index);
int psk_wait(void);
int psk_resume_wait(int index);
int psk_run_inline(int index);
int psk_take(void);
int psk_wait_event(int epfd, int timeout_ms, int *ready_fds, int max_ready, int *n_ready);
void psk_kick(int index);
int psk_stop(int index);
uint64_t psk_vector(int index);
uint64_t psk_error_code(int index);
uint64_t psk_fault_addr(int index);
uint64_t psk_exit_reason(int index);
uint64_t psk_run_ns(int index);
void psk_reset_run_ns(int index);
void psk_shutdown(void);
void psk_pause_all(void);
void psk_unpause_all(void);
""")

with open(os.path.join(HERE, "vcpu.c")) as source:
    ffibuilder.set_source("pysandbox.platform.kvm._vcpu", source.read(), extra_compile_args=["-O2"],
                          libraries=["pthread"], sources=HOSTCALL_SOURCES, depends=HOSTCALL_DEPENDS,
                          include_dirs=[PLATFORM])

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=ROOT, verbose=False)
