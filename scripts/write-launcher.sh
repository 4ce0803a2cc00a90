#!/bin/bash
# Write the `pysandbox` command of a virtual environment:
#   scripts/write-launcher.sh VENV REPO [OUTPUT]     (OUTPUT defaults to VENV/bin/pysandbox)
#
# Every `pysandbox do` and every OCI verb the container shim runs starts a new interpreter, so
# what happens before pysandbox's own code counts. pip's generated wrapper imports `re` (~2 ms
# with the enum module it pulls in), and the interpreter's site step reads the .pth files of
# site-packages and imports what they name (~1.5 ms). This launcher runs the interpreter with -S
# and puts on sys.path what site would have: site-packages (cffi's backend) and the repository
# (the editable install). PYTHONPATH still comes first, as it does with site.
set -euo pipefail
VENV=${1:?usage: write-launcher.sh VENV REPO}
REPO=${2:?usage: write-launcher.sh VENV REPO}
PYTHON="$VENV/bin/python"
SITE=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
LAUNCHER=${3:-$VENV/bin/pysandbox}
cat >"$LAUNCHER.new" <<LAUNCHER
#!$PYTHON -S
import sys
sys.path += ["$SITE", "$REPO"]
from pysandbox.cli import run
run()
LAUNCHER
chmod 755 "$LAUNCHER.new"
mv "$LAUNCHER.new" "$LAUNCHER"
