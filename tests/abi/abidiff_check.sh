#!/usr/bin/env bash
# abidiff_check.sh compatible|incompatible SUPPRESSIONS OLD.so NEW.so
# Runs abidiff (Debian: abigail-tools) on two builds of a capability and
# checks its verdict: "compatible" passes when abidiff reports no change
# that the suppressions (what ABI 1.x allows) do not cover; "incompatible"
# passes only when it reports one (exit bit 4, or 8). The report is printed
# either way.
set -uo pipefail
want=$1 suppr=$2 old=$3 new=$4
command -v abidiff > /dev/null || { echo "abidiff is not installed (apt-get install abigail-tools)"; exit 1; }
abidiff --suppressions "$suppr" --harmless "$old" "$new"
rc=$?
echo "abidiff exit status: $rc (1 error, 2 usage, 4 ABI change, 8 incompatible change)"
if (( rc & 3 )); then
  echo "abidiff failed"
  exit 1
fi
case "$want" in
  compatible) (( rc & 12 )) && { echo "FAIL: an ABI change that 1.x does not allow"; exit 1; } ;;
  incompatible) (( rc & 12 )) || { echo "FAIL: the change was not caught"; exit 1; } ;;
  *) echo "usage: abidiff_check.sh compatible|incompatible SUPPR OLD NEW"; exit 2 ;;
esac
exit 0
