"""`pysandbox do --syscall-profile OUT.json`: which syscalls a workload made, and how they ended.

The recorder wraps the handlers of the syscall table for the life of one sandbox, so the
kernel's dispatch pays nothing when profiling is off. A call is counted when its handler
first runs; its outcome is taken when it completes (a call parked with WouldBlock is
re-run by the kernel and completes later; one a signal ended before completing counts as
interrupted). Syscalls without a handler reach the recorder through the kernel's
unimplemented path (`Kernel.syscall_profile`).

For partial and unimplemented syscalls the record also keeps the values of the
arguments that select behaviour (flags, commands, options), so a reader can see which
paths the workload took.
"""
import errno
import json
from collections import Counter

from pysandbox.sentry import strace
from pysandbox.sentry.errors import SyscallError, WouldBlock
from pysandbox.sentry.syscalls import table
from pysandbox.sentry.syscalls.linux64 import FULL, PARTIAL, UNIMPLEMENTED

FORMAT_VERSION = 1
OK = "ok"
INTERRUPTED = "interrupted"
# Integer arguments that choose what a call does (rather than carrying data).
_SELECTOR_NAMES = frozenset({
    "cmd", "op", "futex_op", "option", "code", "advice", "how", "domain", "type", "level", "optname",
    "request", "resource", "which", "idtype", "operation", "whence", "policy", "opcode", "nstype",
})
_SELECTOR_TYPES = frozenset({"flags", "flags_open", "flags_mmap", "flags_clone", "prot", "clockid"})
_MAX_SELECTOR_VARIANTS = 64


def _selector_positions(entry):
    return tuple(index for index, (name, arg_type) in enumerate(entry.args)
                 if arg_type in _SELECTOR_TYPES or name in _SELECTOR_NAMES)


class _Stats:
    __slots__ = ("calls", "outcomes", "selectors")

    def __init__(self):
        self.calls = 0
        self.outcomes = Counter()
        self.selectors = Counter()


class SyscallProfile:
    """Counts, outcomes and selector arguments of every syscall the sandbox answers."""

    def __init__(self):
        self._output = None
        self._stats = {}                 # name -> _Stats
        self._entries = {}               # name -> Entry (None for numbers the table lacks)
        self._originals = {}             # Entry -> handler before install()

    # -- recording ---------------------------------------------------------------------
    def _stats_for(self, name, entry):
        stats = self._stats.get(name)
        if stats is None:
            stats = self._stats[name] = _Stats()
            self._entries[name] = entry
        return stats

    def _note_selectors(self, stats, entry, args):
        positions = _selector_positions(entry)
        if not positions or len(stats.selectors) >= _MAX_SELECTOR_VARIANTS:
            return
        text = " ".join(f"{entry.args[i][0]}={strace.format_value(entry.args[i][1], args[i])}"
                        for i in positions if i < len(args))
        stats.selectors[text] += 1

    def _wrap(self, entry, handler):
        stats_for = self._stats_for
        note_selectors = self._note_selectors
        detailed = entry.level != FULL
        name = entry.name

        def recorded(t, *args):
            nonlocal handler
            if handler is None:              # first call: import the handler's module now
                handler = entry.resolve()
                entry.handler = recorded
            stats = stats_for(name, entry)
            if not t.syscall_state:          # not a re-run of a parked call
                stats.calls += 1
                if detailed:
                    note_selectors(stats, entry, args)
            try:
                result = handler(t, *args)
            except SyscallError as error:
                stats.outcomes[errno.errorcode.get(error.errno, str(error.errno))] += 1
                raise
            except WouldBlock:
                raise
            stats.outcomes[OK] += 1
            return result

        return recorded

    def record_unimplemented(self, number, entry, raw_args):
        """A syscall without a handler (or a number the table lacks) returned ENOSYS."""
        name = entry.name if entry is not None else f"syscall_{number}"
        stats = self._stats_for(name, entry)
        stats.calls += 1
        stats.outcomes["ENOSYS"] += 1
        if entry is not None:
            self._note_selectors(stats, entry, entry.decode(raw_args))

    # -- installing into the table -----------------------------------------------------
    def install(self):
        """Wrap every handler of the table; undo with uninstall(). Handlers not yet imported
        are imported on their first call, as without a profile."""
        for entry in table.SYSCALLS.values():
            if entry.handler is not None and entry not in self._originals:
                self._originals[entry] = entry.handler
                lazy = getattr(entry.handler, "__func__", None) is table.Entry._resolve_and_call
                resolved = None if lazy else entry.handler
                entry.handler = self._wrap(entry, resolved)

    def uninstall(self):
        for entry, handler in self._originals.items():
            entry.handler = handler
        self._originals.clear()

    # -- the record ----------------------------------------------------------------------
    def to_dict(self, command=(), exit_status=None, platform=None):
        syscalls = {}
        for name, stats in sorted(self._stats.items(), key=lambda item: self._sort_key(item[0])):
            entry = self._entries[name]
            interrupted = stats.calls - sum(stats.outcomes.values())
            outcomes = dict(sorted(stats.outcomes.items(), key=lambda kv: (kv[0] != OK, kv[0])))
            if interrupted > 0:
                outcomes[INTERRUPTED] = interrupted
            record = {
                "nr": entry.nr if entry is not None else int(name.rsplit("_", 1)[1]),
                "level": entry.level if entry is not None else UNIMPLEMENTED,
                "calls": stats.calls,
                "returned": outcomes,
            }
            if entry is not None and entry.level != FULL and entry.note:
                record["note"] = entry.note
            if stats.selectors:
                record["arguments"] = dict(stats.selectors.most_common())
            syscalls[name] = record
        by_level = {level: sorted(n for n, r in syscalls.items() if r["level"] == level)
                    for level in (FULL, PARTIAL, UNIMPLEMENTED)}
        return {
            "format": "pysandbox-syscall-profile",
            "version": FORMAT_VERSION,
            "command": list(command),
            "platform": platform,
            "exit_status": exit_status,
            "total_calls": sum(r["calls"] for r in syscalls.values()),
            "distinct_syscalls": len(syscalls),
            "partial_syscalls_used": by_level[PARTIAL],
            "unimplemented_syscalls_used": by_level[UNIMPLEMENTED],
            "syscalls": syscalls,
        }

    def _sort_key(self, name):
        entry = self._entries[name]
        return entry.nr if entry is not None else int(name.rsplit("_", 1)[1])

    def open_output(self, path):
        """Open the file the record goes to now: once the sentry is confined by its seccomp
        filter it may write to open files but not create or rename them."""
        self._output = open(path, "w")

    def write(self, **details):
        """Write the record as JSON to the file opened by open_output(), and close it."""
        with self._output as out:
            out.write(json.dumps(self.to_dict(**details), indent=2) + "\n")


class ProfileError(Exception):
    """A file given as a syscall profile is not one."""


def load(path):
    """Read a profile written by SyscallProfile.write; ProfileError with one line otherwise."""
    try:
        with open(path) as source:
            data = json.load(source)
    except OSError as error:
        raise ProfileError(f"{path}: {error.strerror.lower()}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ProfileError(f"{path}: not JSON ({error})") from None
    if not isinstance(data, dict) or data.get("format") != "pysandbox-syscall-profile" \
            or not isinstance(data.get("syscalls"), dict):
        raise ProfileError(f"{path}: not a syscall profile written by 'pysandbox do --syscall-profile'")
    return data
