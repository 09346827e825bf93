#!/usr/bin/env bash
# Dependency audit: pins and lock checked offline, then every locked pin looked up for known
# vulnerabilities with pip-audit. --strict: a pin that could not be looked up fails the audit
# (unknown is not clean). AUDIT_OFFLINE=1 skips the lookup and says so (see README).
set -euo pipefail
venv=${1:-.venv}
"$venv/bin/python" scripts/check_pins.py
"$venv/bin/python" -m pip check
if [ "${AUDIT_OFFLINE:-0}" = "1" ]; then
    echo "audit: AUDIT_OFFLINE=1: known-vulnerability lookup NOT done; pins, lock and" \
         "installed set checked only" >&2
    exit 0
fi
exec "$venv/bin/pip-audit" -r requirements.lock --no-deps --disable-pip --strict \
    --progress-spinner off --vulnerability-service "${AUDIT_SERVICE:-pypi}"
