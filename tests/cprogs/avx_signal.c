/* avx_signal: a signal handler that clobbers the AVX registers must not change the
 * interrupted code's YMM state (the kernel saves the whole XSAVE area in the frame). */
#include <immintrin.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile int handled;

__attribute__((target("avx"))) static void clobber(int sig)
{
    (void)sig;
    __m256 junk = _mm256_set1_ps(-7.0f);
    __asm__ volatile("vmovaps %0, %%ymm0\n\tvmovaps %0, %%ymm1\n\tvmovaps %0, %%ymm15" :: "x"(junk)
                     : "xmm0", "xmm1", "xmm15");
    handled = 1;
}

__attribute__((target("avx"))) int main(void)
{
    if (!__builtin_cpu_supports("avx")) {
        puts("ok (no avx)");
        return 0;
    }
    signal(SIGUSR1, clobber);
    float out[8];
    __asm__ volatile(
        "vbroadcastss %[one], %%ymm15\n\t"
        "mov $62, %%eax\n\t"            /* kill(getpid(), SIGUSR1) through raw syscalls */
        "mov %[pid], %%edi\n\t"
        "mov $10, %%esi\n\t"
        "syscall\n\t"
        "vmovups %%ymm15, %[out]\n\t"
        : [out] "=m"(out)
        : [one] "m"((float){1.5f}), [pid] "r"(getpid())
        : "rax", "rdi", "rsi", "rcx", "r11", "xmm15", "memory");
    int intact = 1;
    for (int i = 0; i < 8; i++) intact &= out[i] == 1.5f;
    printf("handled %d, ymm15 %s\n", handled, intact ? "intact" : "clobbered");
    return !intact;
}
