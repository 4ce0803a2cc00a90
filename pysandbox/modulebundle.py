"""The compiled modules of pysandbox and of the standard library it uses, in one file.

Every `pysandbox do` imports some 150 modules, and the import system's own work for each (look
in every sys.path directory, stat the source, open and read the .pyc, check its header) costs
as much again as the module itself on these VMs. The bundle holds their code objects back to
back, with an index; `install()` (run by pysandbox/__init__.py) maps it read-only and puts a
finder first on sys.meta_path that serves a module from it when its source file is still the
one the bundle was built from (same mtime and size, one stat), and otherwise leaves the module
to the usual finders. So an edited module is imported from its source, as it would be without
the bundle, and a missing or foreign bundle (another Python) changes nothing.

The mapping stays valid after the sentry's chroot (security/confine.py): from then on the
source's stat goes through the module trees' fds (imports.DirectoryFdFinder.locate).

    python -c 'from pysandbox.modulebundle import main; main()'
(re)builds it from the sources, as scripts/install.sh does. PYSANDBOX_MODULE_BUNDLE=off turns
it off.
"""
import marshal
import os
import sys
from _frozen_importlib import ModuleSpec       # the import system's own, as importlib.machinery's
from _frozen_importlib_external import MAGIC_NUMBER

FILE_MAGIC = b"PSBMODS1"
PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
BUNDLE_PATH = os.path.join(PACKAGE_DIR, "__pycache__", f"modules.{sys.implementation.cache_tag}.bundle")
HEADER_SIZE = len(FILE_MAGIC) + len(MAGIC_NUMBER) + 8


class BundleFinder:
    """First on sys.meta_path: a module of the bundle whose source is unchanged."""

    def __init__(self, index, data):
        self.index = index              # name -> (origin, is_package, mtime_ns, size, offset, length)
        self.data = data                # the code objects, back to back (offsets are into it)
        self.stat = os.stat             # path -> stat result; after the chroot, through the kept fds

    def find_spec(self, fullname, path=None, target=None):
        entry = self.index.get(fullname)
        if entry is None:
            return None
        origin, is_package, mtime_ns, size = entry[:4]
        try:
            attrs = self.stat(origin)
        except OSError:
            return None
        if attrs.st_mtime_ns != mtime_ns or attrs.st_size != size:
            return None
        spec = ModuleSpec(fullname, self, origin=origin, is_package=is_package)
        spec.has_location = True
        if is_package:
            spec.submodule_search_locations = [os.path.dirname(origin)]
        return spec

    @staticmethod
    def create_module(spec):
        return None

    def exec_module(self, module):
        exec(self.get_code(module.__spec__.name), module.__dict__)

    def get_code(self, fullname):
        origin, _is_package, _mtime_ns, _size, offset, length = self.index[fullname]
        try:
            return marshal.loads(self.data[offset:offset + length])
        except (EOFError, ValueError, TypeError):     # a damaged bundle: the source still says it
            with open(origin, "rb") as source:
                return compile(source.read(), origin, "exec", dont_inherit=True)

    def is_package(self, fullname):
        return self.index[fullname][1]

    def get_source(self, fullname):
        """For tracebacks (linecache); None where the source can't be read, as after the chroot."""
        try:
            with open(self.index[fullname][0], "rb") as source:
                return source.read().decode()
        except OSError:
            return None


finder = None                           # the installed BundleFinder


def install():
    """Serve imports from the bundle, if there is one for this interpreter (and it runs without
    -O: the bundle's code keeps its asserts and docstrings, as plain .pyc files do)."""
    global finder
    if finder is not None or sys.flags.optimize or os.environ.get("PYSANDBOX_MODULE_BUNDLE") == "off":
        return
    finder = open_bundle(BUNDLE_PATH)
    if finder is not None:
        sys.meta_path.insert(0, finder)


def open_bundle(path):
    """A BundleFinder over the bundle at `path`, or None if there is none for this interpreter."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        import mmap
        data = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
    except (OSError, ValueError, ImportError):
        return None
    finally:
        os.close(fd)
    if data[:len(FILE_MAGIC)] != FILE_MAGIC or data[len(FILE_MAGIC):HEADER_SIZE - 8] != MAGIC_NUMBER:
        data.close()
        return None
    index_end = HEADER_SIZE + int.from_bytes(data[HEADER_SIZE - 8:HEADER_SIZE], "little")
    code_size = len(data) - index_end
    try:
        index = marshal.loads(data[HEADER_SIZE:index_end])
        valid = isinstance(index, dict) and all(entry[4] + entry[5] <= code_size for entry in index.values())
    except (EOFError, ValueError, TypeError, IndexError):
        valid = False
    if not valid:                       # not an index, or a file cut short
        data.close()
        return None
    return BundleFinder(index, memoryview(data)[index_end:])


# -- building it ---------------------------------------------------------------------------------------
def bundled_modules():
    """{name: (source path, is_package)}: every module of the package, and every pure-Python module
    of the standard library that importing them all loads (frozen ones are left to Python)."""
    import importlib
    import pkgutil
    import _imp
    stdlib = os.path.dirname(os.__file__) + os.sep
    for info in pkgutil.walk_packages([PACKAGE_DIR], "pysandbox.", onerror=lambda name: None):
        if info.name == "pysandbox.__main__":     # runs the command line
            continue
        try:
            importlib.import_module(info.name)
        except Exception:           # a module that can't be imported here stays out
            pass
    chosen = {}
    for name, module in list(sys.modules.items()):
        spec = getattr(module, "__spec__", None)
        origin = getattr(spec, "origin", None)
        if not origin or not origin.endswith(".py") or _imp.is_frozen(name) or name == "__main__":
            continue
        if name == "pysandbox" or name.startswith("pysandbox.") or origin.startswith(stdlib):
            chosen[name] = (origin, spec.submodule_search_locations is not None)
    return chosen


def build(path=BUNDLE_PATH, modules=None):
    """Compile `modules` ({name: (source path, is_package)}, by default bundled_modules()) into
    the bundle at `path` (atomically); returns how many."""
    blobs, index, offset = [], {}, 0
    for name, (origin, is_package) in sorted((modules or bundled_modules()).items()):
        with open(origin, "rb") as source:
            attrs = os.fstat(source.fileno())
            code = compile(source.read(), origin, "exec", dont_inherit=True)
        blob = marshal.dumps(code)
        index[name] = (origin, is_package, attrs.st_mtime_ns, attrs.st_size, offset, len(blob))
        blobs.append(blob)
        offset += len(blob)
    header_index = marshal.dumps(index)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "wb") as out:
        out.write(FILE_MAGIC + MAGIC_NUMBER + len(header_index).to_bytes(8, "little") + header_index)
        out.writelines(blobs)
    os.replace(temporary, path)
    return len(index)


def main():
    count = build()
    print(f"{BUNDLE_PATH}: {count} modules")
