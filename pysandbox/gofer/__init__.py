"""The gofer: the process that opens host files for the sentry (docs/GOFER.md)."""
