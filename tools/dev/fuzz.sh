#!/usr/bin/env bash
# The fuzzers (fuzz/): built with clang-14, libFuzzer, ASan and UBSan in
# the sanitizer build (build-asan/, configured by tools/dev/sanitize.sh),
# each run over its seed corpus (fuzz/corpus/<target>) for SECONDS
# (default 20). A crash, a sanitizer report, a leak or a failed check
# (__builtin_trap) fails the run and leaves the input in build-asan/.
#   tools/dev/fuzz.sh            every target, 20 s each (what CI runs)
#   tools/dev/fuzz.sh 600 vm_record_fuzz    one target, longer
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-20}"
shift || true
tools/dev/install-deps.sh  # clang-14 and its sanitizer runtimes among them
[ -f build-asan/build.ninja ] || BANGER_CONFIGURE_ONLY=1 tools/dev/sanitize.sh asan
cmake --build build-asan -j "${BANGER_JOBS:-2}" --target fuzzers
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(vm_record_fuzz agent_config_fuzz create_request_fuzz
                                     control_server_fuzz metrics_line_fuzz vsock_reply_fuzz)
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
for t in "${targets[@]}"; do
  work="build-asan/corpus/$t"
  mkdir -p "$work"
  echo "fuzz: $t for ${seconds}s"
  (cd build-asan && "./fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
     -print_final_stats=1 "corpus/$t" "../fuzz/corpus/$t" 2>&1 | tail -12)
done
