/* seccomp_getppid_loop N RULES [args|own-args]: install a libseccomp-shaped filter of RULES rules
 * (check arch, load nr, one comparison per denied syscall, allow the rest; with "args", each rule
 * also looks at the call's first argument; with "own-args", the last rule is getppid's own and
 * looks at its first argument, which changes on every call), then make N raw getppid calls.
 * RULES 0: no filter. */
#define _GNU_SOURCE
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 0;
    int rules = argc > 2 ? atoi(argv[2]) : 0;
    int with_args = argc > 3 && !strcmp(argv[3], "args");
    int own_args = argc > 3 && !strcmp(argv[3], "own-args");
    struct sock_filter insns[8 + 4 * 64];
    int i = 0;
    if (rules > 64)
        rules = 64;
    if (rules > 0) {
        insns[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
        insns[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
        insns[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
        for (int r = 0; r < rules; r++) {
            /* syscalls the loop never makes: 200 + r (tkill, time, futex, ...), or getppid itself */
            int nr = own_args && r == rules - 1 ? SYS_getppid : 200 + r;
            insns[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
            if (with_args || nr == SYS_getppid) {
                insns[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 3);
                insns[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]));
                insns[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 12345, 0, 1);
            } else {
                insns[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1);
            }
            insns[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 1);
        }
        insns[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
        struct sock_fprog prog = {.len = i, .filter = insns};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) {
            perror("seccomp");
            return 1;
        }
    }
    long denied = 0;
    for (long k = 0; k < n; k++)
        denied += syscall(SYS_getppid, k + 1) == -1;   /* own-args denies argument 12345 */
    printf("ok %ld %ld denied\n", n, denied);
    return 0;
}
