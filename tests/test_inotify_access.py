"""inotify's read-side events (IN_ACCESS, IN_OPEN, IN_CLOSE_NOWRITE) compared with Linux:
tests/cprogs/inotify_access.c reads a watched file every way there is and prints the events."""

from __future__ import annotations

from helpers import compare_program_output


def test_read_side_events_match_linux(cprog, tmp_path):
    out = compare_program_output([cprog("inotify_access"), str(tmp_path)])
    assert "read 4: dir:ACCESS(watched) file:ACCESS\n" in out
    assert "read at the end:\n" in out
    for call in ("pread", "readv", "sendfile", "splice to a pipe", "copy_file_range"):
        assert f"{call}: dir:ACCESS(watched) file:ACCESS\n" in out
    assert "close: dir:CLOSE_NOWRITE(watched) file:CLOSE_NOWRITE\n" in out
    assert "list the directory: dir:OPEN|ISDIR dir:ACCESS|ISDIR dir:CLOSE_NOWRITE|ISDIR\n" in out


def test_read_side_events_on_tmpfs(cprog):
    out = compare_program_output([cprog("inotify_access"), "/dev/shm"])
    assert "open: dir:OPEN(watched) file:OPEN\n" in out
