"""memfd seals against shared mappings, compared with Linux: tests/cprogs/seals_mmap.c prints one
line per call, natively and under pysandbox."""

from __future__ import annotations

from helpers import compare_program_output


def test_seals_and_shared_mappings_match_linux(cprog):
    out = compare_program_output([cprog("seals_mmap")])
    assert "seal write while mapped: EBUSY\n" in out
    assert "seal write with a read-only shared map: EBUSY\n" in out
    assert "child: seal write while the parent maps it: EBUSY\n" in out
    assert "map shared writable after seal: EPERM\nmap private writable after seal: 0\n" in out
    assert "old mapping still writes: b\nwrite after future seal: EPERM\n" in out
    assert "map shared writable after future seal: EPERM\n" in out
    assert out.count("mprotect it writable: EACCES\n") == 2
    assert "punch hole after write seal: EPERM\n" in out
    assert "fallocate keep size beyond: EPERM\n" in out
    assert "mprotect that writable: EACCES\nmprotect a private map of it writable: 0\n" in out


def test_seals_in_a_static_binary(cprog):
    compare_program_output([cprog("seals_mmap", static=True)])
