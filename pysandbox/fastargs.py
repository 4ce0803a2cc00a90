"""Reading a plain command line without argparse, from the declarations argparse is built from.

Every `pysandbox do` and every OCI verb the container shim runs is a new process, and argparse
costs each of them several ms (its imports, gettext and locale's, and building the parser). So
the usual command lines are read here, from the same `(flag names, argparse keywords)` pairs
that build the parsers, and anything this reader is not sure of (help, an abbreviation, a bad
value, a missing argument) makes it give up: the caller then lets argparse read the command line,
which answers exactly as before. tests/test_fast_parse.py
checks both readers against argparse.

Understood keywords: action (store, store_true, store_false, append, and OPTIONAL_BOOL for
argparse.BooleanOptionalAction), type (a function raising ValueError), choices, default, dest,
and nargs "?" for a positional.
"""

OPTIONAL_BOOL = "optional_bool"      # argparse.BooleanOptionalAction: --x / --no-x


def default(options):
    """The value an option or positional has when the command line doesn't give it."""
    implied = {"store_true": False, "store_false": True, "append": None}.get(options.get("action"))
    return options.get("default", implied)


def dest(names, options):
    """The attribute an option's value goes to, as argparse names it."""
    if "dest" in options:
        return options["dest"]
    name = next((name for name in names if name.startswith("--")), names[0])
    return name.lstrip("-").replace("-", "_")


def defaults(declarations):
    """{attribute: default} for (names, options) declarations; append's lists are fresh."""
    values = {}
    for names, options in declarations:
        value = default(options)
        values[dest(names, options)] = list(value or []) if options.get("action") == "append" else value
    return values


def read(argv, index, flags, values, positionals=None):
    """Read argv from `index` into `values` with the option declarations `flags`.

    With positionals None, stop at the first word that is not an option (or at "--") and return
    its index. Otherwise take the positionals ((names, options), in order) from the words between
    options, as argparse matches them, and read to the end: return len(argv). Return None for
    anything argparse must answer.
    """
    by_name = {name: (names, options) for names, options in flags for name in names if name.startswith("-")}
    positionals = None if positionals is None else list(positionals)
    after_positional = False
    while index < len(argv):
        word = argv[index]
        if not word.startswith("-") or word == "-" or (word == "--" and positionals is None):
            if positionals is None:
                return index
            if not positionals or word == "--":
                return None
            names, options = positionals.pop(0)
            values[dest(names, options)] = word
            index += 1
            after_positional = True
            continue
        # argparse matches positionals a run of words at a time: one that may be absent ("?")
        # is taken, empty, by the run before an option.
        while after_positional and positionals and positionals[0][1].get("nargs") == "?":
            positionals.pop(0)
        after_positional = False
        name, has_value, value = word.partition("=")
        negated = by_name.get("--" + name[5:]) if name.startswith("--no-") else None
        if negated is not None and negated[1].get("action") == OPTIONAL_BOOL and name not in by_name:
            if has_value:
                return None
            values[dest(*negated)] = False
            index += 1
            continue
        if name not in by_name or (has_value and not name.startswith("--")):
            return None
        names, options = by_name[name]
        action = options.get("action", "store")
        index += 1
        if action in ("store_true", "store_false", OPTIONAL_BOOL):
            if has_value:
                return None
            values[dest(names, options)] = action != "store_false"
            continue
        if not has_value:
            if index >= len(argv) or argv[index].startswith("-"):
                return None
            value = argv[index]
            index += 1
        if value not in options.get("choices", (value,)):
            return None
        if "type" in options:
            try:
                value = options["type"](value)
            except ValueError:
                return None
        if action == "append":
            values[dest(names, options)] = values[dest(names, options)] + [value]
        else:
            values[dest(names, options)] = value
    if positionals and any(options.get("nargs") != "?" for _, options in positionals):
        return None
    return index


def argparse_type(check):
    """`check` (which raises ValueError) as an argparse type, whose message argparse shows."""
    import argparse

    def convert(text):
        try:
            return check(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    convert.__name__ = check.__name__
    return convert


class Arguments:
    """What a reader makes of a command line: the attributes argparse's Namespace would have."""

    def __init__(self, values):
        self.__dict__.update(values)
