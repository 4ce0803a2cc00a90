/* kvm_faults KIND: one CPU fault, unhandled, so that the exit status shows the signal.
 * KIND: rodata (write to read-only memory), jump (call an unmapped address),
 * ud2 (invalid instruction), int3, div0, exec_nx (jump into a non-executable page),
 * out and in (port I/O on the port the KVM platform's syscall stub uses: still a #GP). */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

static const char message[] = "read-only";

int main(int argc, char **argv)
{
    const char *kind = argc > 1 ? argv[1] : "";
    printf("%s\n", kind);
    fflush(stdout);
    if (!strcmp(kind, "rodata"))
        *(volatile char *)message = 'x';
    else if (!strcmp(kind, "jump"))
        ((void (*)(void))0xdead000)();
    else if (!strcmp(kind, "ud2"))
        __asm__ volatile("ud2");
    else if (!strcmp(kind, "int3"))
        __asm__ volatile("int3");
    else if (!strcmp(kind, "div0"))
        __asm__ volatile("xor %%ecx, %%ecx; mov $7, %%eax; xor %%edx, %%edx; div %%ecx" ::: "eax", "ecx", "edx");
    else if (!strcmp(kind, "out"))
        __asm__ volatile("mov $60, %%eax; outb %%al, $0x10" ::: "eax");
    else if (!strcmp(kind, "in"))
        __asm__ volatile("inb $0x10, %%al" ::: "eax");
    else if (!strcmp(kind, "exec_nx")) {
        unsigned char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        page[0] = 0xc3;
        ((void (*)(void))page)();
    }
    return 0;
}
