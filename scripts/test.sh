#!/usr/bin/env bash
# Run the whole test suite (no long benchmarks): bash scripts/test.sh [PYTEST ARGS...]
# Needs what scripts/install.sh installs. Exit status is pytest's; "no tests
# ran" (pytest's 5) is reported as a failure, not hidden.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-.venv/bin/python}     # made by scripts/install.sh
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)
PYTHON=$(realpath -s "$PYTHON")

# A hard bound well under CI's 90 minutes, so a hang fails with a message.
LIMIT=${PYSANDBOX_TEST_LIMIT:-3600}

timeout --kill-after=60 "$LIMIT" "$PYTHON" -m pytest -ra tests "$@"
status=$?
case $status in
    0)   ;;
    5)   echo "test.sh: pytest collected no tests (exit 5): that is a failure" >&2 ;;
    124) echo "test.sh: the test suite did not finish within ${LIMIT}s" >&2 ;;
    *)   echo "test.sh: pytest exited $status" >&2 ;;
esac
exit $status
