#!/usr/bin/env bash
# The one test command: installs what the tests need (Debian, as root), then runs
# the whole suite on SQLite and again on a throwaway PostgreSQL cluster.
#   ./scripts/test.sh              everything, both databases
#   ./scripts/test.sh -k milter    extra arguments go to pytest (both runs)
#   MAILGATE_TEST_POSTGRES=0 ./scripts/test.sh   SQLite only (a quick local run)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pg.sh"
cd "$REPO"

install_system_packages
make_venv "[test]"

export PYTHONSAFEPATH=1   # the repo root must never shadow pymilter's `milter`
# The external corpus (tests/corpus.py): used when it sits beside the repository, as CI has it, so a
# "whole suite" run here is CI's; MAILGATE_CORPUS= (empty) leaves it out, a clone without it skips.
if [ -z "${MAILGATE_CORPUS+set}" ] && [ -d "$REPO/../shared/corpus" ]; then
    MAILGATE_CORPUS=$(cd "$REPO/../shared/corpus" && pwd)
    export MAILGATE_CORPUS
fi
log "external corpus: ${MAILGATE_CORPUS:-not used (its tests skip)}"
export MAILGATE_REQUIRE_BROWSER=1   # a missing Chromium fails the browser tests instead of skipping them

log "test suite on SQLite"
status=0
"$VENV/bin/pytest" "$@" || status=$?

if [ "${MAILGATE_TEST_POSTGRES:-1}" != 0 ]; then
    pgdir=$(mktemp -d /tmp/mailgate-pg.XXXXXX)
    trap 'pg_stop "$pgdir"; rm -rf "$pgdir"' EXIT
    url=$(pg_start "$pgdir" "${MAILGATE_TEST_PG_PORT:-55432}")
    log "test suite on PostgreSQL ($url)"
    MAILGATE_TEST_DATABASE_URL=$url "$VENV/bin/pytest" "$@" || status=$?
fi
exit $status
