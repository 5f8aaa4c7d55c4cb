#!/usr/bin/env bash
# Fails when a project source file differs from what clang-format makes of it
# (the project's .clang-format).
set -euo pipefail
cd "$1"
files=$(git ls-files '*.c' '*.cc' '*.h' '*.hpp' 2>/dev/null || find core sdk plugins tools tests bench -name '*.c' -o -name '*.cc' -o -name '*.h' -o -name '*.hpp')
[ -n "$files" ] || { echo "no sources found"; exit 1; }
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files
echo "ok: $(echo "$files" | wc -l) files are clang-formatted"
