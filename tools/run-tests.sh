#!/bin/bash
# Run the whole test suite: unit tests, and functional tests against a
# private RabbitMQ and a private PostgreSQL started here on free loopback
# ports.  Ends with the line
# "N passed, N failed" and exits non-zero on any failure.
#
# Usage: tools/run-tests.sh [stestr filter...]
set -eu
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
tools/setup-env.sh "$VENV"
PY="$VENV/bin/python"
# The private servers' start and stop commands.
HARNESS=esi_event_actions.tests.functional.harness

state=$(mktemp -d)
# shellcheck disable=SC2329  # run by the EXIT trap
cleanup() {
    "$PY" -m "$HARNESS.broker" stop \
        --state-file "$state/broker.json" >/dev/null 2>&1 || true
    "$PY" -m "$HARNESS.postgres" stop \
        --state-file "$state/postgres.json" >/dev/null 2>&1 || true
    rm -rf "$state"
}
trap cleanup EXIT

ESI_TEST_TRANSPORT_URL=$("$PY" -m "$HARNESS.broker" \
    start --state-file "$state/broker.json")
export ESI_TEST_TRANSPORT_URL
echo "Private RabbitMQ for the functional tests: $ESI_TEST_TRANSPORT_URL"
ESI_TEST_POSTGRES_URL=$("$PY" -m "$HARNESS.postgres" \
    start --state-file "$state/postgres.json")
export ESI_TEST_POSTGRES_URL
echo "Private PostgreSQL for the functional tests: $ESI_TEST_POSTGRES_URL"

# The functional tests run the real esi-leap in a virtualenv of its own
# (its requirements clash with ours); build it once, before the workers race.
"$PY" -m "$HARNESS.real_esi_leap" install

rc=0
"$VENV/bin/stestr" run "$@" || rc=$?
"$VENV/bin/stestr" last --subunit | "$PY" tools/subunit_summary.py || rc=1
exit $rc
