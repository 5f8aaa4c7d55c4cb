#!/usr/bin/env bash
# Fails unless every given capability exports exactly one defined dynamic
# symbol: banger_capability_entry.
set -euo pipefail
status=0
for so in "$@"; do
  exported=$(nm -D --defined-only "$so" | awk '{print $NF}' | sort)
  if [ "$exported" != "banger_capability_entry" ]; then
    echo "FAIL: $so exports:"; echo "$exported" | sed 's/^/  /'
    status=1
  else
    echo "ok: $so exports only banger_capability_entry"
  fi
done
exit $status
