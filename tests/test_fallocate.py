"""fallocate(2) modes and errnos compared with Linux: tests/cprogs/fallocate_modes.c prints one
line per call and a digest of the file after it.

tmpfs answers only allocation and PUNCH_HOLE (EOPNOTSUPP for the rest), so /dev/shm is compared
directly, and the overlay (whose upper layer is the sentry's tmpfs) is compared with Linux's
tmpfs. Host files in a bind mount are compared with the same directory natively, in both gofer
modes."""

from __future__ import annotations

import pytest

from helpers import assert_same, compare_program_output, run_native, run_sandbox


def test_tmpfs_matches_linux(cprog):
    out = compare_program_output([cprog("fallocate_modes"), "/dev/shm"])
    assert "punch a block: 0\n" in out
    assert "zero range: EOPNOTSUPP\n" in out
    assert "collapse a block: EOPNOTSUPP\n" in out
    assert "pipe: ESPIPE\nsocket: ENODEV\n" in out
    assert "O_PATH fd: EBADF\n" in out


def test_the_overlay_behaves_as_tmpfs(cprog, tmp_path):
    program = cprog("fallocate_modes")
    native = run_native([program, "/dev/shm"])
    sandboxed = run_sandbox([program, str(tmp_path)])
    assert_same(native, sandboxed, "overlay against Linux's tmpfs")


@pytest.mark.parametrize("mode", ["directfs", "gofer"])
def test_host_files_in_a_bind_mount(cprog, tmp_path, mode):
    program = cprog("fallocate_modes")
    native = run_native([program, str(tmp_path)])
    assert native.status == 0, native
    if "collapse a block: EOPNOTSUPP" in native.out:
        pytest.skip(f"{tmp_path}'s filesystem has no COLLAPSE_RANGE to compare with")
    sandboxed = run_sandbox([program, "/mnt/host"], flags=["-v", f"{tmp_path}:/mnt/host", "--gofer-mode", mode])
    # The sentry cannot know a host filesystem's largest file size (ext4's 16 TiB).
    def comparable(out):
        return [line for line in out.splitlines() if not line.startswith("huge")]
    assert sandboxed.status == native.status, sandboxed
    assert comparable(sandboxed.out) == comparable(native.out)
    assert "insert a block: 0\n" in sandboxed.out
    assert "collapse unaligned: EINVAL\n" in sandboxed.out
