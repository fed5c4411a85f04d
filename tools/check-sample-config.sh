#!/bin/bash
# Fail if etc/esi-event-actions/esi-event-actions.conf.sample differs from
# what oslo-config-generator produces from the code now.
#
# Usage: tools/check-sample-config.sh [VENV]
set -eu
cd "$(dirname "$0")/.."
VENV=${1:-${VENV:-.venv}}
sample=etc/esi-event-actions/esi-event-actions.conf.sample
fresh=$(mktemp)
trap 'rm -f "$fresh"' EXIT
"$VENV/bin/oslo-config-generator" \
    --config-file etc/esi-event-actions/esi-event-actions-config-generator.conf \
    --output-file "$fresh" 2>/dev/null
if ! diff -u "$sample" "$fresh"; then
    echo "$sample is out of date: run 'tox -e genconfig'" >&2
    exit 1
fi
echo "$sample is up to date"
