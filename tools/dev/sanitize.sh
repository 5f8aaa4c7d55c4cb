#!/usr/bin/env bash
# The test suite under sanitizers, in a build dir of its own:
#   tools/dev/sanitize.sh asan   whole suite, AddressSanitizer + UndefinedBehaviorSanitizer
#   tools/dev/sanitize.sh tsan   the concurrency tests, ThreadSanitizer
# A report fails the run (halt_on_error; UBSan does not recover). Checks of
# the build itself (formatting, layers, exported symbols, ODR under LTO, the
# SDK example) run in the plain suite only.
set -euo pipefail
cd "$(dirname "$0")/../.."
kind="${1:?usage: sanitize.sh asan|tsan}"
tools/dev/install-deps.sh
case "$kind" in
  asan)
    # GCC's -Wmaybe-uninitialized misfires on instrumented library code.
    flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -Wno-maybe-uninitialized"
    export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=0"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
    export LSAN_OPTIONS="suppressions=$PWD/tools/dev/lsan.supp:print_suppressions=0"
    tests=""  # all
    ;;
  tsan)
    flags="-fsanitize=thread -fno-omit-frame-pointer -Wno-maybe-uninitialized -Wno-tsan"
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
    # In-process concurrency: the store's readers and writers, the handle
    # cache, hook dispatch. (Agent-level tests run bangerd as its own process,
    # built with TSan too, through the lifecycle and reaper suites.)
    tests="VmStoreTest|HandleStoreTest|StoreCopiesTest|PluginHost|HookDispatcher|LifecycleTest|StaleReaperTest"
    ;;
  *)
    echo "sanitize.sh: unknown kind '$kind' (asan or tsan)" >&2
    exit 2
    ;;
esac
dir="build-$kind"
if [ ! -f "$dir/build.ninja" ]; then
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags" \
    -DCMAKE_MODULE_LINKER_FLAGS="$flags" > /dev/null
fi
cmake --build "$dir" -j "${BANGER_JOBS:-2}"
cd "$dir"
structural="one_definition|capabilities_export|source_is_clang|sdk_example|abi_helper|core_layers"
if [ -n "$tests" ]; then
  ctest --output-on-failure -j "${BANGER_JOBS:-2}" --timeout 900 -R "$tests" -E "$structural"
else
  ctest --output-on-failure -j "${BANGER_JOBS:-2}" --timeout 900 -E "$structural"
fi
