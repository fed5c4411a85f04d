#!/bin/sh
# Sample action for esi_leap.lease.delete.end (a lease expired or was
# cancelled and the node went back to its owner).
#
# Rule:   script_params = node_name,uuid
# Input:  $1 node name, $2 lease uuid; the whole event as JSON on standard
#         input; ESI_EVENT_TYPE, ESI_EVENT_ID, ESI_RULE and ESI_ATTEMPT in
#         the environment.
# Exit:   0 for success; anything else marks the job failed.
#
# Values come from the lease, which its lessee controls: quote every
# expansion and never pass one to eval or "sh -c".
set -eu
node_name=$1
lease_uuid=${2:-}
purpose=$(python3 -c 'import json, sys
print(json.load(sys.stdin)["data"].get("purpose") or "")' 2>/dev/null || true)
printf 'lease %s ended on node %s (purpose: %s)\n' \
    "$lease_uuid" "$node_name" "${purpose:-none}"
