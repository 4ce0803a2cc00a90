/* A capsh-like probe of the capability model, run natively (as root) and in the sandbox.
 *
 *   caps_probe ops DIR       privilege checks with one capability lowered, then raised again
 *   caps_probe transitions   set*id, setfsuid and execve transitions of the five sets
 *   caps_probe prctl         PR_CAPBSET_*, PR_CAP_AMBIENT, PR_*_KEEPCAPS, PR_*_SECUREBITS, no_new_privs
 *   caps_probe capset        capget/capset headers, versions and EPERM rules
 *   caps_probe report        (after execve) the sets and ids this process has
 *   caps_probe write F TEXT  write TEXT to file F (a /proc/sys file) with BASE, which lacks CAP_NET_ADMIN
 *   caps_probe seq OP...     run the credential operations OP (see run_op) in order, printing each
 *                            result and the state after it; "x" execs the probe on the remaining OPs
 *                            ("X" its set-user-ID root copy, "Y" its set-user/group-ID 2000 copy)
 *
 * Every mode first narrows the process to the same known sets (BASE), so the output does not
 * depend on which capabilities the host gave the test runner. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIT(cap) (1ULL << (cap))
static const uint64_t BASE = BIT(CAP_CHOWN) | BIT(CAP_DAC_OVERRIDE) | BIT(CAP_DAC_READ_SEARCH) | BIT(CAP_FOWNER) |
    BIT(CAP_FSETID) | BIT(CAP_KILL) | BIT(CAP_SETGID) | BIT(CAP_SETUID) | BIT(CAP_SETPCAP) |
    BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_SYS_CHROOT) | BIT(CAP_SYS_ADMIN) | BIT(CAP_SYS_NICE) | BIT(CAP_MKNOD) |
    BIT(CAP_AUDIT_WRITE) | BIT(CAP_SETFCAP) | BIT(CAP_NET_RAW) | BIT(CAP_IPC_OWNER) | BIT(CAP_WAKE_ALARM);

static const char *self_path;

static void result(const char *label, long rc) {
    if (rc < 0)
        printf("%s: %s\n", label, strerrorname_np(errno));
    else
        printf("%s: %ld\n", label, rc);
    fflush(stdout);
}

struct sets { uint64_t effective, permitted, inheritable; };

static int get_sets(struct sets *s) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &header, data) < 0)
        return -1;
    s->effective = data[0].effective | (uint64_t)data[1].effective << 32;
    s->permitted = data[0].permitted | (uint64_t)data[1].permitted << 32;
    s->inheritable = data[0].inheritable | (uint64_t)data[1].inheritable << 32;
    return 0;
}

static long set_sets(uint64_t effective, uint64_t permitted, uint64_t inheritable) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {
        {(uint32_t)effective, (uint32_t)permitted, (uint32_t)inheritable},
        {(uint32_t)(effective >> 32), (uint32_t)(permitted >> 32), (uint32_t)(inheritable >> 32)}};
    return syscall(SYS_capset, &header, data);
}

/* Lower (or raise back) one capability of the effective set. */
static void effective_only(uint64_t effective) {
    struct sets s;
    get_sets(&s);
    if (set_sets(effective, s.permitted, s.inheritable) < 0) {
        perror("capset");
        exit(3);
    }
}

static void show_sets(const char *label) {
    struct sets s;
    if (get_sets(&s) < 0) {
        result(label, -1);
        return;
    }
    printf("%s: eff=%llx prm=%llx inh=%llx\n", label, (unsigned long long)s.effective,
           (unsigned long long)s.permitted, (unsigned long long)s.inheritable);
    fflush(stdout);
}

static void show_status(void) {
    char line[256];
    FILE *status = fopen("/proc/self/status", "r");
    if (!status) {
        perror("/proc/self/status");
        return;
    }
    while (fgets(line, sizeof line, status))
        if (!strncmp(line, "Cap", 3) || !strncmp(line, "NoNewPrivs", 10) || !strncmp(line, "Uid", 3))
            fputs(line, stdout);
    fclose(status);
    fflush(stdout);
}

static void narrow_to_base(void) {
    for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
        if (!(BASE & BIT(cap)) && prctl(PR_CAPBSET_READ, cap) == 1 && prctl(PR_CAPBSET_DROP, cap) < 0) {
            perror("PR_CAPBSET_DROP");
            exit(3);
        }
    if (set_sets(BASE, BASE, 0) < 0) {
        perror("capset to BASE");
        exit(3);
    }
}

/* --- ops: each check once without the capability, and (where harmless natively) once with it --- */
static void ops(const char *dir) {
    char file[512], secret_dir[512], secret[512], node[512], mnt[512];
    snprintf(file, sizeof file, "%s/file", dir);
    snprintf(secret_dir, sizeof secret_dir, "%s/secret", dir);
    snprintf(secret, sizeof secret, "%s/secret/file", dir);
    snprintf(node, sizeof node, "%s/node", dir);
    snprintf(mnt, sizeof mnt, "%s/mnt", dir);
    close(open(file, O_CREAT | O_WRONLY, 0600));
    mkdir(secret_dir, 0700);
    close(open(secret, O_CREAT | O_WRONLY, 0600));
    mkdir(mnt, 0755);

    effective_only(BASE & ~BIT(CAP_CHOWN));
    result("chown without CAP_CHOWN", chown(file, 1234, 1234));
    effective_only(BASE);
    result("chown with CAP_CHOWN", chown(file, 1234, 1234));
    result("chown secret", chown(secret, 1234, 1234) | chown(secret_dir, 1234, 1234));

    effective_only(BASE & ~(BIT(CAP_DAC_OVERRIDE) | BIT(CAP_DAC_READ_SEARCH)));
    result("read other's 0600 without DAC caps", open(file, O_RDONLY));
    result("stat through other's 0700 dir without DAC caps", access(secret, F_OK) == 0 ? 0 : -1);
    struct stat st;
    result("stat through other's 0700 dir (stat)", stat(secret, &st));
    effective_only(BASE & ~BIT(CAP_DAC_OVERRIDE));
    result("read other's 0600 with CAP_DAC_READ_SEARCH", open(file, O_RDONLY) >= 0 ? 0 : -1);
    result("write other's 0600 with CAP_DAC_READ_SEARCH", open(file, O_WRONLY));
    result("stat through other's 0700 dir with CAP_DAC_READ_SEARCH", stat(secret, &st));
    effective_only(BASE);
    result("write other's 0600 with CAP_DAC_OVERRIDE", open(file, O_WRONLY) >= 0 ? 0 : -1);
    result("access(W_OK) with real uid 0", access(file, W_OK));

    effective_only(BASE & ~BIT(CAP_FOWNER));
    result("chmod other's without CAP_FOWNER", chmod(file, 0644));
    struct timeval times[2] = {{1000, 0}, {2000, 0}};
    result("utimes other's without CAP_FOWNER", utimes(file, times));
    effective_only(BASE);
    result("chmod other's with CAP_FOWNER", chmod(file, 0600));
    result("utimes other's with CAP_FOWNER", utimes(file, times));

    effective_only(BASE & ~BIT(CAP_MKNOD));
    result("mknod char without CAP_MKNOD", mknod(node, S_IFCHR | 0600, makedev(1, 3)));
    effective_only(BASE & ~BIT(CAP_SYS_ADMIN));
    result("mount tmpfs without CAP_SYS_ADMIN", mount("none", mnt, "tmpfs", 0, NULL));
    result("sethostname without CAP_SYS_ADMIN", sethostname("x", 1));
    effective_only(BASE & ~BIT(CAP_SYS_CHROOT));
    result("chroot without CAP_SYS_CHROOT", chroot(dir));
    effective_only(BASE & ~BIT(CAP_SETUID));
    result("setuid without CAP_SETUID", setuid(1000));
    result("setresuid without CAP_SETUID", setresuid(-1, 1000, -1));
    effective_only(BASE & ~BIT(CAP_SETGID));
    gid_t groups[1] = {5};
    result("setgroups without CAP_SETGID", setgroups(1, groups));
    result("setgid without CAP_SETGID", setgid(1000));
    effective_only(BASE & ~BIT(CAP_SYS_NICE));
    result("setpriority -5 without CAP_SYS_NICE", setpriority(PRIO_PROCESS, 0, -5));
    effective_only(BASE & ~BIT(CAP_NET_BIND_SERVICE));
    int sock = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(80),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    result("bind port 80 without CAP_NET_BIND_SERVICE", bind(sock, (struct sockaddr *)&address, sizeof address));
    close(sock);
    effective_only(BASE);

    struct rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_max = limit.rlim_cur;
    setrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_max++;
    result("raise hard RLIMIT_NOFILE without CAP_SYS_RESOURCE", setrlimit(RLIMIT_NOFILE, &limit));

    int ready[2];
    pipe(ready);
    pid_t child = fork();
    if (child == 0) {
        setresuid(2000, 2000, 2000);
        write(ready[1], "x", 1);
        pause();
        _exit(0);
    }
    char byte;
    read(ready[0], &byte, 1);
    effective_only(BASE & ~BIT(CAP_KILL));
    result("kill other user's process without CAP_KILL", kill(child, 0));
    effective_only(BASE);
    result("kill other user's process with CAP_KILL", kill(child, SIGKILL));
    waitpid(child, NULL, 0);
    show_status();
}

/* --- transitions: each in a child, so that each starts from BASE --- */
static void in_child(const char *label, void (*body)(void)) {
    printf("-- %s\n", label);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        body();
        fflush(stdout);
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status))
        printf("child status %x\n", status);
}

static void exec_report(void) {
    execl(self_path, self_path, "report", (char *)NULL);
    result("execve", -1);
}

static void setuid_drops(void) {
    result("setresuid 1000", setresuid(1000, 1000, 1000));
    show_sets("after");
}

static void keepcaps_keeps(void) {
    result("PR_SET_KEEPCAPS", prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
    result("setresuid 1000", setresuid(1000, 1000, 1000));
    show_sets("after");
    result("PR_GET_KEEPCAPS", prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
    result("raise effective from permitted", set_sets(BIT(CAP_CHOWN), BASE, 0));
    show_sets("raised");
    exec_report();
}

static void euid_round_trip(void) {
    result("seteuid 1000", setresuid(-1, 1000, -1));
    show_sets("euid 1000");
    result("seteuid 0", setresuid(-1, 0, -1));
    show_sets("euid 0");
}

static void fsuid_follows(void) {
    setfsuid(1000);
    show_sets("fsuid 1000");
    setfsuid(0);
    show_sets("fsuid 0");
}

static void ambient_as_runc(void) {
    uint64_t wanted = BIT(CAP_NET_BIND_SERVICE) | BIT(CAP_CHOWN);
    prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
    result("setresuid 1000", setresuid(1000, 1000, 1000));
    result("capset", set_sets(wanted, wanted, wanted));
    result("ambient raise NET_BIND_SERVICE", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_BIND_SERVICE, 0, 0));
    result("ambient raise CHOWN", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_CHOWN, 0, 0));
    exec_report();
}

static void ambient_cleared_by_setuid(void) {
    set_sets(BASE, BASE, BIT(CAP_CHOWN));
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_CHOWN, 0, 0);
    prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
    setresuid(1000, 1000, 1000);
    result("ambient CHOWN after setuid", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_CHOWN, 0, 0));
}

static void ambient_lowered_by_capset(void) {
    set_sets(BASE, BASE, BIT(CAP_CHOWN));
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_CHOWN, 0, 0);
    set_sets(BASE, BASE, 0);
    result("ambient CHOWN after dropping inheritable", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_CHOWN, 0, 0));
}

static void root_exec(void) {
    set_sets(BIT(CAP_KILL), BIT(CAP_KILL) | BIT(CAP_CHOWN), BIT(CAP_NET_BIND_SERVICE));
    prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0);
    exec_report();
}

static void user_exec(void) {
    setresuid(1000, 1000, 1000);
    exec_report();
}

static void real_root_exec(void) {
    setresuid(0, 1000, 1000);
    exec_report();
}

static void noroot_exec(void) {
    result("SECBIT_NOROOT", prctl(PR_SET_SECUREBITS, 1, 0, 0, 0));
    exec_report();
}

static void transitions(void) {
    in_child("setuid drops", setuid_drops);
    in_child("keepcaps keeps permitted", keepcaps_keeps);
    in_child("euid round trip", euid_round_trip);
    in_child("fsuid follows", fsuid_follows);
    in_child("ambient as runc sets it", ambient_as_runc);
    in_child("ambient cleared by setuid", ambient_cleared_by_setuid);
    in_child("ambient lowered by capset", ambient_lowered_by_capset);
    in_child("root exec", root_exec);
    in_child("user exec", user_exec);
    in_child("real root exec", real_root_exec);
    in_child("noroot exec", noroot_exec);
}

/* --- prctl --- */
static void prctls(void) {
    result("CAPBSET_READ CHOWN", prctl(PR_CAPBSET_READ, CAP_CHOWN, 0, 0, 0));
    result("CAPBSET_READ SYS_RESOURCE", prctl(PR_CAPBSET_READ, CAP_SYS_RESOURCE, 0, 0, 0));
    result("CAPBSET_READ 41", prctl(PR_CAPBSET_READ, 41, 0, 0, 0));
    result("CAPBSET_READ -1", prctl(PR_CAPBSET_READ, -1L, 0, 0, 0));
    result("CAPBSET_DROP 41", prctl(PR_CAPBSET_DROP, 41, 0, 0, 0));
    result("CAPBSET_DROP MKNOD", prctl(PR_CAPBSET_DROP, CAP_MKNOD, 0, 0, 0));
    result("CAPBSET_READ MKNOD", prctl(PR_CAPBSET_READ, CAP_MKNOD, 0, 0, 0));
    result("AMBIENT RAISE not inheritable", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0));
    result("AMBIENT IS_SET 41", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, 41, 0, 0));
    result("AMBIENT IS_SET arg4", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_KILL, 1, 0));
    result("AMBIENT CLEAR_ALL arg3", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 1, 0, 0));
    result("AMBIENT 9", prctl(PR_CAP_AMBIENT, 9, CAP_KILL, 0, 0));
    set_sets(BASE, BASE, BIT(CAP_KILL));
    result("AMBIENT RAISE KILL", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0));
    result("AMBIENT IS_SET KILL", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_KILL, 0, 0));
    result("AMBIENT LOWER KILL", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, CAP_KILL, 0, 0));
    result("AMBIENT IS_SET KILL", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_KILL, 0, 0));
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0);
    result("AMBIENT CLEAR_ALL", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
    result("AMBIENT IS_SET KILL", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_KILL, 0, 0));
    result("SET_KEEPCAPS 2", prctl(PR_SET_KEEPCAPS, 2, 0, 0, 0));
    result("GET_KEEPCAPS", prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
    result("GET_SECUREBITS", prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
    result("SET_SECUREBITS KEEP_CAPS", prctl(PR_SET_SECUREBITS, 0x10, 0, 0, 0));
    result("GET_KEEPCAPS", prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0));
    result("SET_SECUREBITS unknown bit", prctl(PR_SET_SECUREBITS, 0x1000, 0, 0, 0));
    result("SET_SECUREBITS NO_CAP_AMBIENT_RAISE", prctl(PR_SET_SECUREBITS, 0x50, 0, 0, 0));
    result("AMBIENT RAISE under NO_CAP_AMBIENT_RAISE", prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0));
    result("SET_SECUREBITS lock KEEP_CAPS", prctl(PR_SET_SECUREBITS, 0x30, 0, 0, 0));
    result("SET_KEEPCAPS 0 when locked", prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0));
    result("SET_SECUREBITS unlock", prctl(PR_SET_SECUREBITS, 0x10, 0, 0, 0));
    result("GET_SECUREBITS", prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
    effective_only(BASE & ~BIT(CAP_SETPCAP));
    result("CAPBSET_DROP without CAP_SETPCAP", prctl(PR_CAPBSET_DROP, CAP_CHOWN, 0, 0, 0));
    result("CAPBSET_DROP 41 without CAP_SETPCAP", prctl(PR_CAPBSET_DROP, 41, 0, 0, 0));
    result("SET_SECUREBITS without CAP_SETPCAP", prctl(PR_SET_SECUREBITS, 0x30, 0, 0, 0));
    result("GET_NO_NEW_PRIVS", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    result("SET_NO_NEW_PRIVS 2", prctl(PR_SET_NO_NEW_PRIVS, 2, 0, 0, 0));
    result("SET_NO_NEW_PRIVS", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    result("GET_NO_NEW_PRIVS", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    show_status();
}

/* --- capget/capset --- */
static void capsets(void) {
    struct __user_cap_header_struct header = {0x1234, 0};
    struct __user_cap_data_struct data[2];
    result("capget bad version, no data", syscall(SYS_capget, &header, NULL));
    printf("version now %x\n", header.version);
    header.version = 0x1234;
    result("capget bad version", syscall(SYS_capget, &header, data));
    header.version = _LINUX_CAPABILITY_VERSION_1;
    result("capget v1", syscall(SYS_capget, &header, data));
    printf("v1 eff=%x\n", data[0].effective);
    header = (struct __user_cap_header_struct){_LINUX_CAPABILITY_VERSION_3, -1};
    result("capget pid -1", syscall(SYS_capget, &header, data));
    header = (struct __user_cap_header_struct){_LINUX_CAPABILITY_VERSION_3, 99999};
    result("capget missing pid", syscall(SYS_capget, &header, data));
    header = (struct __user_cap_header_struct){_LINUX_CAPABILITY_VERSION_3, 99999};
    result("capset other pid", syscall(SYS_capset, &header, data));
    result("capset raise permitted", set_sets(BASE, BASE | BIT(CAP_SYS_BOOT), 0));
    result("capset effective beyond permitted", set_sets(BASE | BIT(CAP_SYS_BOOT), BASE, 0));
    result("capset inheritable beyond bounding", set_sets(BASE, BASE, BIT(CAP_SYS_BOOT)));
    result("capset inheritable within permitted", set_sets(BASE, BASE, BIT(CAP_KILL)));
    effective_only(BASE & ~BIT(CAP_SETPCAP));
    result("capset inheritable beyond permitted without SETPCAP",
           set_sets(BASE & ~BIT(CAP_SETPCAP), BASE & ~BIT(CAP_CHOWN), BIT(CAP_KILL) | BIT(CAP_CHOWN)));
    result("capset lower permitted", set_sets(BIT(CAP_KILL), BASE & ~BIT(CAP_CHOWN), BIT(CAP_KILL)));
    result("capset raise dropped permitted", set_sets(BIT(CAP_KILL), BASE, BIT(CAP_KILL)));
    header = (struct __user_cap_header_struct){_LINUX_CAPABILITY_VERSION_1, 0};
    data[0] = (struct __user_cap_data_struct){BIT(CAP_KILL), BIT(CAP_KILL) | BIT(CAP_SETUID), 0};
    result("capset v1", syscall(SYS_capset, &header, data));
    show_sets("after v1");
    show_status();
}

static void show_state(void) {
    uid_t r, e, s;
    gid_t gr, ge, gs;
    struct sets sets;
    getresuid(&r, &e, &s);
    getresgid(&gr, &ge, &gs);
    get_sets(&sets);
    printf("  gid %d %d %d fs %d at_secure %lu\n", gr, ge, gs, setfsgid(-1), getauxval(AT_SECURE));
    printf("  uid %d %d %d fs %d eff %llx prm %llx inh %llx bnd-sysadmin %d amb-kill %d bits %lx nnp %ld\n", r, e, s,
           setfsuid(-1), (unsigned long long)sets.effective, (unsigned long long)sets.permitted,
           (unsigned long long)sets.inheritable, (int)prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0),
           (int)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_KILL, 0, 0),
           (long)prctl(PR_GET_SECUREBITS, 0, 0, 0, 0), (long)prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    fflush(stdout);
}

/* One operation: u:R,E,S setresuid; r:R,E setreuid; U:N setuid; f:N setfsuid; c:E,P,I capset (hex); k:V keepcaps;
 * a:OP,CAP PR_CAP_AMBIENT; b:CAP bounding drop; s:BITS securebits; n no_new_privs. */
static void run_op(const char *op) {
    long a = -1, b = -1, c = -1;
    unsigned long long e, p, i;
    switch (op[0]) {
    case 'u':
        sscanf(op + 2, "%ld,%ld,%ld", &a, &b, &c);
        result(op, setresuid(a, b, c));
        break;
    case 'r':
        sscanf(op + 2, "%ld,%ld", &a, &b);
        result(op, setreuid(a, b));
        break;
    case 'U':
        sscanf(op + 2, "%ld", &a);
        result(op, setuid(a));
        break;
    case 'f':
        sscanf(op + 2, "%ld", &a);
        result(op, setfsuid(a));
        break;
    case 'c':
        sscanf(op + 2, "%llx,%llx,%llx", &e, &p, &i);
        result(op, set_sets(e, p, i));
        break;
    case 'k':
        sscanf(op + 2, "%ld", &a);
        result(op, prctl(PR_SET_KEEPCAPS, a, 0, 0, 0));
        break;
    case 'a':
        sscanf(op + 2, "%ld,%ld", &a, &b);
        result(op, prctl(PR_CAP_AMBIENT, a, b, 0, 0));
        break;
    case 'b':
        sscanf(op + 2, "%ld", &a);
        result(op, prctl(PR_CAPBSET_DROP, a, 0, 0, 0));
        break;
    case 's':
        sscanf(op + 2, "%lx", &a);
        result(op, prctl(PR_SET_SECUREBITS, a, 0, 0, 0));
        break;
    case 'n':
        result(op, prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
        break;
    default:
        printf("%s: unknown operation\n", op);
    }
    show_state();
}

static void run_sequence(int count, char **ops) {
    for (int n = 0; n < count; n++) {
        if (!strcmp(ops[n], "x") || !strcmp(ops[n], "X") || !strcmp(ops[n], "Y")) {
            /* x: this program; X: its set-user-ID root copy; Y: its set-user/group-ID 2000 copy */
            char path[4096];
            snprintf(path, sizeof path, "%s%s", self_path,
                     ops[n][0] == 'X' ? ".suid-root" : ops[n][0] == 'Y' ? ".suid-2000" : "");
            printf("%s: exec\n", ops[n]);
            fflush(stdout);
            char *argv[count - n + 2];
            argv[0] = path;
            argv[1] = "seq-continued";
            for (int k = n + 1; k < count; k++)
                argv[k - n + 1] = ops[k];
            argv[count - n + 1] = NULL;
            execv(path, argv);
            result("execve", -1);
            return;
        }
        run_op(ops[n]);
    }
}

static void report(void) {
    show_sets("sets");
    show_status();
    printf("uid=%d euid=%d\n", getuid(), geteuid());
}

int main(int argc, char **argv) {
    static char base[4096];
    snprintf(base, sizeof base, "%s", argv[0]);
    char *suffix = strstr(base, ".suid-");
    if (suffix)
        *suffix = 0;
    self_path = base;
    if (argc < 2)
        return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(argv[1], "report")) {
        report();
        return 0;
    }
    if (!strcmp(argv[1], "seq-continued")) {
        show_state();
        run_sequence(argc - 2, argv + 2);
        return 0;
    }
    narrow_to_base();
    if (!strcmp(argv[1], "ops") && argc == 3)
        ops(argv[2]);
    else if (!strcmp(argv[1], "transitions"))
        transitions();
    else if (!strcmp(argv[1], "prctl"))
        prctls();
    else if (!strcmp(argv[1], "capset"))
        capsets();
    else if (!strcmp(argv[1], "seq"))
        run_sequence(argc - 2, argv + 2);
    else if (!strcmp(argv[1], "write") && argc == 4) {
        int fd = open(argv[2], O_WRONLY);
        result("open", fd < 0 ? -1 : 0);
        result("write", fd < 0 ? -1 : write(fd, argv[3], strlen(argv[3])));
    }
    else
        return 2;
    return 0;
}
