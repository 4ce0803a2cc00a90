"""`pysandbox syscalls`: print the syscall table with each syscall's support level."""
from collections import Counter

from .sentry.syscalls.linux64 import FULL, LEVELS, PARTIAL, UNIMPLEMENTED
from .sentry.syscalls.table import rows

FORMATS = ("table", "csv", "json", "markdown")
COLUMNS = ("number", "name", "level", "note")


def add_parser(subparsers):
    parser = subparsers.add_parser("syscalls", help="list the syscalls and how fully each is supported",
                                   description="List every x86_64 syscall with its support level and a note.")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    parser.add_argument("--compare", metavar="FILE.csv",
                        help="put another runtime's table beside ours (gVisor's `runsc help syscalls` CSV: "
                             "OS,Arch,Num,Name,Support,Note) and count each side's levels")
    parser.set_defaults(func=run)
    return parser


def run(args):
    if args.compare:
        from pysandbox.sentry.errors import SandboxError
        try:
            reference = load_reference(args.compare)
        except OSError as error:
            raise SandboxError(f"--compare {args.compare}: {error.strerror.lower()}", 2) from None
        except ValueError as error:
            raise SandboxError(f"--compare {args.compare}: {error}", 2) from None
        print(render_comparison(reference, args.format), end="")
        return 0
    print(render(args.format), end="")
    return 0


# A reference table's support texts, as runsc prints them, mapped to our levels.
_REFERENCE_LEVELS = {"full support": FULL, "partial support": PARTIAL, "unimplemented": UNIMPLEMENTED}


def load_reference(path):
    """{number: (name, level, note)} from a gVisor-style CSV (OS,Arch,Num,Name,Support,Note);
    ValueError with one line for a file that is not one."""
    import csv
    with open(path, newline="") as source:
        reader = csv.DictReader(source)
        needed = {"Num", "Name", "Support"}
        if reader.fieldnames is None or not needed <= set(reader.fieldnames):
            raise ValueError(f"not a syscall table (needs the columns {', '.join(sorted(needed))})")
        table = {}
        for line, row in enumerate(reader, start=2):
            try:
                number = int(row["Num"])
            except (TypeError, ValueError):
                raise ValueError(f"line {line}: Num is not a number") from None
            level = _REFERENCE_LEVELS.get((row["Support"] or "").strip().lower())
            if level is None:
                raise ValueError(f"line {line}: unknown support level {row['Support']!r}")
            table[number] = (row["Name"], level, (row.get("Note") or "").strip())
    return table


def compare_counts(reference):
    counts = Counter(level for _, level, _ in reference.values())
    return {level: counts[level] for level in LEVELS}


COMPARE_COLUMNS = ("number", "name", "level", "reference_level", "note", "reference_note")


def comparison_rows(reference):
    """(number, name, our level, their level, our note, their note) for every number either side has;
    a side without the number shows "-" (runsc leaves out syscalls it has never heard of)."""
    ours = {nr: (name, level, note) for nr, name, level, note in rows()}
    merged = []
    for nr in sorted(set(ours) | set(reference)):
        name, level, note = ours.get(nr, (None, "-", ""))
        their_name, their_level, their_note = reference.get(nr, (name, "-", ""))
        merged.append((nr, name or their_name, level, their_level, note, their_note))
    return merged


def render_comparison(reference, output_format):
    import json
    merged = comparison_rows(reference)
    ours = Counter(level for _, _, level, _ in rows())
    theirs = compare_counts(reference)
    if output_format == "json":
        return json.dumps({"counts": {"pysandbox": {level: ours[level] for level in LEVELS}, "reference": theirs},
                           "syscalls": [dict(zip(COMPARE_COLUMNS, row)) for row in merged]}, indent=2) + "\n"
    if output_format == "csv":
        import csv
        import io
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(COMPARE_COLUMNS)
        writer.writerows(merged)
        return text.getvalue()
    both = Counter((level, their) for _, _, level, their, _, _ in merged)
    totals = (f"pysandbox: {', '.join(f'{ours[level]} {level}' for level in LEVELS)}; "
              f"reference: {', '.join(f'{theirs[level]} {level}' for level in LEVELS)}")
    agreement = (f"both full: {both[(FULL, FULL)]}; reference full, ours not: "
                 f"{sum(n for (mine, their), n in both.items() if their == FULL and mine != FULL)}; "
                 f"ours full, reference not: "
                 f"{sum(n for (mine, their), n in both.items() if mine == FULL and their != FULL)}")
    if output_format == "markdown":
        lines = ["| Number | Name | pysandbox | reference | Note | Reference note |", "|---:|---|---|---|---|---|"]
        lines += [f"| {nr} | {name} | {level} | {their} | {_markdown_cell(note)} | {_markdown_cell(their_note)} |"
                  for nr, name, level, their, note, their_note in merged]
        return "\n".join(lines + ["", totals + ".", agreement + "."]) + "\n"
    name_width = max(len(name) for _, name, *_ in merged)
    level_width = max(len(level) for level in LEVELS)
    lines = [f"{nr:>3}  {name:<{name_width}}  {level:<{level_width}}  {their:<{level_width}}  {note}".rstrip()
             for nr, name, level, their, note, _ in [("NR", "NAME", "PYSANDBOX", "REFERENCE", "NOTE", ""), *merged]]
    return "\n".join(lines + [totals, agreement]) + "\n"


def render(output_format):
    """The whole table as text in one of FORMATS."""
    import json
    table = rows()
    if output_format == "csv":
        return _csv(table)
    if output_format == "json":
        return json.dumps([dict(zip(COLUMNS, row)) for row in table], indent=2) + "\n"
    if output_format == "markdown":
        return _markdown(table)
    return _plain(table)


def _csv(table):
    import csv
    import io
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(table)
    return text.getvalue()


def _markdown(table):
    lines = ["| " + " | ".join(column.capitalize() for column in COLUMNS) + " |", "|---:|---|---|---|"]
    lines += [f"| {nr} | {name} | {level} | {_markdown_cell(note)} |" for nr, name, level, note in table]
    return "\n".join(lines) + "\n"


def _markdown_cell(text):
    return text.replace("|", "\\|")


def _plain(table):
    name_width = max(len(name) for _, name, _, _ in table)
    level_width = max(len(level) for level in LEVELS)
    lines = [f"{nr:>3}  {name:<{name_width}}  {level:<{level_width}}  {note}".rstrip()
             for nr, name, level, note in [("NR", "NAME", "LEVEL", "NOTE"), *table]]
    counts = Counter(level for _, _, level, _ in table)
    lines.append(", ".join(f"{counts[level]} {level}" for level in LEVELS))
    return "\n".join(lines) + "\n"

