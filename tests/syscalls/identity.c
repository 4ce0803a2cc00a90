/* Identity: getuid/getgid/geteuid/getegid, setuid/setgid, setreuid/setregid,
 * setresuid/setresgid and their getters, setfsuid/setfsgid, getgroups/setgroups, uname,
 * sethostname/setdomainname, getrandom. */
#include "check.h"
#include <grp.h>
#include <sched.h>
#include <sys/random.h>
#include <sys/utsname.h>

static int drop_privileges(void)
{
    uid_t r, e, s;
    gid_t list[4] = {7, 8, 9, 10};
    REQUIRE(sys(SYS_setgroups, 2, list) == 0);
    REQUIRE(sys(SYS_getgroups, 0, NULL) == 2);
    REQUIRE(sys(SYS_getgroups, 4, list) == 2 && list[0] == 7 && list[1] == 8);
    REQUIRE(sys(SYS_getgroups, 1, list) == -1 && errno == EINVAL);
    REQUIRE(sys(SYS_setgroups, -1, list) == -1 && errno == EINVAL);
    REQUIRE(sys(SYS_setresgid, 100, 200, 300) == 0);
    REQUIRE(sys(SYS_getresgid, &r, &e, &s) == 0 && r == 100 && e == 200 && s == 300);
    REQUIRE(sys(SYS_getgid) == 100 && sys(SYS_getegid) == 200);
    REQUIRE(sys(SYS_setregid, -1, 300) == 0 && sys(SYS_getegid) == 300);
    REQUIRE(sys(SYS_setresuid, 1000, 1001, 1002) == 0);
    REQUIRE(sys(SYS_getresuid, &r, &e, &s) == 0 && r == 1000 && e == 1001 && s == 1002);
    REQUIRE(sys(SYS_getuid) == 1000 && sys(SYS_geteuid) == 1001);
    REQUIRE(sys(SYS_setfsuid, -1) == 1001);
    REQUIRE(sys(SYS_setfsuid, 1000) == 1001 && sys(SYS_setfsuid, -1) == 1000);
    REQUIRE(sys(SYS_setfsuid, 5) == 1000 && sys(SYS_setfsuid, -1) == 1000);
    REQUIRE(sys(SYS_setfsgid, 100) == 300 && sys(SYS_setfsgid, -1) == 100);
    REQUIRE(sys(SYS_setuid, 5) == -1 && errno == EPERM);
    REQUIRE(sys(SYS_setresuid, 5, -1, -1) == -1 && errno == EPERM);
    REQUIRE(sys(SYS_setreuid, 1002, 1000) == -1 && errno == EPERM);
    REQUIRE(sys(SYS_setreuid, 1001, 1002) == 0);
    REQUIRE(sys(SYS_getresuid, &r, &e, &s) == 0 && r == 1001 && e == 1002 && s == 1002);
    REQUIRE(sys(SYS_setgid, 7) == -1 && errno == EPERM);
    REQUIRE(sys(SYS_setgroups, 0, NULL) == -1 && errno == EPERM);
    REQUIRE(sys(SYS_setuid, 1000) == -1 && errno == EPERM);
    REQUIRE(sys(SYS_setuid, 1001) == 0 && sys(SYS_geteuid) == 1001);
    REQUIRE(sys(SYS_getresuid, &r, &e, &s) == 0 && r == 1001 && s == 1002);
    REQUIRE(sys(SYS_getresuid, (void *)8, &e, &s) == -1 && errno == EFAULT);
    return 0;
}

static int root_setuid(void)
{
    uid_t r, e, s;
    REQUIRE(sys(SYS_setgid, 50) == 0 && sys(SYS_getgid) == 50 && sys(SYS_getegid) == 50);
    REQUIRE(sys(SYS_setuid, 60) == 0);
    REQUIRE(sys(SYS_getresuid, &r, &e, &s) == 0 && r == 60 && e == 60 && s == 60);
    REQUIRE(sys(SYS_setuid, 0) == -1 && errno == EPERM);
    return 0;
}

int main(void)
{
    CHECK_RET(sys(SYS_getuid), 0);
    CHECK_RET(sys(SYS_geteuid), 0);
    CHECK_RET(sys(SYS_getgid), 0);
    CHECK_RET(sys(SYS_getegid), 0);
    IN_CHILD(drop_privileges);
    IN_CHILD(root_setuid);
    CHECK_RET(sys(SYS_setresuid, -1, -1, -1), 0);
    CHECK_RET(sys(SYS_setreuid, -1, -1), 0);

    struct utsname u;
    CHECK_RET(sys(SYS_uname, &u), 0);
    CHECK(strcmp(u.sysname, "Linux") == 0 && strcmp(u.machine, "x86_64") == 0);
    CHECK_ERR(sys(SYS_uname, (void *)8), EFAULT);

    /* Natively this needs its own UTS namespace; the sandbox's names are its own anyway. */
    isolate(CLONE_NEWUTS, "the hostname");
    CHECK_RET(sys(SYS_sethostname, "conformance", 11), 0);
    CHECK(uname(&u) == 0 && strcmp(u.nodename, "conformance") == 0);
    CHECK_ERR(sys(SYS_sethostname, "x", 65), EINVAL);
    CHECK_ERR(sys(SYS_sethostname, "x", -1), EINVAL);
    CHECK_ERR(sys(SYS_sethostname, (void *)8, 4), EFAULT);
    CHECK_RET(sys(SYS_setdomainname, "example", 7), 0);
    CHECK(uname(&u) == 0 && strcmp(u.domainname, "example") == 0);
    CHECK_ERR(sys(SYS_setdomainname, "x", 65), EINVAL);

    unsigned char a[64] = {0}, b[64] = {0};
    CHECK_RET(sys(SYS_getrandom, a, sizeof a, 0), 64);
    CHECK_RET(sys(SYS_getrandom, b, sizeof b, GRND_NONBLOCK), 64);
    CHECK(memcmp(a, b, sizeof a) != 0);
    CHECK_RET(sys(SYS_getrandom, a, 0, 0), 0);
    CHECK_ERR(sys(SYS_getrandom, a, 8, 0x40), EINVAL);
    CHECK_ERR(sys(SYS_getrandom, a, 8, GRND_RANDOM | GRND_INSECURE), EINVAL);
    CHECK_ERR(sys(SYS_getrandom, (void *)8, 8, 0), EFAULT);
    return done();
}
