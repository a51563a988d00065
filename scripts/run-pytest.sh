#!/usr/bin/env bash
# Runs pytest and refuses to pass when no test ran (pytest exits 5 then).
set -uo pipefail
python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "run-pytest: ERROR: no test was collected or run in: $*" >&2
  exit 1
fi
exit "$rc"
