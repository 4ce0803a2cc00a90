"""The syscall table (linux64.py), its resolved form (table.py) and `pysandbox syscalls`."""
import argparse
import contextlib
import csv
import io
import json
import re

import pytest

from pysandbox import cli_syscalls
from pysandbox.sentry.syscalls import table
from pysandbox.sentry.syscalls.linux64 import ARG_TYPES, LEVELS, TABLE, UNALLOCATED, UNIMPLEMENTED

UNISTD_64 = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
HIGHEST_SYSCALL = 461
# Added to Linux after the headers installed here (6.1): from the kernel's syscall_64.tbl.
NEWER_THAN_HEADERS = {
    451: "cachestat", 452: "fchmodat2", 453: "map_shadow_stack", 454: "futex_wake", 455: "futex_wait",
    456: "futex_requeue", 457: "statmount", 458: "listmount", 459: "lsm_get_self_attr",
    460: "lsm_set_self_attr", 461: "lsm_list_modules",
}
MASK64 = (1 << 64) - 1


def kernel_header_names():
    try:
        with open(UNISTD_64) as header:
            text = header.read()
    except FileNotFoundError:
        pytest.skip(f"{UNISTD_64} is missing (apt-get install linux-libc-dev)")
    return {int(nr): name for name, nr in re.findall(r"#define __NR_(\w+) (\d+)", text)}


def by_name(name):
    return next(entry for entry in table.SYSCALLS.values() if entry.name == name)


def registers(*values):
    return tuple(values) + (0,) * (6 - len(values))


# -- the table's contents ------------------------------------------------------------------

def test_every_allocated_number_up_to_the_highest_is_present():
    expected = set(range(HIGHEST_SYSCALL + 1)) - set(UNALLOCATED)
    assert set(TABLE) == expected
    assert set(table.SYSCALLS) == expected


def test_names_match_the_kernel_headers():
    names = kernel_header_names()
    names.update({nr: name for nr, name in NEWER_THAN_HEADERS.items() if nr not in names})
    mismatched = {nr: (syscall.name, names.get(nr)) for nr, syscall in TABLE.items() if names.get(nr) != syscall.name}
    assert mismatched == {}


def test_levels_and_notes_are_consistent():
    for nr, syscall in TABLE.items():
        assert syscall.level in LEVELS, nr
        if syscall.handler is None:
            assert syscall.level == UNIMPLEMENTED, syscall.name
        assert "\n" not in syscall.note, syscall.name
        if syscall.level != "full":
            assert syscall.note, f"{syscall.name} is {syscall.level} and must say why"


def test_handlers_are_named_module_dot_syscall():
    for syscall in TABLE.values():
        if syscall.handler:
            module, function = syscall.handler.split(".")
            assert module.startswith("sys_") and function == syscall.name, syscall


def test_every_handler_resolves():
    """Reports every missing module or function at once."""
    failures = table.resolve_all()
    by_error = {}
    for path, error in failures.items():
        by_error.setdefault(f"{type(error).__name__}: {error}", []).append(path)
    assert not failures, "unresolved handlers:\n" + "\n".join(
        f"  {error}\n    {', '.join(paths)}" for error, paths in by_error.items())
    for entry in table.SYSCALLS.values():
        assert entry.handler is None or callable(entry.handler)


def test_signatures_use_known_types_and_at_most_six_registers():
    for entry in table.SYSCALLS.values():
        assert len(entry.args) <= 6, entry
        assert all(arg_type in ARG_TYPES for _, arg_type in entry.args), entry
        assert len({name for name, _ in entry.args}) == len(entry.args), f"duplicate argument name in {entry}"
        for index, (_, arg_type) in enumerate(entry.args):
            if arg_type == "buf_in":
                assert index + 1 < len(entry.args), f"{entry}: buf_in needs a length argument after it"
        assert entry.ret in ("long", "ptr")


def test_lookup():
    assert table.lookup(0).name == "read"
    assert table.lookup(257).name == "openat"
    assert table.lookup(400) is None          # in the unallocated hole
    assert table.lookup(1000) is None
    assert table.lookup(-1) is None


def test_handler_is_resolved_on_first_call_and_kept():
    entry = table.Entry(63, TABLE[63])
    trampoline = entry.handler
    from pysandbox.sentry.syscalls import sys_identity

    class Memory:
        written = None
        personality = 0

        def copy_out(self, addr, data):
            self.written = (addr, data)

    class Kernel:
        hostname, domainname = "box", "(none)"

    task = Memory()
    task.kernel = Kernel()
    assert entry.handler(task, 0x1000) == 0
    assert entry.handler is sys_identity.uname and entry.handler is not trampoline
    assert task.written[0] == 0x1000 and task.written[1].startswith(b"Linux\0")


# -- argument decoding ---------------------------------------------------------------------

def test_fd_is_a_signed_32_bit_value():
    read = by_name("read")
    assert table.decode_args(read, registers(MASK64, 0x1000, 10)) == (-1, 0x1000, 10)
    assert table.decode_args(read, registers(0xFFFFFF9C, 0, 0))[0] == -100      # AT_FDCWD from a 32-bit store
    assert table.decode_args(read, registers(0x1_0000_0003, 0, 0))[0] == 3       # upper half ignored


def test_unsigned_32_bit_arguments_drop_the_upper_half():
    lseek = by_name("lseek")
    assert table.decode_args(lseek, registers(3, 10, 0xDEAD_0000_0001)) == (3, 10, 1)
    assert table.decode_args(by_name("setuid"), registers(MASK64))[0] == 0xFFFFFFFF


def test_signed_64_bit_arguments():
    lseek = by_name("lseek")
    assert table.decode_args(lseek, registers(3, MASK64, 0))[1] == -1
    assert table.decode_args(lseek, registers(3, 1 << 63, 0))[1] == -(1 << 63)


def test_unsigned_64_bit_arguments_pass_through():
    mmap = by_name("mmap")
    assert table.decode_args(mmap, registers(0, MASK64, 3, 0x22, MASK64, MASK64)) == (0, MASK64, 3, 0x22, -1, MASK64)


def test_decoding_yields_one_value_per_argument():
    for entry in table.SYSCALLS.values():
        assert len(table.decode_args(entry, registers(1, 2, 3, 4, 5, 6))) == len(entry.args)


# -- pysandbox syscalls ----------------------------------------------------------------------

def run_cli(*argv):
    parser = argparse.ArgumentParser()
    cli_syscalls.add_parser(parser.add_subparsers())
    args = parser.parse_args(["syscalls", *argv])
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert args.func(args) == 0
    return output.getvalue()


def test_cli_csv_has_one_row_per_syscall():
    rows = list(csv.reader(io.StringIO(run_cli("--format", "csv"))))
    assert rows[0] == ["number", "name", "level", "note"]
    assert len(rows) - 1 == len(TABLE)
    assert rows[1][:3] == ["0", "read", "full"]


def test_cli_json():
    records = json.loads(run_cli("--format", "json"))
    assert [record["number"] for record in records] == sorted(TABLE)
    assert records[63] == {"number": 63, "name": "uname", "level": "full", "note": ""}


def test_cli_markdown_and_table():
    markdown = run_cli("--format", "markdown").splitlines()
    assert markdown[0] == "| Number | Name | Level | Note |" and len(markdown) == len(TABLE) + 2
    plain = run_cli().splitlines()
    assert plain[0].split() == ["NR", "NAME", "LEVEL", "NOTE"]
    assert plain[1].split()[:3] == ["0", "read", "full"]
    counts = {level: sum(1 for s in TABLE.values() if s.level == level) for level in LEVELS}
    assert plain[-1] == ", ".join(f"{counts[level]} {level}" for level in LEVELS)


def test_cli_rejects_an_unknown_format():
    parser = argparse.ArgumentParser()
    cli_syscalls.add_parser(parser.add_subparsers())
    with pytest.raises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
        parser.parse_args(["syscalls", "--format", "xml"])


# -- --compare with another runtime's table ----------------------------------------------------

REFERENCE_CSV = ("OS,Arch,Num,Name,Support,Note\n"
                 "linux,amd64,0,read,Full Support,Fully Supported.\n"
                 "linux,amd64,9,mmap,Partial Support,\"Options MAP_SYNC, MAP_SHARED_VALIDATE are not supported.\n"
                 "See: gvisor.dev/issue/1\"\n"
                 "linux,amd64,29,shmget,Full Support,Fully Supported.\n"
                 "linux,amd64,134,uselib,Unimplemented,Obsolete.\n")


def test_compare_counts_both_sides_and_lines_rows_up(tmp_path):
    path = tmp_path / "runsc.csv"
    path.write_text(REFERENCE_CSV)
    reference = cli_syscalls.load_reference(str(path))
    assert reference[9] == ("mmap", "partial", "Options MAP_SYNC, MAP_SHARED_VALIDATE are not supported.\n"
                                               "See: gvisor.dev/issue/1")
    assert cli_syscalls.compare_counts(reference) == {"full": 2, "partial": 1, "unimplemented": 1}
    data = json.loads(cli_syscalls.render_comparison(reference, "json"))
    ours = {level: sum(1 for row in table.rows() if row[2] == level) for level in LEVELS}
    assert data["counts"] == {"pysandbox": ours, "reference": {"full": 2, "partial": 1, "unimplemented": 1}}
    rows = {row["number"]: row for row in data["syscalls"]}
    assert rows[0]["reference_level"] == "full" and rows[0]["level"] == table.SYSCALLS[0].level
    assert rows[1]["reference_level"] == "-"                     # runsc's table lacks it
    plain = cli_syscalls.render_comparison(reference, "table")
    assert plain.splitlines()[-2].startswith("pysandbox: ") and "reference: 2 full, 1 partial" in plain
    assert list(csv.reader(io.StringIO(cli_syscalls.render_comparison(reference, "csv"))))[0] == \
        list(cli_syscalls.COMPARE_COLUMNS)
    assert cli_syscalls.render_comparison(reference, "markdown").startswith("| Number | Name | pysandbox |")


def test_compare_rejects_what_is_not_a_table(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a syscall table"):
        cli_syscalls.load_reference(str(bad))
    bad.write_text("Num,Name,Support\nx,read,Full Support\n")
    with pytest.raises(ValueError, match="line 2: Num is not a number"):
        cli_syscalls.load_reference(str(bad))
    bad.write_text("Num,Name,Support\n0,read,Sort of\n")
    with pytest.raises(ValueError, match="unknown support level"):
        cli_syscalls.load_reference(str(bad))
