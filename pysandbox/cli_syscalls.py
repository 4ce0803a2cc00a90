"""`pysandbox syscalls`: print the syscall table with each syscall's support level."""
from collections import Counter

from .sentry.syscalls.linux64 import LEVELS
from .sentry.syscalls.table import rows

FORMATS = ("table", "csv", "json", "markdown")
COLUMNS = ("number", "name", "level", "note")


def add_parser(subparsers):
    parser = subparsers.add_parser("syscalls", help="list the syscalls and how fully each is supported",
                                   description="List every x86_64 syscall with its support level and a note.")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    parser.set_defaults(func=run)
    return parser


def run(args):
    print(render(args.format), end="")
    return 0


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

