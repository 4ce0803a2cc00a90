"""The module bundle (pysandbox/modulebundle.py): compiled modules served from one mapped file while
their sources are unchanged, the usual import otherwise."""
import importlib
import os
import subprocess
import sys

import pytest

from pysandbox import modulebundle
from pysandbox.security import imports


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A package of two modules on sys.path, its bundle built; yields (finder, source dir)."""
    root = tmp_path / "src"
    source = root / "bundled_pkg"
    source.mkdir(parents=True)
    (source / "__init__.py").write_text("KIND = 'package'\n")
    (source / "leaf.py").write_text("VALUE = 'from the bundle'\n\ndef twice(x):\n    return 2 * x\n")
    bundle = tmp_path / "modules.bundle"
    count = modulebundle.build(str(bundle), {"bundled_pkg": (str(source / "__init__.py"), True),
                                             "bundled_pkg.leaf": (str(source / "leaf.py"), False)})
    assert count == 2
    finder = modulebundle.open_bundle(str(bundle))
    assert finder is not None
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setattr(sys, "meta_path", [finder] + sys.meta_path)
    yield finder, source
    for name in ("bundled_pkg.leaf", "bundled_pkg"):
        sys.modules.pop(name, None)


def test_an_unchanged_module_comes_from_the_bundle(package):
    finder, source = package
    leaf = importlib.import_module("bundled_pkg.leaf")
    assert (leaf.VALUE, leaf.twice(21)) == ("from the bundle", 42)
    assert leaf.__spec__.loader is finder and leaf.__file__ == str(source / "leaf.py")
    assert sys.modules["bundled_pkg"].__path__ == [str(source)]          # a package is one
    assert finder.get_source("bundled_pkg.leaf").startswith("VALUE =")   # what tracebacks read


def test_an_edited_module_is_imported_from_its_source(package):
    finder, source = package
    (source / "leaf.py").write_text("VALUE = 'edited since'\n")
    assert finder.find_spec("bundled_pkg.leaf") is None
    leaf = importlib.import_module("bundled_pkg.leaf")
    assert leaf.VALUE == "edited since" and leaf.__spec__.loader is not finder


def test_a_module_whose_source_is_gone_is_not_served(package):
    finder, source = package
    os.unlink(source / "leaf.py")
    assert finder.find_spec("bundled_pkg.leaf") is None
    assert finder.find_spec("bundled_pkg") is not None and finder.find_spec("not_bundled") is None


def test_after_the_chroot_the_source_is_checked_through_the_kept_fds(package):
    finder, source = package
    root_fd = os.open(source, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        finder.stat = imports.DirectoryFdFinder({str(source): root_fd}).stat
        assert finder.find_spec("bundled_pkg.leaf").loader is finder
        (source / "leaf.py").write_text("VALUE = 1\n")
        assert finder.find_spec("bundled_pkg.leaf") is None
    finally:
        os.close(root_fd)
    with pytest.raises(FileNotFoundError):
        imports.DirectoryFdFinder({str(source): 0}).stat("/elsewhere/module.py")


@pytest.mark.parametrize("content", [b"", b"PSBMODS1", b"PSBMODS1\x00\x00\x00\x00" + bytes(8),
                                     modulebundle.FILE_MAGIC + modulebundle.MAGIC_NUMBER + (5).to_bytes(8, "little")
                                     + b"junk!", b"not a bundle at all, but long enough"])
def test_a_foreign_or_broken_bundle_is_ignored(tmp_path, content):
    path = tmp_path / "modules.bundle"
    path.write_bytes(content)
    assert modulebundle.open_bundle(str(path)) is None
    assert modulebundle.open_bundle(str(tmp_path / "missing.bundle")) is None


def test_a_damaged_module_in_the_bundle_is_compiled_from_its_source(package):
    finder, _source = package
    offset, length = finder.index["bundled_pkg.leaf"][4:]
    damaged = bytearray(finder.data)
    damaged[offset:offset + length] = b"\xff" * length
    finder.data = memoryview(bytes(damaged))
    leaf = importlib.import_module("bundled_pkg.leaf")
    assert leaf.VALUE == "from the bundle" and leaf.__spec__.loader is finder


def test_a_bundle_cut_short_is_ignored(package, tmp_path):
    finder, _source = package
    whole = (tmp_path / "modules.bundle").read_bytes()
    cut = tmp_path / "cut.bundle"
    cut.write_bytes(whole[:-10])
    assert modulebundle.open_bundle(str(cut)) is None


def test_the_bundle_names_the_sentry_and_the_standard_library_it_uses(tmp_path):
    # Built in a process of its own (it imports every module of the package), as install.sh does.
    path = tmp_path / "modules.bundle"
    subprocess.run([sys.executable, "-c", f"from pysandbox import modulebundle; modulebundle.build({str(path)!r})"],
                   check=True, timeout=120, cwd="/")
    finder = modulebundle.open_bundle(str(path))
    names = set(finder.index)
    assert {"pysandbox.cli", "pysandbox.runner", "pysandbox.sentry.kernel", "pysandbox.sentry.syscalls.sys_mmap",
            "collections", "weakref"} <= names
    assert not names & {"os", "io", "pysandbox.__main__"}            # frozen; runs the command line
    entry = finder.index["pysandbox.sentry.kernel"]
    with open(entry[0], "rb") as source:
        expected = compile(source.read(), entry[0], "exec", dont_inherit=True)
    assert finder.get_code("pysandbox.sentry.kernel") == expected


def test_an_optimizing_interpreter_leaves_imports_as_they_were():
    check = "import pysandbox.modulebundle as m, pysandbox.sentry.kernel as k; print(m.finder is None)"
    out = subprocess.run([sys.executable, "-O", "-c", check], capture_output=True, text=True, timeout=60, cwd="/")
    assert out.stdout.split() == ["True"], out


def test_off_in_the_environment_leaves_imports_as_they_were():
    check = ("import sys, pysandbox.modulebundle as m, pysandbox.sentry.kernel as k; "
             "print(m.finder is None, type(k.__spec__.loader).__name__)")
    env = dict(os.environ, PYSANDBOX_MODULE_BUNDLE="off")
    out = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=60, cwd="/")
    assert out.stdout.split() == ["True", "SourceFileLoader"], out
