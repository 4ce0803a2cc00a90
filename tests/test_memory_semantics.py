"""Memory syscalls against native Linux: mmap placement, flags and errors,
file-backed and shared mappings, the faults after munmap/mprotect, mremap,
madvise, brk, /proc/self/maps, and I/O with buffers running into a PROT_NONE
page.
"""

from __future__ import annotations


import pytest

from helpers import compare_program_output, compare_with_native

# Run on every platform the host offers (tests/conftest.py: each_platform).
pytestmark = pytest.mark.usefixtures("each_platform")


def test_mmap_munmap_mprotect_mremap_madvise_brk(build):
    out = compare_program_output([build("mem_mmap")])
    for line in [
        "length 0: -1 EINVAL",
        "neither MAP_PRIVATE nor MAP_SHARED: -1 EINVAL",
        "unaligned offset, bad fd: -1 EINVAL",
        "anonymous MAP_SHARED_VALIDATE: -1 EINVAL",
        "file MAP_SHARED_VALIDATE with an unknown flag: -1 EOPNOTSUPP",
        "free hint honoured: yes",
        "MAP_FIXED_NOREPLACE over a mapping: EEXIST",
        "MAP_FIXED replaces the middle page: at the address yes, new page zero yes, neighbours kept yes",
        "write to the private mapping: visible in memory yes, file unchanged yes",
        "MAP_SHARED|MAP_ANONYMOUS across fork: child saw the parent's write yes, parent sees the child's yes; "
        "private page not shared yes",
        "read of an unmapped page: signal 11 SEGV_MAPERR si_addr is the address: yes",
        "write to a PROT_READ page: signal 11 SEGV_ACCERR/BUS_ADRERR si_addr is the address: yes",
        "mprotect of an unmapped range: -1 ENOMEM",
        # Linux changes the pages before the hole, then fails.
        "  write to the page before the hole: signal 11 SEGV_ACCERR/BUS_ADRERR si_addr is the address: yes",
        "mremap grow into free space: in place yes, content kept yes, new part zero and writable yes",
        "mremap grow without MREMAP_MAYMOVE into a mapping: ENOMEM",
        "mremap MREMAP_MAYMOVE: moved yes, content kept yes, old range unmapped yes",
        "mremap MREMAP_FIXED: at the target yes, content kept yes, writable as before yes",
        "mremap of a large private file mapping: own write kept yes, grown part from the file yes",
        "mremap MREMAP_DONTUNMAP: moved with content yes, old range still mapped and empty yes",
        "mremap old_size 0 of shared memory: a second view of it yes",
        "  past the end of the shared object: signal 7 SEGV_ACCERR/BUS_ADRERR si_addr is the address: yes",
        "private anonymous page zeroed yes, the next one kept yes",
        "madvise MADV_DONTNEED over a hole: -1 ENOMEM",
        "  the mapped part was dropped anyway: yes",
        "access above the shrunk break: signal 11 SEGV_MAPERR si_addr is the address: yes",
        "regrown pages come back zero: yes",
    ]:
        assert line + "\n" in out


def test_proc_maps_and_io_into_a_protected_page(build):
    out = compare_program_output([build("mem_maps_efault")])
    for line in [
        "after mprotect of two pages: ---p r--p rw-p",
        "after mprotect back: rw-p",
        "after munmap of the rest: (not in maps)",
        "file mapping line shows offset 0 and the file's path: yes",
        "read into a PROT_NONE page: -1 EFAULT",
        "read of 100 bytes with 10 before the PROT_NONE page: 10",
        "  file offset after it: 10",
        "write of 100 bytes with 10 before the PROT_NONE page: 10",
        "readv whose second buffer is PROT_NONE: 20",
        "  the data stays in the pipe: 50",
    ]:
        assert line + "\n" in out


def test_shared_file_mappings_are_shared_across_fork(build, tmp_path):
    # In the sandbox the file lives in the in-memory overlay over the host's /.
    program = build("mem_shared_file")
    sandboxed = compare_with_native([program, str(tmp_path)])
    assert sandboxed.out == ("parent's shared mapping: written by the child\n"
                             "the file: written by the child\n"
                             "private write kept out of the file: yes\n"), sandboxed
