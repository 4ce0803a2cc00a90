"""pysandbox as an OCI runtime: runc's command line over the sentry (see docs/OCI.md)."""
