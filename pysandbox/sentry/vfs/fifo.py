"""Named pipes whose nodes live on the host (the rootfs, bind mounts).

The node is only a name: opening it never opens the host FIFO. Its pipe
lives in the sentry, one per file identity (st_dev, st_ino), so every
process of the sandbox that opens the node meets the same pipe, and a
process outside the sandbox that opens the host FIFO meets nobody. The pipe
is forgotten when its last end closes, as its data is.
"""
from .pipe import Pipe

_pipes = {}


def open_host_fifo(t, dentry, attrs, flags):
    """open(2) of a host FIFO node with stat result `attrs` (fifo(7) semantics)."""
    key = (attrs.dev, attrs.ino)
    pipe = _pipes.get(key)
    if pipe is None:
        pipe = _pipes[key] = Pipe()
        pipe.on_last_close = lambda: _pipes.pop(key, None)
    return pipe.open_fifo(t, dentry, flags)
