"""`pysandbox profile seccomp` and `pysandbox conformance`: the coverage commands."""
import sys

from pysandbox.sentry.errors import SandboxError

USAGE_ERROR = 2
# Kept here rather than imported, so that parsing any command line stays cheap; the modules
# that implement them check that they agree (tests/test_coverage_cli.py).
SECCOMP_RUNTIMES = ("runc", "none")
SUITE_NAMES = ("ctests", "cpython", "stress-ng")
DEFAULT_SUITES = SUITE_NAMES


def add_parsers(subparsers):
    profile = subparsers.add_parser("profile", help="turn a syscall profile (do --syscall-profile) into something else",
                                    description="Work with a syscall profile recorded by "
                                                "'pysandbox do --syscall-profile OUT.json'.")
    kinds = profile.add_subparsers(dest="profile_kind", metavar="KIND")
    seccomp = kinds.add_parser("seccomp", help="print a Docker/OCI seccomp profile allowing what the workload used",
                               description="Print a Docker/OCI seccomp profile (JSON) that allows exactly the "
                                           "syscalls of the profile, plus what the container runtime needs "
                                           "after installing the filter; anything else fails with EPERM.")
    seccomp.add_argument("profile", metavar="PROFILE.json", help="written by 'pysandbox do --syscall-profile'")
    seccomp.add_argument("--runtime", choices=SECCOMP_RUNTIMES, default="runc",
                         help="also allow what this runtime calls between the filter and the first execve "
                              "(default: runc, which Docker uses too)")
    seccomp.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")

    conformance = subparsers.add_parser(
        "conformance", help="run conformance suites natively and in the sandbox, and report",
        description="Run test suites natively and inside the sandbox and report both side by side.")
    conformance.add_argument("--suite", action="append", choices=SUITE_NAMES, metavar="NAME",
                             help=f"a suite to run (repeatable; {', '.join(SUITE_NAMES)}; "
                                  f"default: {', '.join(DEFAULT_SUITES)})")
    conformance.add_argument("--platform", default="ptrace", help="the sandbox's platform (default: ptrace)")
    conformance.add_argument("--report", metavar="DIR", default="conformance-report",
                             help="where report.json and report.md go (default: ./conformance-report)")
    conformance.add_argument("--only", action="append", default=[], metavar="TEST",
                             help="run only these tests of the chosen suites (repeatable)")
    conformance.add_argument("--quick", action="store_true", help="a short subset of each suite")
    conformance.add_argument("--jobs", type=int, default=2, help="tests run at once (default: 2)")
    conformance.add_argument("--markdown", metavar="FILE",
                             help="also write the Markdown summary to FILE (docs/coverage.md is made this way)")


def run(args):
    if args.command == "profile":
        return _run_profile(args)
    return _run_conformance(args)


def _run_profile(args):
    if args.profile_kind != "seccomp":
        raise SandboxError("profile: missing KIND (seccomp; see 'pysandbox profile --help')", USAGE_ERROR)
    import json
    from pysandbox.coverage import profile, seccomp
    try:
        record = profile.load(args.profile)
    except profile.ProfileError as error:
        raise SandboxError(str(error), USAGE_ERROR) from None
    text = json.dumps(seccomp.seccomp_profile(record, runtime=args.runtime), indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        with open(args.output, "w") as out:
            out.write(text)
    except OSError as error:
        raise SandboxError(f"--output {args.output}: {error.strerror.lower()}", USAGE_ERROR) from None
    return 0


def _run_conformance(args):
    from pysandbox.coverage import conformance
    return conformance.main(args)
