"""The sentry's virtual filesystem: path resolution, open files, pipes, host files, /proc and /dev.

VFS, FSContext and File are imported on first use (PEP 562): the gofer imports a few of the
package's small modules (stat) and must not pay for the whole filesystem."""

__all__ = ["VFS", "FSContext", "File"]


def __getattr__(name):
    if name in ("VFS", "FSContext"):
        from . import vfs
        return getattr(vfs, name)
    if name == "File":
        from .file import File
        return File
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
