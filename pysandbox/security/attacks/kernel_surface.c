/* Host-kernel attack surface a container should not reach. Each technique succeeds only if
 * the host kernel itself accepted the call (or, for modules, parsed what we gave it):
 *   init_module finit_module kexec_load reboot bpf perf_event_open userfaultfd
 *   io_uring_setup keyctl add_key raw_socket packet_socket */
#include "attack.h"
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/if_ether.h>

static void report(const char *what, long result, int accepted_errno)
{
    if (result >= 0)
        evidence("%s returned %ld: the host kernel accepted it", what, result);
    else if (accepted_errno && errno == accepted_errno)
        evidence("%s reached the host kernel's implementation (%s)", what, strerror(errno));
    else
        blocked("%s: %s", what, strerror(errno));
}

/* A new fd is the host kernel's own object only if its fdinfo shows what Linux writes there
 * (a sandbox's kernel emulating the call shows its own, shorter fdinfo). */
static void report_fd(const char *what, long fd, const char *host_fdinfo_key)
{
    if (fd < 0) {
        blocked("%s: %s", what, strerror(errno));
        return;
    }
    char path[64], info[4096] = "";
    snprintf(path, sizeof(path), "/proc/self/fdinfo/%ld", fd);
    int f = open(path, O_RDONLY);
    if (f >= 0) {
        ssize_t n = read(f, info, sizeof(info) - 1);
        info[n > 0 ? n : 0] = 0;
        close(f);
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%ld", fd);
    size_t len = strlen(info);
    ssize_t n = readlink(path, info + len, sizeof(info) - len - 1);
    info[len + (n > 0 ? n : 0)] = 0;
    if (strstr(info, host_fdinfo_key))
        evidence("%s returned fd %ld, a host kernel object (%s in its fdinfo or name)", what, fd, host_fdinfo_key);
    else
        blocked("%s returned fd %ld, but not a host kernel object (no %s in its fdinfo or name)", what, fd,
                host_fdinfo_key);
}

/* A socket whose ioctl finds the host's own network interface lives in the host's stack. */
static void socket_attack(int domain, int type, int protocol, const char *what)
{
    int fd = socket(domain, type, protocol);
    if (fd < 0) {
        blocked("%s: %s", what, strerror(errno));
        return;
    }
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", need_env("HOST_IFACE"));
    if (ioctl(fd, SIOCGIFINDEX, &ifr) == 0)
        evidence("%s on the host's interface %s (index %d)", what, ifr.ifr_name, ifr.ifr_ifindex);
    else
        blocked("%s opened, but the host's interface %s is not there: %s", what, ifr.ifr_name,
                strerror(errno));
    close(fd);
}

int main(int argc, char **argv)
{
    const char *how = argc > 1 ? argv[1] : "";
    static const char garbage[64] = "not a kernel module";
    if (!strcmp(how, "init_module")) {
        report("init_module(garbage)", syscall(SYS_init_module, garbage, sizeof(garbage), ""), ENOEXEC);
    } else if (!strcmp(how, "finit_module")) {
        int fd = open("/proc/self/exe", O_RDONLY);
        report("finit_module(not a module)", syscall(SYS_finit_module, fd, "", 0), ENOEXEC);
    } else if (!strcmp(how, "kexec_load")) {
        /* No segments: unloads a loaded crash kernel, if any; loads nothing. */
        report("kexec_load(no segments)", syscall(SYS_kexec_load, 0, 0, NULL, 0), 0);
    } else if (!strcmp(how, "reboot")) {
        /* Disabling ctrl-alt-del is the one harmless reboot(2) command. */
        report("reboot(LINUX_REBOOT_CMD_CAD_OFF)",
               syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_OFF, 0), 0);
    } else if (!strcmp(how, "bpf")) {
        struct bpf_insn prog[] = {{BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0}, {BPF_JMP | BPF_EXIT, 0, 0, 0, 0}};
        union bpf_attr attr = {0};
        attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
        attr.insns = (unsigned long)prog;
        attr.insn_cnt = 2;
        attr.license = (unsigned long)"GPL";
        report_fd("bpf(BPF_PROG_LOAD)", syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr)), "prog_type:");
    } else if (!strcmp(how, "perf_event_open")) {
        struct perf_event_attr attr = {0};
        attr.size = sizeof(attr);
        attr.type = PERF_TYPE_SOFTWARE;
        attr.config = PERF_COUNT_SW_CPU_CLOCK;
        report_fd("perf_event_open(cpu clock, all processes on cpu 0)",
                  syscall(SYS_perf_event_open, &attr, -1, 0, -1, 0), "anon_inode:[perf_event]");
    } else if (!strcmp(how, "userfaultfd")) {
        report_fd("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC), "API:");
    } else if (!strcmp(how, "io_uring_setup")) {
        char params[120] = {0};
        report_fd("io_uring_setup", syscall(SYS_io_uring_setup, 4, params), "SqMask:");
    } else if (!strcmp(how, "keyctl")) {
        report("keyctl(KEYCTL_GET_KEYRING_ID, user keyring)", syscall(SYS_keyctl, 0, -4, 1), 0);
    } else if (!strcmp(how, "add_key")) {
        report("add_key(user)", syscall(SYS_add_key, "user", "psb-bench", "x", 1, -2), 0);
    } else if (!strcmp(how, "raw_socket")) {
        socket_attack(AF_INET, SOCK_RAW, IPPROTO_ICMP, "raw socket");
    } else if (!strcmp(how, "packet_socket")) {
        socket_attack(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL), "packet socket");
    } else {
        return 2;
    }
    return 0;
}
