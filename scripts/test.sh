#!/usr/bin/env bash
# The one test command: installs what the tests need (Debian, as root), then runs them all.
#   ./scripts/test.sh            everything
#   ./scripts/test.sh -k milter  extra arguments go to pytest
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO"

install_system_packages
make_venv "[test]"

export PYTHONSAFEPATH=1   # the repo root must never shadow pymilter's `milter`
log "running the test suite (SQLite)"
"$VENV/bin/pytest" "$@"
