#!/usr/bin/env bash
# Regenerate docs/coverage.md: every conformance suite, natively and in the sandbox.
# Run as root on the project's machine (about 15 minutes on 2 cores):
#   bash scripts/coverage-report.sh [--platform ptrace]
# The full JSON report stays in build/coverage/report.json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-.venv/bin/python}
exec "$PYTHON" -m pysandbox conformance --report build/coverage --markdown docs/coverage.md "$@"
