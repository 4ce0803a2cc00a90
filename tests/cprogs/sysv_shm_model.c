/* Runs a script of System V shared memory operations read from stdin, one a line, and prints
 * what each returns (no addresses, times or absolute pids), for tests/test_sysv_shm.py's
 * hypothesis model: the same script must print the same natively and in the sandbox.
 *
 *   get KEY PAGES FLAGS     shmget (KEY 0: IPC_PRIVATE; FLAGS in octal), the id is remembered
 *   at SEG FLAGS            shmat of remembered segment SEG at the next free slot of a region
 *                           reserved at the start (so both runs attach at the same places),
 *                           with SHM_REMAP over the reservation; the address is remembered
 *   remap SEG ATT FLAGS     shmat at attachment ATT's address (SHM_REMAP in FLAGS or not)
 *   dt ATT                  shmdt of attachment ATT's address
 *   protect ATT PAGE        mprotect one page of an attachment read-only
 *   unmap ATT PAGE          munmap one page of an attachment
 *   write ATT PAGE BYTE     store a byte (a fault is printed, not taken)
 *   read ATT PAGE           load a byte
 *   rmid SEG / stat SEG     shmctl IPC_RMID / IPC_STAT
 *   fork SEG                a child stats SEG, writes to every attachment and exits
 *   info                    SHM_INFO and /proc/sysvipc/shm's line count
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096
#define MAX 64
#define SLOT_PAGES 8

static int segments[MAX], segment_count;
static char *attachments[MAX];
static int attachment_count;
static sigjmp_buf fault_jump;
static char *region;

static void on_fault(int signo) {
    siglongjmp(fault_jump, signo);
}

static void outcome(const char *op, long rc) {
    if (rc < 0)
        printf("%s: %s\n", op, strerrorname_np(errno));
    else
        printf("%s: %ld\n", op, rc);
}

static int segment(int n) {
    return segment_count ? segments[n % segment_count] : -1;
}

static char *attachment(int n) {
    return attachment_count ? attachments[n % attachment_count] : NULL;
}

static void stat_segment(const char *who, int id) {
    struct shmid_ds ds;
    if (shmctl(id, IPC_STAT, &ds) < 0) {
        printf("%sstat: %s\n", who, strerrorname_np(errno));
        return;
    }
    printf("%sstat: key=%d mode=%o pages=%zu nattch=%lu lpid=%s dtime=%d\n", who, ds.shm_perm.__key,
           ds.shm_perm.mode, ds.shm_segsz / PAGE, (unsigned long)ds.shm_nattch,
           ds.shm_lpid == 0 ? "0" : ds.shm_lpid == getpid() ? "self" : "other", ds.shm_dtime != 0);
}

static void touch(const char *op, char *at, int store, int byte) {
    if (at == NULL) {
        printf("%s: no attachment\n", op);
        return;
    }
    int signo = sigsetjmp(fault_jump, 1);
    if (signo) {
        printf("%s: signal %d\n", op, signo);
        return;
    }
    if (store) {
        *(volatile char *)at = byte;
        printf("%s: ok\n", op);
    } else {
        printf("%s: %d\n", op, *(volatile char *)at);
    }
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa = {.sa_handler = on_fault, .sa_flags = SA_NODEFER};
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    region = mmap(NULL, (size_t)MAX * SLOT_PAGES * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char line[256], op[32];
    int a, b, c;
    while (fgets(line, sizeof line, stdin)) {
        int fields = sscanf(line, "%31s %d %d %o", op, &a, &b, &c);
        if (fields < 1)
            continue;
        line[strcspn(line, "\n")] = 0;
        if (!strcmp(op, "get")) {
            sscanf(line, "%*s %d %d %o", &a, &b, &c);
            int id = shmget(a, (size_t)b * PAGE, c);
            outcome(line, id < 0 ? -1 : segment_count);
            if (id >= 0 && segment_count < MAX)
                segments[segment_count++] = id;
        } else if (!strcmp(op, "at") || !strcmp(op, "remap")) {
            char *where = NULL;
            int flags;
            if (!strcmp(op, "at")) {
                sscanf(line, "%*s %d %o", &a, &flags);
                if (attachment_count >= MAX) {
                    printf("%s: full\n", line);
                    continue;
                }
                where = region + (long)attachment_count * SLOT_PAGES * PAGE;
                flags |= SHM_REMAP;
            } else {
                sscanf(line, "%*s %d %d %o", &a, &b, &flags);
                where = attachment(b);
                if (where == NULL)
                    where = (char *)1;  /* nothing to land on: an unaligned address */
            }
            char *at = shmat(segment(a), where, flags);
            outcome(line, at == (void *)-1 ? -1 : attachment_count);
            if (at != (void *)-1 && attachment_count < MAX)
                attachments[attachment_count++] = at;
        } else if (!strcmp(op, "dt")) {
            char *at = attachment(a);
            outcome(line, at ? shmdt(at) : -2);
        } else if (!strcmp(op, "protect") || !strcmp(op, "unmap")) {
            char *at = attachment(a);
            if (at == NULL) {
                printf("%s: no attachment\n", line);
                continue;
            }
            at += (long)b * PAGE;
            outcome(line, !strcmp(op, "protect") ? mprotect(at, PAGE, PROT_READ) : munmap(at, PAGE));
        } else if (!strcmp(op, "write")) {
            char *at = attachment(a);
            touch(line, at ? at + (long)b * PAGE : NULL, 1, c);
        } else if (!strcmp(op, "read")) {
            char *at = attachment(a);
            touch(line, at ? at + (long)b * PAGE : NULL, 0, 0);
        } else if (!strcmp(op, "rmid")) {
            outcome(line, shmctl(segment(a), IPC_RMID, NULL));
        } else if (!strcmp(op, "stat")) {
            printf("%s: ", line);
            stat_segment("", segment(a));
        } else if (!strcmp(op, "fork")) {
            printf("%s\n", line);
            pid_t child = fork();
            if (child == 0) {
                stat_segment("  child ", segment(a));
                for (int n = 0; n < attachment_count; n++) {
                    char label[32];
                    snprintf(label, sizeof label, "  child write %d", n);
                    touch(label, attachments[n], 1, 'c');
                }
                _exit(0);
            }
            waitpid(child, NULL, 0);
        } else if (!strcmp(op, "info")) {
            struct shm_info usage;
            long rc = shmctl(0, SHM_INFO, (struct shmid_ds *)&usage);
            FILE *file = fopen("/proc/sysvipc/shm", "r");
            int lines = 0;
            char text[512];
            while (file && fgets(text, sizeof text, file))
                lines++;
            if (file)
                fclose(file);
            printf("info: max index %ld used_ids=%d shm_tot=%lu shm_rss=%lu proc lines=%d\n", rc, usage.used_ids,
                   usage.shm_tot, usage.shm_rss, lines);
        } else {
            printf("%s: unknown\n", line);
        }
    }
    return 0;
}
