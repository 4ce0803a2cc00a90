/* System V shared memory: shmget(2), shmat(2), shmdt(2), shmctl(2) and /proc/sysvipc/shm.
 * Prints only what is the same on every run (no addresses, times or absolute pids), so the
 * output can be compared line by line with a native run in an IPC namespace of its own
 * (unshare --ipc), where the ids start from 0 as they do in a sandbox.
 * `sysv_shm exec-child FD SHMID` is the image the exec test runs. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096

static void result(const char *label, long rc) {
    if (rc < 0)
        printf("%s: %s\n", label, strerrorname_np(errno));
    else
        printf("%s: %ld\n", label, rc);
}

static void attach_result(const char *label, void *addr) {
    if (addr == (void *)-1)
        printf("%s: %s\n", label, strerrorname_np(errno));
    else
        printf("%s: ok\n", label);
}

static struct shmid_ds stat_of(int id) {
    struct shmid_ds ds;
    memset(&ds, 0xAB, sizeof ds);
    if (shmctl(id, IPC_STAT, &ds) < 0)
        printf("IPC_STAT %d: %s\n", id, strerrorname_np(errno));
    return ds;
}

static void show(const char *label, int id) {
    struct shmid_ds ds = stat_of(id);
    printf("%s: key=%#x mode=%o segsz=%zu nattch=%lu cpid=%s lpid=%s atime=%s dtime=%s ctime=%s uid=%u cuid=%u\n",
           label, ds.shm_perm.__key, ds.shm_perm.mode, ds.shm_segsz, (unsigned long)ds.shm_nattch,
           ds.shm_cpid == getpid() ? "self" : "other",
           ds.shm_lpid == 0 ? "0" : ds.shm_lpid == getpid() ? "self" : "other",
           ds.shm_atime ? "set" : "0", ds.shm_dtime ? "set" : "0", ds.shm_ctime ? "set" : "0",
           ds.shm_perm.uid, ds.shm_perm.cuid);
}

static sigjmp_buf fault_jump;

static void on_fault(int signo) {
    siglongjmp(fault_jump, signo);
}

/* A free, page-aligned range of `length` bytes. */
static char *free_range(size_t length) {
    char *addr = mmap(NULL, length, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(addr, length);
    return addr;
}

static void proc_sysvipc(void) {
    FILE *file = fopen("/proc/sysvipc/shm", "r");
    if (file == NULL) {
        printf("/proc/sysvipc/shm: %s\n", strerrorname_np(errno));
        return;
    }
    char line[512];
    if (fgets(line, sizeof line, file))
        printf("header: %s", line);
    int key, id, cpid, lpid;
    unsigned mode, uid, gid, cuid, cgid;
    unsigned long size, nattch, rss, swap;
    long long atime, dtime, ctime;
    while (fgets(line, sizeof line, file)) {
        if (sscanf(line, "%d %d %o %lu %d %d %lu %u %u %u %u %lld %lld %lld %lu %lu", &key, &id, &mode, &size,
                   &cpid, &lpid, &nattch, &uid, &gid, &cuid, &cgid, &atime, &dtime, &ctime, &rss, &swap) != 16) {
            printf("unparsed: %s", line);
            continue;
        }
        printf("line: key=%d id=%d mode=%o size=%lu cpid=%s lpid=%s nattch=%lu ids=%u,%u,%u,%u times=%d%d%d "
               "rss=%lu swap=%lu width=%zu\n", key, id, mode, size, cpid == getpid() ? "self" : "other",
               lpid == 0 ? "0" : lpid == getpid() ? "self" : "other", nattch, uid, gid, cuid, cgid,
               atime != 0, dtime != 0, ctime != 0, rss, swap, strlen(line));
    }
    fclose(file);
}

static int write_sysctl(const char *name, const char *value) {
    char path[128];
    snprintf(path, sizeof path, "/proc/sys/kernel/%s", name);
    int fd = open(path, O_WRONLY);
    if (fd < 0)
        return -1;
    int rc = write(fd, value, strlen(value));
    close(fd);
    return rc;
}

static void read_sysctl(const char *name) {
    char path[128], value[64] = "";
    snprintf(path, sizeof path, "/proc/sys/kernel/%s", name);
    int fd = open(path, O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, value, sizeof value - 1);
    if (n > 0)
        value[n] = 0;
    printf("%s = %s", name, value);
    if (fd >= 0)
        close(fd);
}

static void getting(void) {
    result("size 0", shmget(IPC_PRIVATE, 0, IPC_CREAT | 0600));
    result("missing key without IPC_CREAT", shmget(0x5150, 100, 0600));
    int keyed = shmget(0x5150, 10000, IPC_CREAT | 0640);
    result("create keyed", keyed);
    result("same key again", shmget(0x5150, 10000, IPC_CREAT | 0640) == keyed);
    result("same key, smaller size", shmget(0x5150, 100, 0) == keyed);
    result("same key, larger size", shmget(0x5150, 10001, 0));
    result("same key, IPC_EXCL", shmget(0x5150, 100, IPC_CREAT | IPC_EXCL | 0600));
    result("same key, larger size and IPC_EXCL", shmget(0x5150, 20000, IPC_CREAT | IPC_EXCL | 0600));
    show("keyed", keyed);
    result("IPC_RMID keyed", shmctl(keyed, IPC_RMID, NULL));
    result("IPC_STAT removed", shmctl(keyed, IPC_STAT, &(struct shmid_ds){0}));
    result("IPC_RMID again", shmctl(keyed, IPC_RMID, NULL));
    result("SHM_HUGETLB", shmget(IPC_PRIVATE, 2 << 20, IPC_CREAT | SHM_HUGETLB | 0600) >= 0 ? 0 : -1);
    result("more than the machine's memory", shmget(IPC_PRIVATE, 1UL << 50, IPC_CREAT | 0600));
    int huge = shmget(IPC_PRIVATE, 1UL << 50, IPC_CREAT | SHM_NORESERVE | 0600);
    result("the same with SHM_NORESERVE", huge >= 0 ? 0 : -1);
    result("attaching it", (long)shmat(huge, NULL, 0));
    shmctl(huge, IPC_RMID, NULL);
    result("more than a file may hold", shmget(IPC_PRIVATE, (1UL << 63) + 4096, IPC_CREAT | SHM_NORESERVE | 0600));
    result("past shmmax", shmget(IPC_PRIVATE, -1UL, IPC_CREAT | 0600));
}

static void attaching(void) {
    int id = shmget(IPC_PRIVATE, 3 * PAGE + 100, IPC_CREAT | 0600);
    show("new", id);
    result("shmat bad id", (long)shmat(id + 1, NULL, 0));
    result("shmat negative id", (long)shmat(-1, NULL, 0));
    result("shmat SHM_REMAP without address", (long)shmat(id, NULL, SHM_REMAP));
    char *first = shmat(id, NULL, 0);
    attach_result("shmat", first);
    strcpy(first, "written through the first attachment");
    strcpy(first + 3 * PAGE + 50, "tail");
    char *second = shmat(id, NULL, SHM_RDONLY);
    attach_result("shmat SHM_RDONLY", second);
    printf("second sees: %s, %s\n", second, second + 3 * PAGE + 50);
    show("attached twice", id);
    result("mprotect read-only attachment writable", mprotect(second, PAGE, PROT_READ | PROT_WRITE));

    signal(SIGSEGV, on_fault);
    int signo = sigsetjmp(fault_jump, 1);
    if (signo == 0) {
        second[1] = 'x';
        printf("write through SHM_RDONLY: no fault\n");
    } else {
        printf("write through SHM_RDONLY: signal %d\n", signo);
    }
    signal(SIGSEGV, SIG_DFL);

    result("shmdt unaligned", shmdt(first + 1));
    result("shmdt not attached", shmdt(first + PAGE));
    result("shmdt second", shmdt(second));
    result("shmdt second again", shmdt(second));
    show("attached once", id);

    /* An attachment split in three by mprotect counts three times; shmdt takes every piece. */
    result("mprotect middle page", mprotect(first + PAGE, PAGE, PROT_READ));
    show("split attachment", id);
    result("shmdt split", shmdt(first));
    show("detached", id);
    printf("first page after shmdt: %s\n", mincore(first, PAGE, (unsigned char[1]){0}) < 0 ?
           strerrorname_np(errno) : "still mapped");

    char *place = free_range(8 * PAGE);
    char *rounded = shmat(id, place + 123, SHM_RND);
    printf("SHM_RND rounds down: %s\n", rounded == place ? "yes" : "no");
    result("unaligned without SHM_RND", (long)shmat(id, place + PAGE + 123, 0));
    result("overlapping an attachment", (long)shmat(id, place + PAGE, 0));
    char *remapped = shmat(id, place + PAGE, SHM_REMAP);
    printf("SHM_REMAP over it: %s\n", remapped == place + PAGE ? "yes" : "no");
    printf("remapped sees: %s\n", remapped);
    show("overlapping attachments", id);
    result("shmdt rounded", shmdt(rounded));
    result("shmdt remapped", shmdt(remapped));
    result("SHM_RND|SHM_REMAP below SHMLBA", (long)shmat(id, (void *)100, SHM_RND | SHM_REMAP));
    result("fixed address too high", (long)shmat(id, (void *)0x7ffffffff000, 0));

    /* Marked for removal while attached: private, still there, still attachable by id. */
    char *kept = shmat(id, NULL, 0);
    result("IPC_RMID while attached", shmctl(id, IPC_RMID, NULL));
    show("marked", id);
    char *again = shmat(id, NULL, 0);
    attach_result("shmat a marked segment", again);
    printf("marked segment still holds: %s\n", again);
    shmdt(kept);
    show("marked, one left", id);
    shmdt(again);
    result("IPC_STAT after the last detach", shmctl(id, IPC_STAT, &(struct shmid_ds){0}));
}

static void sharing(void) {
    /* The child starts before the segment exists: the memory is shared by attaching it, not
     * inherited. */
    int to_child[2], to_parent[2];
    pipe(to_child);
    pipe(to_parent);
    pid_t child = fork();
    if (child == 0) {
        char byte;
        read(to_child[0], &byte, 1);
        int id = shmget(0x5151, 0, 0);
        char *memory = shmat(id, NULL, 0);
        printf("child reads: %s\n", memory + (1 << 20) - 16);
        fflush(stdout);
        strcpy(memory, "from the child");
        shmdt(memory);
        write(to_parent[1], "x", 1);
        _exit(0);
    }
    int id = shmget(0x5151, 1 << 20, IPC_CREAT | 0600);
    char *memory = shmat(id, NULL, 0);
    strcpy(memory + (1 << 20) - 16, "from the parent");
    write(to_child[1], "x", 1);
    char byte;
    read(to_parent[0], &byte, 1);
    printf("parent reads: %s\n", memory);
    waitpid(child, NULL, 0);
    show("after the child", id);

    /* fork inherits the attachment; the child's exit detaches it. */
    child = fork();
    if (child == 0) {
        show("in the forked child", id);
        strcpy(memory, "forked child wrote");
        _exit(0);
    }
    waitpid(child, NULL, 0);
    printf("parent reads: %s\n", memory);
    struct shmid_ds ds = stat_of(id);
    printf("after the fork: nattch=%lu lpid=%s\n", (unsigned long)ds.shm_nattch,
           ds.shm_lpid == child ? "child" : ds.shm_lpid == getpid() ? "self" : "other");
    shmdt(memory);
    shmctl(id, IPC_RMID, NULL);
}

static void exec_detaches(const char *self) {
    int id = shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600);
    int ready[2];
    pipe(ready);
    pid_t child = fork();
    if (child == 0) {
        shmat(id, NULL, 0);
        char fd[16], shmid[16];
        snprintf(fd, sizeof fd, "%d", ready[1]);
        snprintf(shmid, sizeof shmid, "%d", id);
        execl(self, self, "exec-child", fd, shmid, (char *)NULL);
        _exit(127);
    }
    close(ready[1]);
    char byte;
    read(ready[0], &byte, 1);
    show("child after exec", id);
    waitpid(child, NULL, 0);
    shmctl(id, IPC_RMID, NULL);
}

static void controlling(void) {
    int id = shmget(0x5152, 5 * PAGE, IPC_CREAT | 0640);
    char *memory = shmat(id, NULL, 0);
    memory[0] = 1;
    memory[2 * PAGE] = 1;
    struct shmid_ds ds = stat_of(id);
    ds.shm_perm.mode = 0604 | 0170000;
    ds.shm_perm.uid = 1234;
    ds.shm_perm.gid = 5678;
    result("IPC_SET", shmctl(id, IPC_SET, &ds));
    show("after IPC_SET", id);
    ds.shm_perm.uid = -1;
    result("IPC_SET uid -1", shmctl(id, IPC_SET, &ds));
    result("IPC_SET bad buffer", shmctl(id, IPC_SET, (void *)8));
    result("IPC_STAT bad buffer", shmctl(id, IPC_STAT, (void *)8));
    result("unknown command", shmctl(id, 99, &ds));
    result("negative id", shmctl(-1, IPC_STAT, &ds));
    result("negative command", shmctl(id, -1, &ds));

    struct shminfo info;
    memset(&info, 0xAB, sizeof info);
    result("IPC_INFO", shmctl(0, IPC_INFO, (struct shmid_ds *)&info));
    printf("shminfo: shmmax=%lu shmmin=%lu shmmni=%lu shmseg=%lu shmall=%lu\n", info.shmmax, info.shmmin,
           info.shmmni, info.shmseg, info.shmall);
    struct shm_info usage;
    memset(&usage, 0xAB, sizeof usage);
    result("SHM_INFO", shmctl(0, SHM_INFO, (struct shmid_ds *)&usage));
    printf("shm_info: used_ids=%d shm_tot=%lu shm_rss=%lu shm_swp=%lu\n", usage.used_ids, usage.shm_tot,
           usage.shm_rss, usage.shm_swp);
    int index = id % 32768;
    result("SHM_STAT by index is the id", shmctl(index, SHM_STAT, &ds) == id);
    result("SHM_STAT_ANY by index is the id", shmctl(index, SHM_STAT_ANY, &ds) == id);
    result("SHM_STAT of an unused index", shmctl(index + 1, SHM_STAT, &ds));
    result("SHM_LOCK", shmctl(id, SHM_LOCK, NULL));
    show("locked", id);
    result("SHM_UNLOCK", shmctl(id, SHM_UNLOCK, NULL));
    show("unlocked", id);
    proc_sysvipc();

    /* Another user: read and write permission, ownership and SHM_STAT_ANY. */
    pid_t child = fork();
    if (child == 0) {
        setresgid(4321, 4321, 4321);
        setresuid(4321, 4321, 4321);
        result("other user: shmget 0604 for reading", shmget(0x5152, 0, 0004) == id);
        result("other user: shmget for writing", shmget(0x5152, 0, 0002));
        result("other user: shmat SHM_RDONLY", shmat(id, NULL, SHM_RDONLY) == (void *)-1 ? -1 : 0);
        result("other user: shmat read-write", (long)shmat(id, NULL, 0));
        result("other user: IPC_STAT", shmctl(id, IPC_STAT, &ds));
        result("other user: IPC_RMID", shmctl(id, IPC_RMID, NULL));
        result("other user: IPC_SET", shmctl(id, IPC_SET, &ds));
        result("other user: SHM_LOCK", shmctl(id, SHM_LOCK, NULL));
        ds.shm_perm.mode = 0600;
        _exit(0);
    }
    waitpid(child, NULL, 0);
    ds.shm_perm.mode = 0600;
    ds.shm_perm.uid = 0;
    shmctl(id, IPC_SET, &ds);
    child = fork();
    if (child == 0) {
        setresuid(4321, 4321, 4321);
        result("other user, mode 0600: shmget", shmget(0x5152, 0, 0));
        result("other user: SHM_STAT", shmctl(id % 32768, SHM_STAT, &ds));
        result("other user: SHM_STAT_ANY is the id", shmctl(id % 32768, SHM_STAT_ANY, &ds) == id);
        _exit(0);
    }
    waitpid(child, NULL, 0);
    shmdt(memory);
    shmctl(id, IPC_RMID, NULL);
}

static void limits(void) {
    read_sysctl("shmmax");
    read_sysctl("shmall");
    read_sysctl("shmmni");
    read_sysctl("shm_rmid_forced");
    result("shmmax=8192", write_sysctl("shmmax", "8192\n"));
    result("shmget 8192", shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600) >= 0);
    result("shmget 8193", shmget(IPC_PRIVATE, 8193, IPC_CREAT | 0600));
    write_sysctl("shmmax", "18446744073692774399\n");
    result("shmall=2", write_sysctl("shmall", "2\n"));
    result("shmget over shmall", shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600));
    write_sysctl("shmall", "18446744073692774399\n");
    result("shmmni=1", write_sysctl("shmmni", "1\n"));
    result("shmget over shmmni", shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600));
    write_sysctl("shmmni", "4096\n");
    result("shm_rmid_forced=1", write_sysctl("shm_rmid_forced", "1\n"));
    int id = shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600);
    shmdt(shmat(id, NULL, 0));
    result("forced: IPC_STAT after the last detach", shmctl(id, IPC_STAT, &(struct shmid_ds){0}));
    /* With shm_rmid_forced, what a process made and left unattached goes when it exits; what
     * was orphaned before goes when the sysctl is set. */
    pid_t child = fork();
    if (child == 0)
        _exit(shmget(IPC_PRIVATE, PAGE, IPC_CREAT | 0600) < 0);
    waitpid(child, NULL, 0);
    struct shm_info after_exit;
    shmctl(0, SHM_INFO, (struct shmid_ds *)&after_exit);
    printf("forced: segments after the creator's exit: %d\n", after_exit.used_ids);
    write_sysctl("shm_rmid_forced", "0\n");
    child = fork();
    if (child == 0)
        _exit(shmget(0x5153, PAGE, IPC_CREAT | 0600) < 0);
    waitpid(child, NULL, 0);
    result("not forced: the orphan stays", shmget(0x5153, 0, 0) >= 0);
    write_sysctl("shm_rmid_forced", "1\n");
    result("forced again: the orphan goes", shmget(0x5153, 0, 0));
    write_sysctl("shm_rmid_forced", "0\n");
    struct shm_info usage;
    result("SHM_INFO", shmctl(0, SHM_INFO, (struct shmid_ds *)&usage));
    printf("left: used_ids=%d shm_tot=%lu\n", usage.used_ids, usage.shm_tot);
}

/* Segments for util-linux ipcs(1) to list: keyed, private and attached, marked for removal. */
static int for_ipcs(void) {
    shmget(0x1234, 4096, IPC_CREAT | 0640);
    int attached = shmget(IPC_PRIVATE, 10000, IPC_CREAT | 0600);
    char *memory = shmat(attached, NULL, 0);
    memset(memory, 1, 5000);
    int marked = shmget(0x5678, 3 * PAGE, IPC_CREAT | 0666);
    shmat(marked, NULL, SHM_RDONLY);
    shmctl(marked, IPC_RMID, NULL);
    return system("ipcs -m; ipcs -m -l; ipcs -m -u; ipcs -m -c; ipcs -a");
}

/* Message queues and semaphore sets for /proc/sysvipc/msg and sem. */
static int msg_and_sem(void) {
    int queue = msgget(0x42, IPC_CREAT | 0640);
    struct { long type; char text[8]; } message = {1, "hello"};
    msgsnd(queue, &message, 5, 0);
    msgsnd(queue, &message, 3, 0);
    semget(0x43, 3, IPC_CREAT | 0600);
    semget(IPC_PRIVATE, 1, 0600);
    return system("cat /proc/sysvipc/msg /proc/sysvipc/sem");
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "ipcs") == 0)
        return for_ipcs();
    if (argc == 2 && strcmp(argv[1], "msg-sem") == 0)
        return msg_and_sem();
    if (argc == 4 && strcmp(argv[1], "exec-child") == 0) {
        int fd = atoi(argv[2]);
        struct shmid_ds ds;
        shmctl(atoi(argv[3]), IPC_STAT, &ds);
        printf("exec-child sees nattch=%lu\n", (unsigned long)ds.shm_nattch);
        fflush(stdout);
        write(fd, "x", 1);
        return 0;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    getting();
    attaching();
    sharing();
    exec_detaches(argv[0]);
    controlling();
    limits();
    return 0;
}
