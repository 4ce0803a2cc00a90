#define _GNU_SOURCE
/* mmap(2), munmap(2), mprotect(2), mremap(2), madvise(2) and brk(2): results,
 * errors, contents, and the faults that follow (SIGSEGV with si_code and
 * si_addr, caught with sigsetjmp). Addresses are printed only as relations. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096L

static sigjmp_buf fault_jump;
static volatile int fault_code;
static void *volatile fault_addr;

static void on_fault(int signo, siginfo_t *info, void *context)
{
    (void)context;
    fault_code = info->si_code;
    fault_addr = info->si_addr;
    siglongjmp(fault_jump, signo);
}

static const char *code_name(int code)
{
    return code == SEGV_MAPERR ? "SEGV_MAPERR" : code == SEGV_ACCERR ? "SEGV_ACCERR/BUS_ADRERR" : "other";
}

/* Touch `addr` (read or write) and say what happened. Faults anywhere else stay fatal. */
static void probe(const char *what, volatile char *addr, int write)
{
    struct sigaction catch = {.sa_sigaction = on_fault, .sa_flags = SA_SIGINFO | SA_NODEFER};
    int signo;

    sigaction(SIGSEGV, &catch, NULL);
    sigaction(SIGBUS, &catch, NULL);
    signo = sigsetjmp(fault_jump, 1);
    if (signo == 0) {
        if (write)
            *addr = 1;
        else
            (void)*addr;
        printf("%s: no fault\n", what);
    } else {
        printf("%s: signal %d %s si_addr is the address: %s\n", what, signo, code_name(fault_code),
               fault_addr == (void *)addr ? "yes" : "no");
    }
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
}

static int is_mapped(void *addr)
{
    return msync(addr, PAGE, MS_ASYNC) == 0;
}

static void show_errno(const char *what, long ret)
{
    if (ret == -1)
        printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else
        printf("%s: succeeded\n", what);
}

static void show_map(const char *what, void *ret)
{
    show_errno(what, ret == MAP_FAILED ? -1 : 0);
    if (ret != MAP_FAILED)
        munmap(ret, PAGE);
}

static char *anon(long length, int prot)
{
    return mmap(NULL, length, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static const char *file_path;

static int make_file(void)
{
    int fd = open(file_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    char page[PAGE];
    memset(page, 'f', sizeof page);
    write(fd, page, sizeof page);
    write(fd, "second page", 11);
    return fd;
}

static void mmap_errors(int fd)
{
    show_map("length 0", mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    show_map("neither MAP_PRIVATE nor MAP_SHARED", mmap(NULL, PAGE, PROT_READ, MAP_ANONYMOUS, -1, 0));
    show_map("unaligned offset", mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, 100));
    show_map("unaligned offset, bad fd", mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, 12345, 100));
    show_map("bad fd", mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, 12345, 0));
    show_map("MAP_FIXED at an unaligned address", mmap((void *)0x10000123, PAGE, PROT_READ,
                                                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0));
    show_map("anonymous MAP_SHARED_VALIDATE", mmap(NULL, PAGE, PROT_READ, MAP_SHARED_VALIDATE | MAP_ANONYMOUS, -1, 0));
    show_map("file MAP_SHARED_VALIDATE", mmap(NULL, PAGE, PROT_READ, MAP_SHARED_VALIDATE, fd, 0));
    show_map("file MAP_SHARED_VALIDATE with an unknown flag",
             mmap(NULL, PAGE, PROT_READ, MAP_SHARED_VALIDATE | 0x800000, fd, 0));
    show_map("file MAP_SHARED with an unknown flag", mmap(NULL, PAGE, PROT_READ, MAP_SHARED | 0x800000, fd, 0));
    show_errno("munmap beyond the address space", munmap((void *)0x7ffffffff000, PAGE));
    int wronly = open(file_path, O_WRONLY);
    show_map("file opened O_WRONLY", mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, wronly, 0));
    close(wronly);
    int rdonly = open(file_path, O_RDONLY);
    show_map("MAP_SHARED PROT_WRITE on an O_RDONLY file",
             mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, rdonly, 0));
    show_map("MAP_PRIVATE PROT_WRITE on an O_RDONLY file",
             mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, rdonly, 0));
    close(rdonly);
    show_map("a directory", mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, open("/", O_RDONLY), 0));
}

static void mmap_placement(void)
{
    char *hint = (char *)0x100000000000L;
    char *got = mmap(hint, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("free hint honoured: %s\n", got == hint ? "yes" : "no");
    char *again = mmap(hint, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("taken hint: elsewhere, old mapping kept: %s\n", again != hint && again != MAP_FAILED ? "yes" : "no");
    munmap(again, PAGE);

    char *unaligned = mmap(hint + 2 * PAGE + 5, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("unaligned hint rounded down: %s\n", unaligned == hint + 2 * PAGE ? "yes" : "no");
    munmap(unaligned, PAGE);

    char *noreplace = mmap(hint, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    printf("MAP_FIXED_NOREPLACE over a mapping: %s\n", noreplace == MAP_FAILED ? strerrorname_np(errno) : "mapped");
    noreplace = mmap(hint - PAGE, 2 * PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    printf("MAP_FIXED_NOREPLACE overlapping partly: %s\n", noreplace == MAP_FAILED ? strerrorname_np(errno) : "mapped");
    noreplace = mmap(hint + PAGE, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    printf("MAP_FIXED_NOREPLACE on free space: %s\n", noreplace == hint + PAGE ? "at the address" : "elsewhere");
    munmap(noreplace, PAGE);
    munmap(got, PAGE);

    char *three = anon(3 * PAGE, PROT_READ | PROT_WRITE);
    memset(three, 'x', 3 * PAGE);
    char *fixed = mmap(three + PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    printf("MAP_FIXED replaces the middle page: at the address %s, new page zero %s, neighbours kept %s\n",
           fixed == three + PAGE ? "yes" : "no", fixed[0] == 0 && fixed[PAGE - 1] == 0 ? "yes" : "no",
           three[PAGE - 1] == 'x' && three[2 * PAGE] == 'x' ? "yes" : "no");
    munmap(three, 3 * PAGE);
}

static void file_mappings(int fd)
{
    char *map = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    printf("private file mapping: first page from the file %s, second page '%.11s', rest of it zero %s\n",
           map[0] == 'f' && map[PAGE - 1] == 'f' ? "yes" : "no", map + PAGE,
           map[PAGE + 11] == 0 && map[2 * PAGE - 1] == 0 ? "yes" : "no");
    memcpy(map, "written", 7);
    char back[8] = {0};
    pread(fd, back, 7, 0);
    printf("write to the private mapping: visible in memory %s, file unchanged %s\n",
           memcmp(map, "written", 7) == 0 ? "yes" : "no", back[0] == 'f' ? "yes" : "no");
    madvise(map, PAGE, MADV_DONTNEED);
    printf("MADV_DONTNEED on it: back to the file's content %s\n", map[0] == 'f' ? "yes" : "no");
    munmap(map, 2 * PAGE);

    map = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, fd, PAGE);
    printf("offset one page: '%.11s'\n", map);
    munmap(map, PAGE);

    map = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    map[0] = 'm';
    char *target = anon(2 * PAGE, PROT_NONE);
    char *moved = mremap(map, PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, target);
    printf("mremap of a private file mapping, moved and grown: own write kept %s, next page from the file '%.11s'\n",
           moved == target && moved[0] == 'm' && moved[1] == 'f' ? "yes" : "no", moved + PAGE);
    munmap(moved, 2 * PAGE);

    /* A large file the host can map itself. */
    int big = open("/lib/x86_64-linux-gnu/libc.so.6", O_RDONLY);
    char expected[64], *libc = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, big, 0);
    pread(big, expected, sizeof expected, 20 * PAGE);
    libc[0] = 'L';
    target = anon(32 * PAGE, PROT_NONE);
    moved = mremap(libc, 16 * PAGE, 32 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, target);
    printf("mremap of a large private file mapping: own write kept %s, grown part from the file %s\n",
           moved == target && moved[0] == 'L' && moved[1] == 'E' ? "yes" : "no",
           memcmp(moved + 20 * PAGE, expected, sizeof expected) == 0 ? "yes" : "no");
    munmap(moved, 32 * PAGE);
    close(big);
}

static void shared_anonymous(void)
{
    int *shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int *private = (int *)anon(PAGE, PROT_READ | PROT_WRITE);
    int fds[2], status;
    char c;
    pipe(fds);
    *shared = 1;
    *private = 1;
    pid_t pid = fork();
    if (pid == 0) {
        read(fds[0], &c, 1);
        int saw_parent = *shared == 2;
        *shared = 3;
        *private = 3;
        _exit(saw_parent ? 0 : 1);
    }
    *shared = 2;
    write(fds[1], "go", 1);
    waitpid(pid, &status, 0);
    printf("MAP_SHARED|MAP_ANONYMOUS across fork: child saw the parent's write %s, parent sees the child's %s; "
           "private page not shared %s\n",
           WEXITSTATUS(status) == 0 ? "yes" : "no", *shared == 3 ? "yes" : "no", *private == 1 ? "yes" : "no");
    madvise(shared, PAGE, MADV_DONTNEED);
    printf("MADV_DONTNEED on shared anonymous memory keeps it: %s\n", *shared == 3 ? "yes" : "no");
    munmap(shared, PAGE);
    munmap(private, PAGE);
    close(fds[0]);
    close(fds[1]);
}

static void unmap_and_protect(void)
{
    char *map = anon(3 * PAGE, PROT_READ | PROT_WRITE);
    map[0] = map[PAGE] = map[2 * PAGE] = 'a';
    munmap(map + PAGE, PAGE);
    probe("read of an unmapped page", map + PAGE + 8, 0);
    probe("neighbour still mapped", map + 2 * PAGE, 1);
    show_errno("munmap of an unmapped range", munmap(map + PAGE, PAGE));
    show_errno("munmap at an unaligned address", munmap(map + 1, PAGE));
    show_errno("munmap of length 0", munmap(map, 0));

    mprotect(map, PAGE, PROT_READ);
    probe("read of a PROT_READ page", map + 16, 0);
    probe("write to a PROT_READ page", map + 16, 1);
    mprotect(map, PAGE, PROT_NONE);
    probe("read of a PROT_NONE page", map + 32, 0);
    mprotect(map, PAGE, PROT_READ | PROT_WRITE);
    probe("write after PROT_READ|PROT_WRITE again", map + 32, 1);
    printf("content survived the protection changes: %s\n", map[0] == 'a' ? "yes" : "no");
    show_errno("mprotect of an unmapped range", mprotect(map + PAGE, PAGE, PROT_READ));
    show_errno("mprotect of a range with a hole", mprotect(map, 3 * PAGE, PROT_READ));
    probe("  write to the page before the hole", map + 8, 1);
    probe("  write to the page after the hole", map + 2 * PAGE + 8, 1);
    mprotect(map, PAGE, PROT_READ | PROT_WRITE);
    show_errno("mprotect with PROT_SEM", mprotect(map, PAGE, PROT_READ | PROT_WRITE | 0x8));
    show_errno("mprotect of length 0 with a bad prot", mprotect(map, 0, 0x10));
    show_errno("mprotect at an unaligned address", mprotect(map + 1, PAGE, PROT_READ));
    show_errno("mprotect with an unknown bit", mprotect(map, PAGE, 0x10));
    munmap(map, 3 * PAGE);
}

static void remap(void)
{
    char *base = anon(4 * PAGE, PROT_READ | PROT_WRITE);
    munmap(base + 2 * PAGE, 2 * PAGE);
    memset(base, 'r', 2 * PAGE);
    char *grown = mremap(base, 2 * PAGE, 4 * PAGE, 0);
    printf("mremap grow into free space: in place %s, content kept %s, new part zero and writable %s\n",
           grown == base ? "yes" : "no", grown[2 * PAGE - 1] == 'r' ? "yes" : "no",
           grown != MAP_FAILED && grown[3 * PAGE] == 0 && (grown[3 * PAGE] = 1) ? "yes" : "no");

    char *blocker = mmap(base + 4 * PAGE, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    char *stuck = mremap(base, 4 * PAGE, 8 * PAGE, 0);
    printf("mremap grow without MREMAP_MAYMOVE into a mapping: %s\n", stuck == MAP_FAILED ? strerrorname_np(errno) : "grew");
    char *moved = mremap(base, 4 * PAGE, 8 * PAGE, MREMAP_MAYMOVE);
    printf("mremap MREMAP_MAYMOVE: moved %s, content kept %s, old range unmapped %s\n",
           moved != base ? "yes" : "no", moved[0] == 'r' && moved[2 * PAGE - 1] == 'r' ? "yes" : "no",
           !is_mapped(base) ? "yes" : "no");
    munmap(blocker, PAGE);

    char *target = anon(2 * PAGE, PROT_READ);
    char *fixed = mremap(moved, 2 * PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, target);
    printf("mremap MREMAP_FIXED: at the target %s, content kept %s, writable as before %s\n",
           fixed == target ? "yes" : "no", fixed[PAGE] == 'r' ? "yes" : "no",
           fixed != MAP_FAILED && (fixed[0] = 2) == 2 ? "yes" : "no");

    char *shrunk = mremap(fixed, 2 * PAGE, PAGE, 0);
    printf("mremap shrink: in place %s, tail unmapped %s\n", shrunk == fixed ? "yes" : "no",
           !is_mapped(fixed + PAGE) ? "yes" : "no");
    show_errno("mremap MREMAP_FIXED without MREMAP_MAYMOVE", (long)mremap(shrunk, PAGE, PAGE, MREMAP_FIXED, target));
    show_errno("mremap of an unmapped address", (long)mremap(base, PAGE, 2 * PAGE, MREMAP_MAYMOVE));
    show_errno("mremap to new size 0", (long)mremap(shrunk, PAGE, 0, MREMAP_MAYMOVE));

    char *source = anon(PAGE, PROT_READ | PROT_WRITE);
    source[0] = 'k';
    show_errno("mremap MREMAP_DONTUNMAP to an unaligned hint",
               (long)mremap(source, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, source + 4 * PAGE + 1));
    char *kept = mremap(source, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL);
    printf("mremap MREMAP_DONTUNMAP: moved with content %s, old range still mapped and empty %s\n",
           kept != MAP_FAILED && kept != source && kept[0] == 'k' ? "yes" : "no",
           is_mapped(source) && source[0] == 0 ? "yes" : "no");
    show_errno("mremap MREMAP_DONTUNMAP with a size change",
               (long)mremap(kept, PAGE, 2 * PAGE, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, NULL));
    munmap(source, PAGE);
    munmap(kept, PAGE);

    char *shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    char *alias = mremap(shared, 0, PAGE, MREMAP_MAYMOVE);
    shared[1] = 's';
    printf("mremap old_size 0 of shared memory: a second view of it %s\n",
           alias != MAP_FAILED && alias != shared && alias[1] == 's' ? "yes" : "no");
    show_errno("mremap old_size 0 of private memory", (long)mremap(source = anon(PAGE, PROT_READ), 0, PAGE, MREMAP_MAYMOVE));
    munmap(source, PAGE);
    munmap(alias, PAGE);

    char *grow_shared = mremap(shared, PAGE, 3 * PAGE, MREMAP_MAYMOVE);
    printf("mremap growing shared memory: content kept %s\n", grow_shared[1] == 's' ? "yes" : "no");
    probe("  past the end of the shared object", grow_shared + 2 * PAGE, 0);
    munmap(grow_shared, 3 * PAGE);
    munmap(shrunk, PAGE);
    munmap(moved + 2 * PAGE, 6 * PAGE);
}

static char *shared_page(void)
{
    return mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
}

static void dontneed(void)
{
    char *map = anon(3 * PAGE, PROT_READ | PROT_WRITE);
    munmap(map + 2 * PAGE, PAGE);
    memset(map, 'd', 2 * PAGE);
    show_errno("madvise MADV_DONTNEED", madvise(map, PAGE, MADV_DONTNEED));
    printf("private anonymous page zeroed %s, the next one kept %s\n", map[0] == 0 && map[PAGE - 1] == 0 ? "yes" : "no",
           map[PAGE] == 'd' ? "yes" : "no");
    show_errno("madvise on an unmapped range", madvise(map + 2 * PAGE, PAGE, MADV_DONTNEED));
    map[0] = 'd';
    show_errno("madvise MADV_DONTNEED over a hole", madvise(map, 3 * PAGE, MADV_DONTNEED));
    printf("  the mapped part was dropped anyway: %s\n", map[0] == 0 && map[PAGE] == 0 ? "yes" : "no");
    show_errno("madvise MADV_FREE on shared memory", madvise(shared_page(), PAGE, MADV_FREE));
    show_errno("madvise with an unknown advice", madvise(map, PAGE, 12345));
    show_errno("madvise at an unaligned address", madvise(map + 1, PAGE, MADV_DONTNEED));
    munmap(map, 2 * PAGE);
}

static void program_break(void)
{
    char *start = sbrk(0);
    char *old = sbrk(3 * PAGE);
    char *top = sbrk(0);
    printf("sbrk(3 pages) returns the old break %s, break moved by 3 pages %s\n", old == start ? "yes" : "no",
           top == start + 3 * PAGE ? "yes" : "no");
    memset(start, 'b', 3 * PAGE);
    sbrk(-2 * PAGE);
    printf("sbrk(-2 pages): break moved back %s\n", sbrk(0) == start + PAGE ? "yes" : "no");
    uintptr_t first_page_end = ((uintptr_t)start + PAGE + PAGE - 1) & ~(PAGE - 1);
    probe("access above the shrunk break", (char *)first_page_end + PAGE, 0);
    sbrk(2 * PAGE);
    printf("regrown pages come back zero: %s\n", ((char *)first_page_end)[PAGE] == 0 ? "yes" : "no");
    long current = syscall(SYS_brk, 0);
    printf("brk(0) reports the break: %s\n", (char *)current == start + 3 * PAGE ? "yes" : "no");
    printf("brk below the start fails, break unchanged: %s\n",
           syscall(SYS_brk, 4096) == current ? "yes" : "no");
    sbrk(-3 * PAGE);
}

int main(int argc, char **argv)
{
    char path[] = "/tmp/mem_mmap.XXXXXX";

    (void)argc;
    (void)argv;
    setvbuf(stdout, NULL, _IONBF, 0);
    close(mkstemp(path));
    file_path = path;
    int fd = make_file();

    mmap_errors(fd);
    mmap_placement();
    file_mappings(fd);
    shared_anonymous();
    unmap_and_protect();
    remap();
    dontneed();
    program_break();
    close(fd);
    unlink(path);
    return 0;
}
