"""The syscall table ready for use: lookup, fast argument decoding, handler resolution.

The kernel's dispatch is

    entry = lookup(nr)                  # None: ENOSYS
    if entry is None or entry.handler is None: ...ENOSYS...
    result = entry.handler(t, *entry.decode(raw_args))

where raw_args is the tuple (rdi, rsi, rdx, r10, r8, r9). Handlers are named by
strings in linux64.py so that the table imports before every handler module exists;
each entry imports its module on its first call and keeps the function from then on.
Call resolve_all() at start-up to import them all at once (before the sentry's own
seccomp filter, since imports open files).
"""
import sys

from .linux64 import ARG_TYPES, S32, S64, TABLE, U32, U64

# Registers arrive as unsigned 64-bit values, so U64 needs no work.
_DECODE_EXPRESSIONS = {
    S32: "((r[{i}] + 0x80000000) & 0xFFFFFFFF) - 0x80000000",
    U32: "r[{i}] & 0xFFFFFFFF",
    S64: "((r[{i}] + 0x8000000000000000) & 0xFFFFFFFFFFFFFFFF) - 0x8000000000000000",
    U64: "r[{i}]",
}


# By the registers' decodings (read, write and many more share (S32, U64, U64)): each is
# generated once, and a start makes ~10 (functools.cache would cost start-up its import).
_decoders, _register_decoders = {}, {}


def _decoder(kinds):
    """A function mapping the six raw registers to the decoded arguments, generated once per tuple
    of decodings (Entry._kinds)."""
    if kinds not in _decoders:
        values = "".join(_DECODE_EXPRESSIONS[kind].format(i=i) + ", " for i, kind in enumerate(kinds))
        _decoders[kinds] = eval(f"lambda r: ({values})")  # the source is built only from the constants above
    return _decoders[kinds]


_REGISTERS = ("rdi", "rsi", "rdx", "r10", "r8", "r9")


def _register_decoder(kinds):
    """Like _decoder, but reading just the registers the signature uses from the register struct."""
    if kinds not in _register_decoders:
        values = "".join(_DECODE_EXPRESSIONS[kind].replace("r[{i}]", "regs." + _REGISTERS[i]).format() + ", "
                         for i, kind in enumerate(kinds))
        _register_decoders[kinds] = eval(f"lambda regs: ({values})")  # built only from the constants above
    return _register_decoders[kinds]


def _parse_signature(spec):
    """'fd:fd buf:buf_out' -> (('fd', 'fd'), ('buf', 'buf_out'))."""
    args = tuple(tuple(pair.split(":")) for pair in spec.split())
    unknown = [arg_type for _, arg_type in args if arg_type not in ARG_TYPES]
    if unknown:
        raise ValueError(f"unknown argument types {unknown} in {spec!r}")
    return args


class Entry:
    """One syscall of the table, with its decoder and (once called) its handler function."""

    __slots__ = ("nr", "name", "handler_path", "level", "note", "_spec", "_args", "ret", "decode",
                 "decode_regs", "handler")

    def __init__(self, nr, syscall):
        self.nr = nr
        self.name = syscall.name
        self.handler_path = syscall.handler
        self.level = syscall.level
        self.note = syscall.note
        self._spec = syscall.args
        self._args = None
        self.ret = syscall.ret
        self.decode = self._make_decoder
        self.decode_regs = self._make_register_decoder
        self.handler = self._resolve_and_call if syscall.handler else None

    @property
    def args(self):
        """The signature as ((name, type), ...), parsed on first use to keep start-up short."""
        if self._args is None:
            self._args = _parse_signature(self._spec)
        return self._args

    def _kinds(self):
        """How each argument's register decodes (S32, U32, S64, U64)."""
        return tuple(ARG_TYPES[arg_type] for _, arg_type in self.args)

    # Decoders are generated on first use, keeping start-up short.
    def _make_decoder(self, raw_args):
        self.decode = _decoder(self._kinds())
        return self.decode(raw_args)

    def _make_register_decoder(self, regs):
        self.decode_regs = _register_decoder(self._kinds())
        return self.decode_regs(regs)

    def resolve(self):
        """Import the handler's module and keep the function as `handler`; return it."""
        module_name, function_name = self.handler_path.rsplit(".", 1)
        qualified = f"{__package__}.{module_name}"
        __import__(qualified)          # not importlib.import_module: the importlib package costs start-up
        module = sys.modules[qualified]
        self.handler = getattr(module, function_name)
        return self.handler

    def _resolve_and_call(self, t, *args):
        return self.resolve()(t, *args)

    def __repr__(self):
        return f"<syscall {self.nr} {self.name}>"


entries = {}                    # nr -> Entry, made on first lookup: a start calls ~30 of the ~370


def lookup(nr):
    """The entry for syscall number nr, or None when x86_64 Linux has no such syscall."""
    entry = entries.get(nr)
    if entry is None:
        syscall = TABLE.get(nr)
        if syscall is None:
            return None
        entry = entries[nr] = Entry(nr, syscall)
    return entry


def all_entries():
    """{nr: Entry} of the whole table, by number (the entries lookup returns)."""
    return {nr: lookup(nr) for nr in sorted(TABLE)}


def __getattr__(name):
    if name == "SYSCALLS":                  # what the table's readers (coverage, tests) iterate
        return all_entries()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def decode_args(entry, raw_args):
    """The handler's arguments, as a tuple, from the registers (rdi, rsi, rdx, r10, r8, r9) as
    unsigned 64-bit values."""
    return entry.decode(raw_args)


def resolve_all():
    """Resolve every handler now; return {handler_path: error} for those that failed."""
    failures = {}
    for entry in all_entries().values():
        if entry.handler_path is None:
            continue
        try:
            entry.resolve()
        except Exception as error:  # whatever importing raised: report every failure, not the first
            failures[entry.handler_path] = error
    return failures


def rows():
    """(number, name, level, note) for every syscall, by number."""
    return [(entry.nr, entry.name, entry.level, entry.note) for entry in all_entries().values()]
