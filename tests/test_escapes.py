"""Escape attempts: a C program in the sandbox tries every path trick to reach a host file
outside its root (tests/cprogs/escape_probe.c). In both gofer modes the file must stay
unchanged and its contents must never appear in the sandbox."""
import os
import re
import shutil

import pytest

from helpers import run_sandbox, tree_snapshot

SECRET = "TOPSECRET-d41d8cd98f00b204e980"
RACE_ROUNDS = 1500


@pytest.fixture
def escape_layout(tmp_path, cprog):
    """tmp/secret/secret.txt (watched), tmp/data (bind-mounted at /data, with a symlink up to
    ../secret), tmp/rootfs with the probe and symlinks pointing out of the root."""
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir()
    secret = secret_dir / "secret.txt"
    secret.write_text(SECRET + "\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "up").symlink_to("../secret")
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    probe = rootfs / "escape_probe"
    shutil.copy(cprog("escape_probe", static=True), probe)
    probe.chmod(0o755)
    (rootfs / "link_root").symlink_to("/")
    (rootfs / "link_up").symlink_to("../../../../../../..")
    (rootfs / "link_abs").symlink_to(str(secret))
    (rootfs / "link_dir").symlink_to(str(secret_dir))
    return tmp_path, rootfs, data, secret


@pytest.mark.parametrize("gofer_mode, overlay", [("directfs", False), ("gofer", False), ("directfs", True)])
def test_no_path_trick_reaches_the_host(escape_layout, gofer_mode, overlay):
    tmp_path, rootfs, data, secret = escape_layout
    watched = tree_snapshot(str(tmp_path / "secret"))
    secret_info = os.stat(secret)
    result = run_sandbox(["/escape_probe", str(secret), str(RACE_ROUNDS)], rootfs=str(rootfs), timeout=180,
                         flags=[f"--gofer-mode={gofer_mode}", "-v", f"{data}:/data",
                                "--overlay" if overlay else "--no-overlay"])
    assert result.status == 0, result
    assert SECRET not in result.out and SECRET not in result.err and SECRET not in result.log
    for race in ("dir-dotdot", "dir-absolute", "file-absolute", "bind-dir-relative"):
        assert f"race {race}: {RACE_ROUNDS} rounds, other contents 0" in result.out, result.out
    # The races really raced: the opener met the decoy (the real name) and was refused (the link).
    seen = [tuple(int(count) for count in re.findall(r"(?:decoy|refused) (\d+)", line))
            for line in result.err.splitlines() if line.startswith("race ")]
    assert len(seen) == 4 and any(decoys and refused for decoys, refused in seen), result.err
    attempts = [line for line in result.out.splitlines() if not line.startswith("race")]
    assert len(attempts) > 90
    for line in attempts:
        label, outcome = line.split(": ", 1)
        if outcome.startswith(("open ", "openat2 ")):
            assert outcome.split()[1].startswith("E"), line   # refused, never read
        if label != "symlink-absolute":  # that one acts on the link inside the root, which is fine
            assert not outcome.endswith(" ok"), line
    assert "hardlink-host-path: link ENOENT" in attempts
    # The host side: nothing outside the rootfs changed, nothing new appeared next to it.
    assert tree_snapshot(str(tmp_path / "secret")) == watched
    # Only the race's own names appeared in the bind mount (the swapper stops at any point of a
    # swap), and the link still says what it said.
    assert set(os.listdir(data)) <= {"dir", "dir.tmp", "up"}
    links = [name for name in os.listdir(data) if os.path.islink(data / name)]
    assert len(links) == 1 and os.readlink(data / links[0]) == "../secret"
    after = os.stat(secret)
    assert (after.st_mtime_ns, after.st_mode, after.st_nlink) == \
        (secret_info.st_mtime_ns, secret_info.st_mode, secret_info.st_nlink)
    assert sorted(os.listdir(tmp_path)) == ["data", "rootfs", "secret"]
