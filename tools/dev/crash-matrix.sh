#!/usr/bin/env bash
# Runs the crash matrix (root: namespaces, TAPs, nft) and writes its table
# into docs/RELIABILITY.md. The suite then checks the file against each run.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/dev/build.sh
BANGER_UPDATE_RELIABILITY=1 build/tests/crash_matrix_tests
git --no-pager diff --stat docs/RELIABILITY.md
