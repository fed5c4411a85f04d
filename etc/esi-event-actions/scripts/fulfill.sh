#!/bin/sh
# Sample action for esi_leap.lease.fulfill.end.
#
# Rule:   script_params = node_name,fulfill_time
# Input:  $1 node name, $2 fulfil time (esi-leap sends it as null in
#         fulfill.end, so it arrives as an empty argument); the whole event
#         as JSON on standard input; ESI_EVENT_TYPE, ESI_EVENT_ID, ESI_RULE
#         and ESI_ATTEMPT in the environment.
# Output: kept in the journal (esi-event-actions-manage journal show ID).
# Exit:   0 for success; anything else marks the job failed.
#
# Arguments come straight from the lease, which its lessee controls: quote
# every expansion and never pass one to eval or "sh -c".
set -eu
node_name=$1
fulfill_time=${2:-}
printf 'lease fulfilled on node %s at %s (event %s, attempt %s)\n' \
    "$node_name" "${fulfill_time:-unknown time}" "$ESI_EVENT_ID" \
    "${ESI_ATTEMPT:-1}"
