"""`pysandbox footprint`: for each kind of pysandbox process, the host syscalls it can reach.

Read from the filters themselves (security/seccomp.py for the sentry, the ptrace stub's own
list), so the report cannot drift from what is enforced. gVisor's published figure for
comparison: its sentry allows 74 host syscalls, plus 4 more on the ptrace platform.
"""
import json

from pysandbox.security import seccomp

GVISOR_SENTRY, GVISOR_PTRACE_EXTRA = 74, 4


def process_footprints(platform="ptrace", network="none"):
    """[(process, description, [(name, [arg checks])])] for the given platform and network."""
    from pysandbox.platform.ptrace.stub import STUB_SYSCALLS
    sentry = _listed(seccomp.sentry_rules(network, platform))
    sentry += [(name, [f"always fails with {__import__('errno').errorcode[error]}"])
               for name, error in seccomp.FALLBACK_ERRNOS.items()]
    kinds = [("sentry", "the sandbox process: kernel, VFS, event loop", sentry),
             ("gofer", "serves host files of the rootfs and mounts (directfs: their xattrs only)",
              _listed(seccomp.GOFER_RULES))]
    outer = seccomp.outer_rules("the sandbox process", write_fds=("log", "stderr", "cgroup.procs", "exit status"),
                                read_fds=("OOM counters",), directory_fds=("cgroup parent",),
                                truncated_fds=("exit status",))
    kinds.append(("outer", "the process `do` or an OCI container's pid runs as: waits for the sandbox "
                           "process, passes signals on, removes its host cgroups; no capabilities",
                  _listed(outer)))
    if platform == "ptrace":
        kinds.append(("stub", "one per guest address space; makes only what the sentry injects",
                      [(name, []) for name in sorted(STUB_SYSCALLS, key=STUB_SYSCALLS.get)]))
    if platform == "kvm":
        kinds.append(("vcpu", "one host thread per KVM vCPU: its own filter, on top of the sentry's",
                      _listed(seccomp.vcpu_rules("vcpu", "eventfd", "log"))))
    return kinds


def _listed(rules):
    """[(name, [arg checks])] of seccomp rules."""
    return [(rule.name, [check.describe() for check in rule.checks]) for rule in rules]


def allowed_count(calls):
    """Calls that can succeed (the fallbacks that always fail do not count)."""
    return sum(1 for _name, checks in calls if not any(c.startswith("always fails") for c in checks))


def run(args):
    kinds = process_footprints(args.platform, args.network)
    if args.format == "json":
        print(json.dumps({"platform": args.platform, "network": args.network,
                          "gvisor": {"sentry": GVISOR_SENTRY, "ptrace_extra": GVISOR_PTRACE_EXTRA},
                          "processes": [{"process": name, "what": what, "count": allowed_count(calls),
                                         "syscalls": [{"name": call, "checks": checks} for call, checks in calls]}
                                        for name, what, calls in kinds]}, indent=1))
        return 0
    for name, what, calls in kinds:
        print(f"{name}: {allowed_count(calls)} host syscalls ({what})")
        for call, checks in calls:
            print(f"  {call:18} {'; '.join(checks)}")
    print(f"gVisor for comparison: {GVISOR_SENTRY} in its sentry, plus {GVISOR_PTRACE_EXTRA} on ptrace")
    return 0


def add_parser(commands):
    parser = commands.add_parser("footprint", help="the host syscalls each pysandbox process can make")
    parser.add_argument("--platform", default="ptrace", choices=("ptrace", "kvm"))
    parser.add_argument("--network", default="none", choices=("none", "host"),
                        help="host sockets add their calls to the sentry's")
    parser.add_argument("--format", default="table", choices=("table", "json"))
