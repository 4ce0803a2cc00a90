"""The sentry's virtual filesystem: path resolution, open files, pipes, host files, /proc and /dev."""
from .file import File
from .vfs import VFS, FSContext

__all__ = ["VFS", "FSContext", "File"]
