"""pysandbox: a gVisor-style sandboxed container runtime (see docs/ARCHITECTURE.md)."""
from pysandbox import modulebundle

modulebundle.install()
