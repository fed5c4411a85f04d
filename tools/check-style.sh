#!/bin/bash
# Style checks, as "tox -e pep8" and .ci/run run them: flake8 with hacking on
# the Python code, bashate and shellcheck on every shell script, doc8 on the
# documentation.  Runs them all, then exits non-zero if any failed.
#
# Usage: tools/check-style.sh [VENV]   (the tools are taken from VENV/bin,
#                                       else from PATH)
set -u
cd "$(dirname "$0")/.." || exit 1
bin=
if [ -n "${1:-}" ]; then
    bin="$1/bin/"
fi

shell_scripts=(.ci/run devstack/plugin.sh devstack/settings tools/*.sh
    etc/esi-event-actions/scripts/*.sh)
rst_files=(README.rst doc/source devstack/README.rst
    contrib/esi-event-actions-example-plugin/README.rst)

rc=0
run() {
    if ! "$@"; then
        echo "FAILED: $*" >&2
        rc=1
    fi
}
run "${bin}flake8"
# E006 (long lines) is left to judgement, as in devstack.
run "${bin}bashate" --ignore E006 "${shell_scripts[@]}"
run "${bin}shellcheck" "${shell_scripts[@]}"
run "${bin}doc8" --quiet "${rst_files[@]}"
if [ "$rc" = 0 ]; then
    echo "Style checks passed"
fi
exit $rc
