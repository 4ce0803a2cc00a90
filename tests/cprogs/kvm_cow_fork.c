/* kvm_cow_fork: private memory across fork is each process's own, whoever writes first.
 * A parent fills PAGES pages, forks; child and parent take turns writing to alternate pages
 * (over a pipe) and check what they see; a thread of the parent writes after the fork and
 * the parent's main thread must see it; a grandchild forked from the child sees the child's
 * memory as it was at that fork; a large read(2) from a file (argv[1]) into memory shared since
 * the fork lands in the reader's copy only. Prints one line per check; exits 0 when all hold. */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGES 1024
#define PAGE 4096
#define READ_SIZE (512 * 1024)     /* large enough for the sentry's direct read from a host file */

static volatile uint64_t *buffer;

static uint64_t word(int page) { return buffer[page * (PAGE / 8)]; }
static void set_word(int page, uint64_t value) { buffer[page * (PAGE / 8)] = value; }

static int count_matching(int parity, uint64_t base)
{
    int n = 0;
    for (int page = parity; page < PAGES; page += 2)
        n += word(page) == base + page;
    return n;
}

static void *thread_write(void *arg)
{
    (void)arg;
    set_word(3, 0x7777);
    return NULL;
}

/* In a child: read(2) READ_SIZE bytes of `path` into `target` (shared with the parent since the
 * fork) and into memory of its own; 0 when both reads got the same bytes. */
static int read_into_shared(const char *path, char *target)
{
    char *own = malloc(READ_SIZE);
    int fd = open(path, O_RDONLY);
    if (own == NULL || fd < 0 || read(fd, target, READ_SIZE) != READ_SIZE
        || pread(fd, own, READ_SIZE, 0) != READ_SIZE)
        return 2;
    return memcmp(own, target, READ_SIZE) != 0;
}

int main(int argc, char **argv)
{
    int to_child[2], to_parent[2];
    char token;
    if (argc < 2)
        return 2;
    buffer = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buffer == MAP_FAILED || pipe(to_child) || pipe(to_parent))
        return 2;
    for (int page = 0; page < PAGES; page++)
        set_word(page, 1000 + page);
    fflush(stdout);
    pid_t child = fork();
    if (child < 0)
        return 2;
    if (child == 0) {
        int before = count_matching(0, 1000) + count_matching(1, 1000);
        for (int page = 0; page < PAGES; page += 2)
            set_word(page, 5000 + page);
        if (write(to_parent[1], "c", 1) != 1 || read(to_child[0], &token, 1) != 1)
            _exit(3);
        int own = count_matching(0, 5000), untouched = count_matching(1, 1000);
        pid_t grandchild = fork();
        if (grandchild == 0) {
            int seen = count_matching(0, 5000);
            for (int page = 0; page < PAGES; page += 2)
                set_word(page, 9000 + page);
            _exit(seen == PAGES / 2 ? 0 : 1);
        }
        int status;
        waitpid(grandchild, &status, 0);
        int kept = count_matching(0, 5000);
        printf("child: saw the parent's pages %d/%d; its own writes %d/%d; the parent's later writes "
               "unseen %d/%d; grandchild saw the snapshot %s, its writes unseen %d/%d\n",
               before, PAGES, own, PAGES / 2, untouched, PAGES / 2,
               WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "yes" : "no", kept, PAGES / 2);
        fflush(stdout);
        _exit(before == PAGES && own == PAGES / 2 && untouched == PAGES / 2 && kept == PAGES / 2 ? 0 : 1);
    }
    if (read(to_parent[0], &token, 1) != 1)
        return 2;
    int unchanged = count_matching(0, 1000) + count_matching(1, 1000);
    for (int page = 1; page < PAGES; page += 2)
        set_word(page, 7000 + page);
    pthread_t thread;
    pthread_create(&thread, NULL, thread_write, NULL);
    pthread_join(thread, NULL);
    if (write(to_child[1], "p", 1) != 1)
        return 2;
    int status;
    waitpid(child, &status, 0);
    int own = count_matching(1, 7000);            /* all odd pages but 3, which holds the thread's write */
    printf("parent: the child's writes unseen %d/%d; its own writes %d/%d; its thread's write seen %s; "
           "child exit %d\n", unchanged, PAGES, own, PAGES / 2 - 1, word(3) == 0x7777 ? "yes" : "no",
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    char *shared = malloc(READ_SIZE);
    memset(shared, 'A', READ_SIZE);
    pid_t reader = fork();
    if (reader == 0)
        _exit(read_into_shared(argv[1], shared));
    int read_status;
    waitpid(reader, &read_status, 0);
    int kept = 0;
    for (int i = 0; i < READ_SIZE; i++)
        kept += shared[i] == 'A';
    printf("read(2) into memory shared since the fork: the child got the file %s, the parent kept its "
           "bytes %d/%d\n", WIFEXITED(read_status) && WEXITSTATUS(read_status) == 0 ? "yes" : "no", kept,
           READ_SIZE);
    return unchanged == PAGES && own == PAGES / 2 - 1 && word(3) == 0x7777 && WIFEXITED(status)
           && WEXITSTATUS(status) == 0 && WIFEXITED(read_status) && WEXITSTATUS(read_status) == 0
           && kept == READ_SIZE ? 0 : 1;
}
