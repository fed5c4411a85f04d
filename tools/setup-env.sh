#!/bin/bash
# Prepare a machine to run esi-event-actions' tests or demo: install the
# system packages listed in bindep.txt, create the virtualenv and install the
# package into it.  Debian or Ubuntu with Python 3; run as root or with sudo.
#
# Usage: tools/setup-env.sh [VENV]    (default: .venv)
set -eu
cd "$(dirname "$0")/.."
VENV=${1:-${VENV:-.venv}}
PYTHON=${PYTHON:-python3}

SUDO=
if [ "$(id -u)" != 0 ]; then
    SUDO=sudo
fi

if [ ! -x "$VENV/bin/python" ]; then
    if ! "$PYTHON" -m venv "$VENV"; then
        $SUDO apt-get update -q
        $SUDO apt-get install -y -q python3-venv
        "$PYTHON" -m venv "$VENV"
    fi
fi
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q bindep
missing=$("$VENV/bin/bindep" -b test || true)
if [ -n "$missing" ]; then
    echo "Installing system packages: $missing"
    $SUDO apt-get update -q
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q \
        --no-install-recommends $missing
fi
"$VENV/bin/pip" install -q -c constraints.txt -r requirements.txt \
    -r test-requirements.txt
"$VENV/bin/pip" install -q -c constraints.txt -e ".[ansible,metrics,postgresql]"
