/* UTS and IPC namespaces: unshare(2), clone(2) and setns(2) with CLONE_NEWUTS and CLONE_NEWIPC,
 * /proc/PID/ns/{uts,ipc}, and what each namespace holds (hostname and domainname; SysV message
 * queues, semaphores, shared memory, POSIX message queues and the IPC sysctls). Prints nothing
 * that differs between runs, so a native run (as root, itself inside unshare -u -i) and a
 * sandboxed one must print the same. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

static void result(const char *label, long rc) {
    if (rc < 0)
        printf("%s: %s\n", label, strerrorname_np(errno));
    else
        printf("%s: %ld\n", label, rc);
}

static void names(const char *label) {
    struct utsname u;
    uname(&u);
    char host[80] = "", domain[80] = "";
    gethostname(host, sizeof host);
    getdomainname(domain, sizeof domain);
    int fd = open("/proc/sys/kernel/hostname", O_RDONLY);
    char sysctl[80] = "";
    ssize_t n = read(fd, sysctl, sizeof sysctl - 1);
    if (n > 0)
        sysctl[n - 1] = 0;
    close(fd);
    printf("%s: uname %s/%s gethostname %s getdomainname %s sysctl %s\n", label, u.nodename, u.domainname, host,
           domain, sysctl);
}

static void ns_link(const char *kind, char *out, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/ns/%s", kind);
    ssize_t n = readlink(path, out, size - 1);
    out[n < 0 ? 0 : n] = 0;
}

static void compare_link(const char *kind, const char *before) {
    char now[64];
    ns_link(kind, now, sizeof now);
    printf("%s link %s (%s form)\n", kind, strcmp(now, before) ? "changed" : "unchanged",
           strncmp(now, kind, strlen(kind)) == 0 && now[strlen(kind)] == ':' && now[strlen(kind) + 1] == '[' ?
           "kind:[inode]" : now);
}

static void ipc_objects(const char *label, int shmid, int msqid) {
    struct shmid_ds shm;
    struct msqid_ds msg;
    mqd_t mq = mq_open("/nsqueue", O_RDONLY);
    int mq_errno = errno;
    int shm_ok = shmctl(shmid, IPC_STAT, &shm);
    int shm_errno = errno;
    int msg_ok = msgctl(msqid, IPC_STAT, &msg);
    int msg_errno = errno;
    printf("%s: shm by key %s, shm by id %s, msg by key %s, msg by id %s, sem by key %s, mqueue %s\n", label,
           shmget(0x4e53, 0, 0) >= 0 ? "found" : strerrorname_np(errno),
           shm_ok == 0 ? "found" : strerrorname_np(shm_errno),
           msgget(0x4e53, 0) >= 0 ? "found" : strerrorname_np(errno),
           msg_ok == 0 ? "found" : strerrorname_np(msg_errno),
           semget(0x4e53, 0, 0) >= 0 ? "found" : strerrorname_np(errno),
           mq == (mqd_t)-1 ? strerrorname_np(mq_errno) : "found");
    if (mq != (mqd_t)-1)
        mq_close(mq);
    FILE *file = fopen("/proc/sysvipc/shm", "r");
    char line[512];
    int lines = 0;
    while (file && fgets(line, sizeof line, file))
        lines++;
    if (file)
        fclose(file);
    printf("%s: /proc/sysvipc/shm has %d segment(s)\n", label, lines - 1);
}

static void sysctl(const char *path, const char *value) {
    if (value) {
        int fd = open(path, O_WRONLY);
        write(fd, value, strlen(value));
        close(fd);
    }
    char text[64] = "";
    int fd = open(path, O_RDONLY);
    ssize_t n = read(fd, text, sizeof text - 1);
    if (n > 0)
        text[n - 1] = 0;
    close(fd);
    printf("%s = %s\n", path, text);
}

static char child_stack[1 << 16];

static int clone_child(void *arg) {
    (void)arg;
    names("clone(CLONE_NEWUTS) child before");
    sethostname("cloned", 6);
    names("clone(CLONE_NEWUTS) child after");
    printf("clone(CLONE_NEWIPC) child: shm by key %s\n", shmget(0x4e53, 0, 0) >= 0 ? "found" : strerrorname_np(errno));
    return 0;
}

static void uts(void) {
    char original[64];
    ns_link("uts", original, sizeof original);
    int initial = open("/proc/self/ns/uts", O_RDONLY);
    result("open /proc/self/ns/uts", initial >= 0 ? 0 : -1);
    result("sethostname", sethostname("first", 5));
    result("setdomainname", setdomainname("first.domain", 12));
    names("first namespace");

    result("unshare(CLONE_NEWUTS)", unshare(CLONE_NEWUTS));
    compare_link("uts", original);
    names("new namespace, copied names");
    sethostname("second", 6);
    setdomainname("second.domain", 13);
    sysctl("/proc/sys/kernel/domainname", "written.domain\n");
    names("new namespace, changed");
    int second = open("/proc/self/ns/uts", O_RDONLY);

    result("setns(uts, CLONE_NEWIPC)", setns(initial, CLONE_NEWIPC));
    result("setns(uts, CLONE_NEWNET)", setns(initial, CLONE_NEWNET));
    result("setns(uts, CLONE_NEWUTS)", setns(initial, CLONE_NEWUTS));
    compare_link("uts", original);
    names("back in the first");
    result("setns(uts, 0)", setns(second, 0));
    names("in the second again");
    result("setns(not a namespace)", setns(0, 0));
    setns(initial, 0);

    pid_t child = clone(clone_child, child_stack + sizeof child_stack, CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD, NULL);
    int status = -1;
    waitpid(child, &status, 0);
    result("clone(CLONE_NEWUTS|CLONE_NEWIPC) child's status", child > 0 ? status : -1);
    names("parent after the clone");
    errno = 0;
    result("clone(CLONE_NEWIPC|CLONE_SYSVSEM)",
           clone(clone_child, child_stack + sizeof child_stack, CLONE_NEWIPC | CLONE_SYSVSEM | SIGCHLD, NULL));

    /* Without CAP_SYS_ADMIN: no new namespace, no setns, no sethostname. */
    child = fork();
    if (child == 0) {
        setresuid(4321, 4321, 4321);
        result("unprivileged unshare(CLONE_NEWUTS)", unshare(CLONE_NEWUTS));
        result("unprivileged unshare(CLONE_NEWIPC)", unshare(CLONE_NEWIPC));
        result("unprivileged setns(uts)", setns(second, CLONE_NEWUTS));
        result("unprivileged sethostname", sethostname("x", 1));
        _exit(0);
    }
    waitpid(child, NULL, 0);
    close(initial);
    close(second);
}

static void ipc(void) {
    char original[64];
    ns_link("ipc", original, sizeof original);
    int initial = open("/proc/self/ns/ipc", O_RDONLY);
    int shmid = shmget(0x4e53, 4096, IPC_CREAT | 0600);
    int msqid = msgget(0x4e53, IPC_CREAT | 0600);
    int semid = semget(0x4e53, 1, IPC_CREAT | 0600);
    struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 16};
    mqd_t mq = mq_open("/nsqueue", O_CREAT | O_RDWR, 0600, &attr);
    result("objects made", shmid >= 0 && msqid >= 0 && semid >= 0 && mq != (mqd_t)-1);
    char *shared = shmat(shmid, NULL, 0);
    strcpy(shared, "kept across unshare");
    ipc_objects("first namespace", shmid, msqid);
    sysctl("/proc/sys/kernel/shmmni", "100\n");
    sysctl("/proc/sys/fs/mqueue/msg_max", "20\n");

    /* Taking a semaphore with SEM_UNDO: leaving the namespace applies the undo. */
    struct sembuf up = {0, 1, SEM_UNDO};
    semop(semid, &up, 1);
    result("semaphore before unshare", semctl(semid, 0, GETVAL));

    result("unshare(CLONE_NEWIPC)", unshare(CLONE_NEWIPC));
    compare_link("ipc", original);
    ipc_objects("new namespace", shmid, msqid);
    printf("attachment still reads: %s\n", shared);
    sysctl("/proc/sys/kernel/shmmni", NULL);
    sysctl("/proc/sys/fs/mqueue/msg_max", NULL);
    sysctl("/proc/sys/kernel/shmmni", "7\n");
    int own = shmget(0x4e53, 8192, IPC_CREAT | 0600);
    result("own segment with the same key", own);
    mqd_t own_queue = mq_open("/nsqueue", O_CREAT | O_RDWR, 0600, &attr);
    result("own queue with the same name", own_queue == (mqd_t)-1 ? -1 : 0);
    ipc_objects("new namespace with its own", own, msqid);

    /* The mqueue filesystem mounted in the new namespace shows its queues. */
    unshare(CLONE_NEWNS);
    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    result("mount mqueue", mount("mqueue", "/mnt", "mqueue", 0, NULL));
    struct stat st;
    result("queue file in the new namespace's mqueue", stat("/mnt/nsqueue", &st));
    umount("/mnt");

    int fresh = open("/proc/self/ns/ipc", O_RDONLY);
    result("setns(ipc, CLONE_NEWUTS)", setns(initial, CLONE_NEWUTS));
    result("setns(ipc, CLONE_NEWIPC)", setns(initial, CLONE_NEWIPC));
    compare_link("ipc", original);
    ipc_objects("back in the first", shmid, msqid);
    sysctl("/proc/sys/kernel/shmmni", NULL);
    result("semaphore after the undo", semctl(semid, 0, GETVAL));
    setns(fresh, CLONE_NEWIPC);
    result("in the second again: own segment by key", shmget(0x4e53, 0, 0) == own);
    shmctl(own, IPC_RMID, NULL);
    mq_unlink("/nsqueue");
    setns(initial, 0);
    shmdt(shared);
    shmctl(shmid, IPC_RMID, NULL);
    msgctl(msqid, IPC_RMID, NULL);
    semctl(semid, 0, IPC_RMID);
    mq_unlink("/nsqueue");
    sysctl("/proc/sys/kernel/shmmni", "4096\n");
    sysctl("/proc/sys/fs/mqueue/msg_max", "10\n");
    close(initial);
    close(fresh);
}

/* setns(2) with a pidfd (Linux 5.8+): the kinds asked for, all at once. */
static void by_pidfd(void) {
    int ready[2];
    pipe(ready);
    pid_t child = fork();
    if (child == 0) {
        unshare(CLONE_NEWUTS | CLONE_NEWIPC);
        sethostname("by-pidfd", 8);
        shmget(0x4e54, 4096, IPC_CREAT | 0600);
        write(ready[1], "x", 1);
        pause();
        _exit(0);
    }
    char byte;
    read(ready[0], &byte, 1);
    int pidfd = syscall(SYS_pidfd_open, child, 0);
    int initial = open("/proc/self/ns/uts", O_RDONLY);
    result("pidfd: no kinds", setns(pidfd, 0));
    result("pidfd: CLONE_NEWUSER (its own)", setns(pidfd, CLONE_NEWUSER));
    result("pidfd: CLONE_VM", setns(pidfd, CLONE_VM));
    result("pidfd: pid, net, cgroup (the same)", setns(pidfd, CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP));
    names("pidfd: after joining the same ones");
    pid_t other = fork();
    if (other == 0) {
        setresuid(4321, 4321, 4321);
        result("pidfd: another user's process", setns(pidfd, CLONE_NEWUTS));
        _exit(0);
    }
    waitpid(other, NULL, 0);
    result("pidfd: CLONE_NEWUTS|CLONE_NEWIPC", setns(pidfd, CLONE_NEWUTS | CLONE_NEWIPC));
    names("pidfd: joined");
    result("pidfd: its segment by key", shmget(0x4e54, 0, 0) >= 0 ? 0 : -1);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    result("pidfd: a process gone", setns(pidfd, CLONE_NEWUTS));
    setns(initial, 0);
    names("pidfd: back");
    close(initial);
    close(pidfd);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    uts();
    ipc();
    by_pidfd();
    return 0;
}
