/* ICMP sockets (icmp(7), raw(7)): errnos and echo round trips, printed one line a check.
 *
 *   ping_sockets root             the checks as the caller is
 *   ping_sockets nocap            after dropping CAP_NET_RAW from the effective set (capset)
 *   ping_sockets user             after becoming uid/gid 65534 with no groups
 *   ping_sockets range "LOW HIGH" write net.ipv4.ping_group_range first (needs CAP_NET_ADMIN)
 *   ping_sockets as-nobody PROG ARGS...   exec PROG as uid/gid 65534 (no CAP_NET_RAW)
 *
 * Run natively inside `unshare -n` with lo up, and in the sandbox: the outputs must match. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#ifndef ICMP_FILTER
#define ICMP_FILTER 1
#endif

static void report(const char *what, int result)
{
    printf("%s: %s\n", what, result < 0 ? strerrorname_np(errno) : "ok");
}

static uint16_t checksum(const void *data, size_t length)
{
    const uint8_t *bytes = data;
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < length; i += 2)
        sum += (bytes[i] << 8) | bytes[i + 1];
    if (length & 1)
        sum += bytes[length - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return htons(~sum & 0xffff);
}

static struct sockaddr_in v4(const char *address)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    inet_pton(AF_INET, address, &sin.sin_addr);
    return sin;
}

static struct sockaddr_in6 v6(const char *address)
{
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, address, &sin6.sin6_addr);
    return sin6;
}

/* An echo request: type, id, sequence, then "pysandbox ping" as data. */
static size_t echo(uint8_t *buffer, int type, int code, int id, int sequence, int with_checksum)
{
    struct icmphdr header = {.type = type, .code = code};
    header.un.echo.id = htons(id);
    header.un.echo.sequence = htons(sequence);
    memcpy(buffer, &header, sizeof header);
    memcpy(buffer + sizeof header, "pysandbox ping", 14);
    if (with_checksum)
        ((struct icmphdr *)buffer)->checksum = checksum(buffer, sizeof header + 14);
    return sizeof header + 14;
}

static void set_timeout(int fd)
{
    struct timeval timeout = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
}

static void show_message(const char *what, const uint8_t *message, ssize_t length, const struct sockaddr *from)
{
    char address[INET6_ADDRSTRLEN] = "?";
    int port = -1;
    if (from->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)from)->sin_addr, address, sizeof address);
        port = ntohs(((struct sockaddr_in *)from)->sin_port);
    } else if (from->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)from)->sin6_addr, address, sizeof address);
        port = ntohs(((struct sockaddr_in6 *)from)->sin6_port);
    }
    if (length < 8) {
        printf("%s: %zd bytes\n", what, length);
        return;
    }
    printf("%s: %zd bytes type %d code %d seq %d data '%.14s' from %s port %d\n", what, length, message[0],
           message[1], (message[6] << 8) | message[7], (const char *)message + 8, address, port);
}

static int bound_id(int fd)
{
    struct sockaddr_storage name;
    socklen_t length = sizeof name;
    getsockname(fd, (struct sockaddr *)&name, &length);
    return ntohs(((struct sockaddr_in *)&name)->sin_port);   /* sin_port and sin6_port share offsets */
}

static void receive_one(const char *what, int fd, int expect_id, int header_bytes)
{
    uint8_t buffer[256];
    struct sockaddr_storage from = {0};
    socklen_t from_length = sizeof from;
    ssize_t length = recvfrom(fd, buffer, sizeof buffer, 0, (struct sockaddr *)&from, &from_length);
    if (length < 0) {
        report(what, -1);
        return;
    }
    if (header_bytes) {
        struct iphdr *ip = (struct iphdr *)buffer;
        char source[16], destination[16];
        inet_ntop(AF_INET, &ip->saddr, source, sizeof source);
        inet_ntop(AF_INET, &ip->daddr, destination, sizeof destination);
        printf("%s: ip version %d ihl %d length %d ttl %d protocol %d %s -> %s checksum %s\n", what, ip->version,
               ip->ihl, ntohs(ip->tot_len), ip->ttl, ip->protocol, source, destination,
               checksum(buffer, ip->ihl * 4) == 0 ? "good" : "bad");
    }
    const uint8_t *message = buffer + header_bytes;
    ssize_t message_length = length - header_bytes;
    show_message(what, message, message_length, (struct sockaddr *)&from);
    if (message_length >= 8) {
        int id = (message[4] << 8) | message[5];
        printf("%s: id %s, icmp checksum %s\n", what, id == expect_id ? "as expected" : "differs",
               from.ss_family == AF_INET6 || checksum(message, message_length) == 0 ? "good" : "bad");
    }
}

static void ping_v4(void)
{
    uint8_t buffer[128];
    int fd = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    report("ping4 socket", fd);
    if (fd < 0)
        return;
    set_timeout(fd);
    printf("ping4 unbound id: %d\n", bound_id(fd));
    struct sockaddr_in local = v4("127.0.0.1"), elsewhere = v4("10.1.2.3"), loopback = v4("127.0.0.1");
    local.sin_port = htons(4242);
    report("ping4 bind short", bind(fd, (struct sockaddr *)&local, 8));
    struct sockaddr_in foreign = v4("10.1.2.3");
    report("ping4 bind foreign address", bind(fd, (struct sockaddr *)&foreign, sizeof foreign));
    report("ping4 bind 127.0.0.1:4242", bind(fd, (struct sockaddr *)&local, sizeof local));
    printf("ping4 bound id: %d\n", bound_id(fd));
    report("ping4 bind again", bind(fd, (struct sockaddr *)&local, sizeof local));
    int other = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    struct sockaddr_in any = v4("0.0.0.0");
    any.sin_port = htons(4242);
    int reuse = -1;
    socklen_t reuse_length = sizeof reuse;
    getsockopt(other, SOL_SOCKET, SO_REUSEADDR, &reuse, &reuse_length);
    printf("ping4 SO_REUSEADDR by default: %d\n", reuse);
    report("ping4 second bind of the id", bind(other, (struct sockaddr *)&any, sizeof any));
    close(other);
    other = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    reuse = 0;
    setsockopt(other, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse);
    report("ping4 bind of the id without SO_REUSEADDR", bind(other, (struct sockaddr *)&any, sizeof any));
    close(other);

    size_t length = echo(buffer, ICMP_ECHO, 0, 999, 5, 0);
    report("ping4 reply type", sendto(fd, (uint8_t[]){0, 0, 0, 0, 0, 0, 0, 0}, 8, 0,
                                      (struct sockaddr *)&loopback, sizeof loopback));
    report("ping4 short message", sendto(fd, buffer, 4, 0, (struct sockaddr *)&loopback, sizeof loopback));
    echo(buffer, ICMP_ECHO, 1, 999, 5, 0);
    report("ping4 code 1", sendto(fd, buffer, length, 0, (struct sockaddr *)&loopback, sizeof loopback));
    echo(buffer, ICMP_ECHO, 0, 999, 5, 0);
    report("ping4 MSG_OOB", sendto(fd, buffer, length, MSG_OOB, (struct sockaddr *)&loopback, sizeof loopback));
    report("ping4 no address", send(fd, buffer, length, 0));
    report("ping4 short address", sendto(fd, buffer, length, 0, (struct sockaddr *)&loopback, 8));
    struct sockaddr_in6 wrong_family = v6("::1");
    report("ping4 AF_INET6 address", sendto(fd, buffer, length, 0, (struct sockaddr *)&wrong_family,
                                            sizeof wrong_family));
    report("ping4 unreachable", sendto(fd, buffer, length, 0, (struct sockaddr *)&elsewhere, sizeof elsewhere));
    static uint8_t huge[70000];
    memcpy(huge, buffer, length);
    report("ping4 too long", sendto(fd, huge, sizeof huge, 0, (struct sockaddr *)&loopback, sizeof loopback));

    report("ping4 echo", sendto(fd, buffer, length, 0, (struct sockaddr *)&loopback, sizeof loopback));
    struct pollfd poll_fd = {.fd = fd, .events = POLLIN};
    int ready = poll(&poll_fd, 1, 2000);
    printf("ping4 poll: %d revents %#x\n", ready, poll_fd.revents);
    receive_one("ping4 reply", fd, 4242, 0);

    struct sockaddr_in other_loopback = v4("127.0.0.1");
    report("ping4 connect", connect(fd, (struct sockaddr *)&other_loopback, sizeof other_loopback));
    echo(buffer, ICMP_ECHO, 0, 1, 6, 0);
    report("ping4 send connected", send(fd, buffer, length, 0));
    receive_one("ping4 connected reply", fd, 4242, 0);
    close(fd);

    /* An unbound socket gets an id at its first send; a wildcard destination is this host. */
    fd = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    set_timeout(fd);
    struct sockaddr_in wildcard = v4("0.0.0.0"), other_address = v4("127.0.0.5");
    echo(buffer, ICMP_ECHO, 0, 7, 8, 0);
    report("ping4 echo to 0.0.0.0", sendto(fd, buffer, length, 0, (struct sockaddr *)&wildcard, sizeof wildcard));
    printf("ping4 autobound id is set: %d\n", bound_id(fd) != 0);
    receive_one("ping4 reply from 0.0.0.0", fd, bound_id(fd), 0);
    report("ping4 echo to 127.0.0.5", sendto(fd, buffer, length, 0, (struct sockaddr *)&other_address,
                                             sizeof other_address));
    receive_one("ping4 reply from 127.0.0.5", fd, bound_id(fd), 0);
    close(fd);
}

static void ping_v6(void)
{
    uint8_t buffer[128];
    int fd = socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMPV6);
    report("ping6 socket", fd);
    if (fd < 0)
        return;
    set_timeout(fd);
    int value = -1;
    socklen_t value_length = sizeof value;
    getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &value, &value_length);
    printf("ping6 IPV6_V6ONLY: %d\n", value);
    struct sockaddr_in6 loopback = v6("::1"), elsewhere = v6("2001:db8::1"), mapped = v6("::ffff:127.0.0.1");
    report("ping6 bind v4-mapped", bind(fd, (struct sockaddr *)&mapped, sizeof mapped));
    loopback.sin6_port = htons(4343);
    report("ping6 bind ::1 id 4343", bind(fd, (struct sockaddr *)&loopback, sizeof loopback));
    loopback.sin6_port = 0;
    int v4_socket = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    int reuse = 0;
    setsockopt(v4_socket, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof reuse);
    struct sockaddr_in same_id = v4("127.0.0.1");
    same_id.sin_port = htons(4343);
    report("ping4 bind of ping6's id without SO_REUSEADDR", bind(v4_socket, (struct sockaddr *)&same_id,
                                                                  sizeof same_id));
    close(v4_socket);
    size_t length = echo(buffer, ICMP_ECHO, 0, 1, 1, 0);
    report("ping6 ICMPv4 echo type", sendto(fd, buffer, length, 0, (struct sockaddr *)&loopback, sizeof loopback));
    echo(buffer, ICMP6_ECHO_REQUEST, 0, 1, 1, 0);
    report("ping6 v4-mapped", sendto(fd, buffer, length, 0, (struct sockaddr *)&mapped, sizeof mapped));
    report("ping6 short address", sendto(fd, buffer, length, 0, (struct sockaddr *)&loopback, 24));
    struct sockaddr_in wrong_family = v4("127.0.0.1");
    report("ping6 AF_INET address", sendto(fd, buffer, length, 0, (struct sockaddr *)&wrong_family,
                                           sizeof loopback));
    report("ping6 unreachable", sendto(fd, buffer, length, 0, (struct sockaddr *)&elsewhere, sizeof elsewhere));
    report("ping6 echo", sendto(fd, buffer, length, 0, (struct sockaddr *)&loopback, sizeof loopback));
    receive_one("ping6 reply", fd, 4343, 0);
    close(fd);
}

static void raw_v4(void)
{
    uint8_t buffer[128];
    int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    report("raw4 socket", fd);
    if (fd < 0)
        return;
    set_timeout(fd);
    uint32_t filter = 0xdeadbeef;
    socklen_t filter_length = sizeof filter;
    report("raw4 get ICMP_FILTER", getsockopt(fd, SOL_RAW, ICMP_FILTER, &filter, &filter_length));
    printf("raw4 ICMP_FILTER: %#x (%u bytes)\n", filter, filter_length);
    report("raw4 SOL_RAW option 2", getsockopt(fd, SOL_RAW, 2, &filter, &filter_length));
    struct sockaddr_in loopback = v4("127.0.0.1"), elsewhere = v4("10.1.2.3");
    size_t length = echo(buffer, ICMP_ECHO, 0, 4444, 9, 1);
    report("raw4 no address", send(fd, buffer, length, 0));
    report("raw4 short address", sendto(fd, buffer, length, 0, (struct sockaddr *)&loopback, 8));
    report("raw4 unreachable", sendto(fd, buffer, length, 0, (struct sockaddr *)&elsewhere, sizeof elsewhere));
    /* Without a filter, loopback shows the socket its own request, then the reply. */
    report("raw4 echo", sendto(fd, buffer, length, 0, (struct sockaddr *)&loopback, sizeof loopback));
    receive_one("raw4 own request", fd, 4444, 20);
    receive_one("raw4 reply", fd, 4444, 20);
    filter = 1 << ICMP_ECHO;
    report("raw4 set ICMP_FILTER", setsockopt(fd, SOL_RAW, ICMP_FILTER, &filter, sizeof filter));
    echo(buffer, ICMP_ECHO, 0, 4444, 10, 1);
    report("raw4 echo filtered", sendto(fd, buffer, length, 0, (struct sockaddr *)&loopback, sizeof loopback));
    receive_one("raw4 reply only", fd, 4444, 20);
    /* A damaged checksum gets no answer. */
    ((struct icmphdr *)buffer)->checksum ^= 0x0101;
    report("raw4 bad checksum", sendto(fd, buffer, length, 0, (struct sockaddr *)&loopback, sizeof loopback));
    struct pollfd poll_fd = {.fd = fd, .events = POLLIN};
    printf("raw4 poll after bad checksum: %d\n", poll(&poll_fd, 1, 300));
    /* IP_HDRINCL: the caller's header; the stack fills in length, checksum and source. */
    int on = 1;
    report("raw4 IP_HDRINCL", setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &on, sizeof on));
    uint8_t packet[160] = {0};
    struct iphdr *ip = (struct iphdr *)packet;
    ip->version = 4;
    ip->ihl = 5;
    ip->ttl = 33;
    ip->protocol = IPPROTO_ICMP;
    ip->daddr = loopback.sin_addr.s_addr;
    length = echo(packet + 20, ICMP_ECHO, 0, 4444, 11, 1);
    report("raw4 echo with own header", sendto(fd, packet, 20 + length, 0, (struct sockaddr *)&loopback,
                                               sizeof loopback));
    receive_one("raw4 reply to own header", fd, 4444, 20);
    close(fd);
}

static void raw_v6(void)
{
    uint8_t buffer[128];
    int fd = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
    report("raw6 socket", fd);
    if (fd < 0)
        return;
    set_timeout(fd);
    int offset = 0;
    socklen_t offset_length = sizeof offset;
    report("raw6 get IPV6_CHECKSUM", getsockopt(fd, SOL_RAW, IPV6_CHECKSUM, &offset, &offset_length));
    printf("raw6 IPV6_CHECKSUM: %d\n", offset);
    report("raw6 IPV6_CHECKSUM at IPPROTO_IPV6", setsockopt(fd, IPPROTO_IPV6, IPV6_CHECKSUM, &offset,
                                                            sizeof offset));
    offset = 3;
    report("raw6 odd IPV6_CHECKSUM", setsockopt(fd, SOL_RAW, IPV6_CHECKSUM, &offset, sizeof offset));
    struct icmp6_filter filter;
    ICMP6_FILTER_SETBLOCKALL(&filter);
    ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &filter);
    report("raw6 set ICMP6_FILTER", setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter));
    struct icmp6_filter read_back;
    socklen_t filter_length = sizeof read_back;
    report("raw6 get ICMP6_FILTER", getsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &read_back, &filter_length));
    printf("raw6 ICMP6_FILTER read back: %s (%u bytes)\n", memcmp(&filter, &read_back, sizeof filter) ? "differs" : "same",
           filter_length);
    struct sockaddr_in6 loopback = v6("::1");
    size_t length = echo(buffer, ICMP6_ECHO_REQUEST, 0, 4545, 3, 0);
    report("raw6 echo", sendto(fd, buffer, length, 0, (struct sockaddr *)&loopback, sizeof loopback));
    receive_one("raw6 reply", fd, 4545, 0);
    ICMP6_FILTER_SETPASSALL(&filter);
    setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter);
    report("raw6 echo unfiltered", sendto(fd, buffer, length, 0, (struct sockaddr *)&loopback, sizeof loopback));
    receive_one("raw6 own request", fd, 4545, 0);
    receive_one("raw6 reply after request", fd, 4545, 0);
    close(fd);
}

static void become_nobody(void)
{
    if (setgroups(0, NULL) || setgid(65534) || setuid(65534)) {
        perror("dropping to 65534");
        exit(2);
    }
}

static void drop_net_raw(void)
{
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &header, data)) {
        perror("capget");
        exit(2);
    }
    data[CAP_NET_RAW / 32].effective &= ~(1u << (CAP_NET_RAW % 32));
    if (syscall(SYS_capset, &header, data)) {
        perror("capset");
        exit(2);
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argc > 1 ? argv[1] : "root";
    if (strcmp(mode, "as-nobody") == 0 && argc > 2) {
        become_nobody();
        execvp(argv[2], argv + 2);
        perror("execvp");
        return 127;
    }
    if (strcmp(mode, "range") == 0 && argc > 2) {
        int fd = open("/proc/sys/net/ipv4/ping_group_range", O_WRONLY);
        if (fd < 0 || write(fd, argv[2], strlen(argv[2])) < 0) {
            perror("ping_group_range");
            return 2;
        }
        close(fd);
        become_nobody();
    } else if (strcmp(mode, "user") == 0) {
        become_nobody();
    } else if (strcmp(mode, "nocap") == 0) {
        drop_net_raw();
    }
    report("raw4 protocol 0", socket(AF_INET, SOCK_RAW, 0));
    report("ping4 with ICMPv6", socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMPV6));
    report("ping6 with ICMP", socket(AF_INET6, SOCK_DGRAM, IPPROTO_ICMP));
    report("stream ICMP", socket(AF_INET, SOCK_STREAM, IPPROTO_ICMP));
    report("protocol 300", socket(AF_INET, SOCK_DGRAM, 300));
    ping_v4();
    ping_v6();
    raw_v4();
    raw_v6();
    return 0;
}
