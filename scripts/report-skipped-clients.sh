#!/bin/sh
# Prints, loudly, the tests that skipped because a real client (ffmpeg,
# Chromium, node) is missing: e2e's skip helpers append "missing<TAB>test"
# lines to $SKIPPED_CLIENTS_LOG, which `make test` passes here as $1. Exits 0:
# outside CI a missing client is a skip, not a failure (CI=true fails them).
set -eu
log=${1:?usage: report-skipped-clients.sh FILE}
[ -s "$log" ] || exit 0

n=$(sort -u "$log" | wc -l | tr -d ' ')
{
  echo
  echo "################################################################################"
  echo "# WARNING: $n test(s) SKIPPED, not run: real clients are missing."
  echo "# 'ok' above does not cover them. Missing, and the tests skipped:"
  sort -u "$log" | awk -F '\t' '
    { tests[$1] = tests[$1] "\n#       " $2; count[$1]++ }
    END { for (m in count) printf "#   %s (%d test(s)):%s\n", m, count[m], tests[m] }'
  echo "#"
  echo "# Install them (Debian/Ubuntu; ~200 MB), then run make test again:"
  echo "#     sh scripts/install-test-clients.sh"
  echo "################################################################################"
} >&2
