/* Change the host's identity (the harness compares it before and after):
 *   sethostname    set the hostname
 *   settimeofday   move the realtime clock one second forward */
#include "attack.h"
#include <sys/time.h>
#include <time.h>

int main(int argc, char **argv)
{
    const char *how = argc > 1 ? argv[1] : "";
    if (!strcmp(how, "sethostname")) {
        const char *name = "psb-bench-pwned";
        if (sethostname(name, strlen(name)) == 0)
            say("info", "sethostname returned 0");
        else
            blocked("sethostname: %s", strerror(errno));
    } else if (!strcmp(how, "settimeofday")) {
        struct timeval now;
        gettimeofday(&now, NULL);
        now.tv_sec += 1;
        if (settimeofday(&now, NULL) == 0)
            say("info", "settimeofday returned 0");
        else
            blocked("settimeofday: %s", strerror(errno));
    } else {
        return 2;
    }
    return 0;
}
