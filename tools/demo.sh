#!/bin/bash
# See esi-event-actions at work, end to end, on one machine: start a private
# RabbitMQ, run the service with the rules of etc/esi-event-actions/demo.conf,
# publish lease notifications exactly as esi-leap does, and show what the
# sample scripts printed.  Everything it starts is stopped at the end, also on
# error or Ctrl-C.
#
# Debian or Ubuntu with Python 3; installs system packages (RabbitMQ) with
# sudo unless run as root.
#
# Usage: tools/demo.sh        (VENV=path overrides the virtualenv, .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY="$VENV/bin/python"
DEMO_CONF=etc/esi-event-actions/demo.conf

say() { printf '\n==> %s\n' "$*"; }
indent() { sed 's/^/    /'; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/esi-event-actions-demo.XXXXXX")
service_pid=
broker_started=

# Stop the service (SIGTERM, which its main process passes on to its worker;
# SIGKILL to its whole session after 30s), then the broker, then remove the
# temporary directory.
cleanup() {
    rc=$?
    # Finish cleaning up even if Ctrl-C is pressed again.
    trap - EXIT
    trap '' INT TERM
    if [ "$rc" = 130 ]; then
        echo
        echo "Interrupted."
    elif [ "$rc" != 0 ] && [ -s "$tmp/service.log" ]; then
        echo
        echo "The demo failed; last lines of the service log:"
        tail -n 20 "$tmp/service.log" | indent
    fi
    say "Stopping everything the demo started"
    if [ -n "$service_pid" ] && kill -0 "$service_pid" 2>/dev/null; then
        kill -TERM "$service_pid" 2>/dev/null || true
        for _ in $(seq 300); do
            kill -0 "$service_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$service_pid" 2>/dev/null || true
        wait "$service_pid" 2>/dev/null || true
        echo "    esi-event-actions stopped"
    fi
    if [ -n "$broker_started" ]; then
        "$PY" -m esi_event_actions.tests.functional.harness.broker stop \
            --state-file "$tmp/broker.json" >/dev/null 2>&1 || true
        echo "    RabbitMQ stopped"
    fi
    rm -rf "$tmp"
    echo "    $tmp removed"
    if [ "$rc" = 0 ]; then
        say "Demo complete"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

manage() {
    "$VENV/bin/esi-event-actions-manage" --config-file "$DEMO_CONF" \
        --config-file "$tmp/local.conf" "$@"
}

say "Installing esi-event-actions into $VENV" \
    "(a minute or two the first time)"
if ! tools/setup-env.sh "$VENV" >"$tmp/setup.log" 2>&1; then
    tail -n 30 "$tmp/setup.log" | indent
    echo "Setup failed (tools/setup-env.sh); see the lines above." >&2
    exit 1
fi
echo "    done"

say "Starting a private RabbitMQ on a free loopback port"
broker_started=yes
url=$("$PY" -m esi_event_actions.tests.functional.harness.broker start \
    --state-file "$tmp/broker.json")
echo "    $url"

say "Starting esi-event-actions"
cat >"$tmp/local.conf" <<EOF
# Written by tools/demo.sh; overrides $DEMO_CONF.
[DEFAULT]
transport_url = $url
state_path = $tmp/state
EOF
echo "    Config: $DEMO_CONF + $tmp/local.conf"
echo "    Rules (esi-event-actions-manage check-config):"
manage check-config | indent | indent
# A session of its own, so that stopping it reaches every process it started.
setsid "$VENV/bin/esi-event-actions" --config-file "$DEMO_CONF" \
    --config-file "$tmp/local.conf" >"$tmp/service.log" 2>&1 &
service_pid=$!
for _ in $(seq 600); do
    grep -q 'Listening on' "$tmp/service.log" && break
    kill -0 "$service_pid" 2>/dev/null || break
    sleep 0.1
done
if ! grep -q 'Listening on' "$tmp/service.log"; then
    echo "esi-event-actions did not start listening." >&2
    exit 1
fi
grep -o 'Listening on.*' "$tmp/service.log" | indent

say "Publishing esi-leap lease notifications"
# esi_event_actions.cmd first: it makes oslo.service use threads before
# oslo.messaging is imported.
"$PY" - "$url" <<'EOF'
import sys

import esi_event_actions.cmd  # noqa: F401
import oslo_messaging
from oslo_config import cfg

from esi_event_actions.tests.common import fake_esi_leap

conf = cfg.ConfigOpts()
conf([], default_config_files=[])
transport = oslo_messaging.get_notification_transport(conf, url=sys.argv[1])
leap = fake_esi_leap.Notifier(transport)

dell = fake_esi_leap.lease_data(
    name='demo-dell', purpose='demo', node_name='dell-r640-07',
    node_properties={'vendor': 'Dell', 'cpus': 32, 'memory_mb': 196608,
                     'local_gb': 900, 'cpu_arch': 'x86_64'})
smc = fake_esi_leap.lease_data(
    id=43, name='demo-supermicro', purpose='demo', node_name='smc-x11-03',
    node_properties={'vendor': 'Supermicro', 'cpus': 16,
                     'memory_mb': 65536, 'local_gb': 500,
                     'cpu_arch': 'x86_64'})
# What esi-leap sends when the lease ends: fulfilled earlier, now deleted.
dell_end = dict(dell, status='deleted', fulfill_time='2026-11-26T10:00:04Z')

for event_type, lease, expect in [
        ('esi_leap.lease.fulfill.end', dell, 'rule [fulfill] runs'),
        ('esi_leap.lease.fulfill.end', smc, 'filtered out: not Dell'),
        ('esi_leap.lease.delete.end', dell_end, 'rule [delete] runs')]:
    leap.emit(event_type, lease)
    print('    %-27s lease %s on %-12s -> %s'
          % (event_type, lease['uuid'][:8], lease['node_name'], expect))
transport.cleanup()
EOF

say "Waiting for the service to run the jobs"
# Done when the three notifications are logged and both jobs have ended
# (done, or failed for good: a failing script is retried for a while).
ended() {
    manage journal list -f json | "$PY" -c '
import json, sys
jobs = json.load(sys.stdin)
sys.exit(not (len(jobs) == 2 and all(
    j["state"] in ("done", "dead", "failed") for j in jobs)))'
}
for _ in $(seq 60); do
    [ "$(grep -c 'Received esi_leap' "$tmp/service.log")" -ge 3 ] &&
        ended && break
    kill -0 "$service_pid" 2>/dev/null || break
    sleep 1
done
if ! ended; then
    echo "The jobs did not finish in time; the journal says:" >&2
    manage journal list | indent >&2
    exit 1
fi
echo "    The journal (esi-event-actions-manage journal list):"
manage journal list | indent | indent

say "What the sample scripts printed (kept in the journal)"
manage journal list -f json | "$PY" -c "$(cat <<'EOF'
import json, sys
for job in json.load(sys.stdin):
    print("    job %d [%s] %s:" % (job["id"], job["rule"], job["state"]))
    for line in (job["output"] or "(no output)").splitlines():
        print("        " + line)
EOF
)"
echo "    (esi-event-actions-manage journal show ID prints one job in full,"
echo "    with its event)"

say "What the service logged about each job"
sed -n 's/^.* \(Job [0-9]* rule \)/\1/p' "$tmp/service.log" | indent

