/* Capabilities: capget/capset (v1 and v3 headers, version probing, capset's EPERM rules) and
 * prctl's capability options. It first narrows itself to CAP_KILL, CAP_CHOWN and CAP_SETPCAP,
 * so that it does not depend on the capabilities the host gave its runner. */
#include "check.h"
#include <linux/capability.h>
#include <sys/prctl.h>

#define BIT(cap) (1u << (cap))
#define SMALL (BIT(CAP_KILL) | BIT(CAP_CHOWN) | BIT(CAP_SETPCAP))

static struct __user_cap_header_struct v3 = {_LINUX_CAPABILITY_VERSION_3, 0};

static long set3(unsigned effective, unsigned permitted, unsigned inheritable)
{
    struct __user_cap_data_struct data[2] = {{effective, permitted, inheritable}, {0, 0, 0}};
    return sys(SYS_capset, &v3, data);
}

static int narrow(void)
{
    for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
        if (!(cap < 32 && SMALL & BIT(cap)) && prctl(PR_CAPBSET_READ, cap) == 1)
            REQUIRE(prctl(PR_CAPBSET_DROP, cap) == 0);
    REQUIRE(set3(SMALL, SMALL, 0) == 0);
    return 0;
}

int main(void)
{
    struct __user_cap_data_struct data[2];
    struct __user_cap_header_struct header = {0x1234, 0};
    CHECK_RET(sys(SYS_capget, &header, NULL), 0);
    CHECK(header.version == _LINUX_CAPABILITY_VERSION_3);
    header.version = 0x1234;
    CHECK_ERR(sys(SYS_capget, &header, data), EINVAL);
    CHECK_ERR(sys(SYS_capget, (void *)8, data), EFAULT);
    CHECK(narrow() == 0);

    CHECK_RET(sys(SYS_capget, &v3, data), 0);
    CHECK(data[0].effective == SMALL && data[0].permitted == SMALL && data[0].inheritable == 0);
    CHECK(data[1].effective == 0 && data[1].permitted == 0);
    header = (struct __user_cap_header_struct){_LINUX_CAPABILITY_VERSION_1, 0};
    CHECK_RET(sys(SYS_capget, &header, data), 0);
    header = (struct __user_cap_header_struct){_LINUX_CAPABILITY_VERSION_3, -1};
    CHECK_ERR(sys(SYS_capget, &header, data), EINVAL);
    header = (struct __user_cap_header_struct){_LINUX_CAPABILITY_VERSION_3, 0x7ffffff0};
    CHECK_ERR(sys(SYS_capget, &header, data), ESRCH);
    CHECK_ERR(sys(SYS_capset, &header, data), EPERM);

    CHECK_ERR(set3(SMALL, SMALL | BIT(CAP_SETUID), 0), EPERM);
    CHECK_ERR(set3(SMALL | BIT(CAP_SETUID), SMALL, 0), EPERM);
    CHECK_ERR(set3(SMALL, SMALL, BIT(CAP_SETUID)), EPERM);
    CHECK_RET(set3(SMALL, SMALL, BIT(CAP_KILL)), 0);
    CHECK_ERR(sys(SYS_capset, &v3, (void *)8), EFAULT);

    CHECK_RET(prctl(PR_CAPBSET_READ, CAP_KILL), 1);
    CHECK_RET(prctl(PR_CAPBSET_READ, CAP_SETUID), 0);
    CHECK_ERR(prctl(PR_CAPBSET_READ, CAP_LAST_CAP + 1), EINVAL);
    CHECK_RET(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0), 0);
    CHECK_RET(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_KILL, 0, 0), 1);
    CHECK_ERR(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_CHOWN, 0, 0), EPERM);
    CHECK_RET(set3(SMALL, SMALL, 0), 0);
    CHECK_RET(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_KILL, 0, 0), 0);
    CHECK_RET(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), 0);
    CHECK_RET(prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0), 1);
    CHECK_RET(prctl(PR_GET_SECUREBITS, 0, 0, 0, 0), 0x10);
    CHECK_RET(set3(BIT(CAP_KILL), SMALL, 0), 0);
    CHECK_ERR(prctl(PR_CAPBSET_DROP, CAP_KILL), EPERM);
    CHECK_ERR(prctl(PR_SET_SECUREBITS, 0, 0, 0, 0), EPERM);
    CHECK_RET(set3(SMALL & ~BIT(CAP_SETPCAP), SMALL & ~BIT(CAP_SETPCAP), 0), 0);
    CHECK_ERR(set3(0, 0, BIT(CAP_SETPCAP)), EPERM);
    return done();
}
