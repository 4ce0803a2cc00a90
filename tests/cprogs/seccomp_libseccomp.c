/* A libseccomp user: libseccomp probes what the kernel offers (its API level), builds a filter
 * with an argument comparison and a user-notification rule, and loads it. Run natively and
 * under pysandbox, the two must print the same. libseccomp.so.2 is opened with dlopen (Debian
 * installs the library without its headers); exit 77 without it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seccomp_show.h"

#define SCMP_ACT_ALLOW 0x7fff0000U
#define SCMP_ACT_ERRNO(x) (0x00050000U | ((x) & 0x0000ffffU))
#define SCMP_ACT_KILL_PROCESS 0x80000000U
#define SCMP_ACT_NOTIFY 0x7fc00000U
#define SCMP_CMP_EQ 4

struct scmp_arg_cmp {
    unsigned int arg;
    int op;
    uint64_t datum_a;
    uint64_t datum_b;
};

struct seccomp_data_copy {
    int nr;
    uint32_t arch;
    uint64_t instruction_pointer;
    uint64_t args[6];
};
struct notif {
    uint64_t id;
    uint32_t pid;
    uint32_t flags;
    struct seccomp_data_copy data;
};
struct notif_resp {
    uint64_t id;
    int64_t val;
    int32_t error;
    uint32_t flags;
};

static void *(*scmp_init)(uint32_t);
static int (*scmp_rule_add)(void *, uint32_t, int, unsigned int, ...);
static int (*scmp_load)(void *);
static unsigned (*scmp_api_get)(void);
static int (*scmp_notify_fd)(void *);
static int (*scmp_notify_alloc)(struct notif **, struct notif_resp **);
static int (*scmp_notify_receive)(int, struct notif *);
static int (*scmp_notify_respond)(int, struct notif_resp *);


int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    void *lib = dlopen("libseccomp.so.2", RTLD_NOW);
    if (!lib) {
        printf("no libseccomp.so.2\n");
        return 77;
    }
    scmp_init = dlsym(lib, "seccomp_init");
    scmp_rule_add = dlsym(lib, "seccomp_rule_add");
    scmp_load = dlsym(lib, "seccomp_load");
    scmp_api_get = dlsym(lib, "seccomp_api_get");
    scmp_notify_fd = dlsym(lib, "seccomp_notify_fd");
    scmp_notify_alloc = dlsym(lib, "seccomp_notify_alloc");
    scmp_notify_receive = dlsym(lib, "seccomp_notify_receive");
    scmp_notify_respond = dlsym(lib, "seccomp_notify_respond");

    printf("libseccomp API level: %u\n", scmp_api_get());
    void *ctx = scmp_init(SCMP_ACT_ALLOW);
    printf("rules: %d", scmp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SYS_getpid, 0));
    printf(" %d", scmp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SYS_socket, 1,
                                (struct scmp_arg_cmp){0, SCMP_CMP_EQ, AF_INET, 0}));
    printf(" %d", scmp_rule_add(ctx, SCMP_ACT_KILL_PROCESS, SYS_kexec_load, 0));
    printf(" %d\n", scmp_rule_add(ctx, SCMP_ACT_NOTIFY, SYS_getppid, 0));
    show("seccomp_load", scmp_load(ctx));
    printf("status lines:\n");
    fflush(stdout);
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    while (status && fgets(line, sizeof line, status))
        if (!strncmp(line, "Seccomp", 7))
            fputs(line, stdout);
    show("getpid", syscall(SYS_getpid));
    show("socket(AF_INET)", socket(AF_INET, SOCK_STREAM, 0));
    int unix_socket = socket(AF_UNIX, SOCK_STREAM, 0);
    printf("socket(AF_UNIX) works: %d\n", unix_socket >= 0);
    fflush(stdout);

    int fd = scmp_notify_fd(ctx);
    pid_t child = fork();
    if (child == 0) {
        show("child getppid, answered by the parent", syscall(SYS_getppid));
        _exit(0);
    }
    struct notif *req;
    struct notif_resp *resp;
    scmp_notify_alloc(&req, &resp);
    show("seccomp_notify_receive", scmp_notify_receive(fd, req));
    printf("notified: nr %d from the child: %d\n", req->data.nr, req->pid == (uint32_t)child);
    resp->id = req->id;
    resp->val = 1234;
    resp->error = 0;
    resp->flags = 0;
    long responded = scmp_notify_respond(fd, resp);
    int wstatus;
    waitpid(child, &wstatus, 0);
    show("seccomp_notify_respond", responded);
    printf("child exited %d\n", WEXITSTATUS(wstatus));
    return 0;
}
