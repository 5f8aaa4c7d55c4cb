#!/usr/bin/env bash
# The test suite under sanitizers, in a build dir of its own:
#   tools/dev/sanitize.sh asan   whole suite, AddressSanitizer + UndefinedBehaviorSanitizer
#   tools/dev/sanitize.sh tsan   the concurrency tests, ThreadSanitizer
# Built with clang-14 (faster to build than GCC here, and the fuzzers need
# it): the asan build dir also holds the fuzzers, which tools/dev/fuzz.sh
# then runs without a build of their own. bangerd, fc-sim and the
# capabilities the tests start are instrumented too, so a report in the
# agent fails the test that drove it. A report fails the run
# (halt_on_error; UBSan does not recover). Checks of the build itself
# (formatting, layers, exported symbols, ODR under LTO, the SDK example)
# run in the plain suite only.
set -euo pipefail
cd "$(dirname "$0")/../.."
kind="${1:?usage: sanitize.sh asan|tsan}"
[ -n "${BANGER_CONFIGURE_ONLY:-}" ] || tools/dev/install-deps.sh
case "$kind" in
  asan)
    # fuzzer-no-link: coverage hooks for the fuzz targets built alongside.
    flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
    link="-fsanitize=address,undefined"
    extra="-DBANGER_FUZZ=ON"
    export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=0"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
    export LSAN_OPTIONS="suppressions=$PWD/tools/dev/lsan.supp:print_suppressions=0"
    tests=""  # all
    ;;
  tsan)
    flags="-fsanitize=thread -fno-omit-frame-pointer"
    link="$flags"
    extra="-DBANGER_BUILD_BENCH=OFF"
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
    # In-process concurrency: the store's readers and writers, the handle
    # cache, hook dispatch. (Agent-level tests run bangerd as its own process,
    # built with TSan too, through the lifecycle and reaper suites.)
    tests="VmStoreTest|HandleStoreTest|StoreCopiesTest|PluginHostTest|LifecycleTest|StaleReaperTest|HostileClientTest|AgentTest"
    ;;
  *)
    echo "sanitize.sh: unknown kind '$kind' (asan or tsan)" >&2
    exit 2
    ;;
esac
dir="build-$kind"
if [ ! -f "$dir/build.ninja" ]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DBANGER_STATIC_HELPERS=OFF -DBANGER_CAPABILITY_ALLOW_UNDEFINED=ON $extra \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_EXE_LINKER_FLAGS="$link" -DCMAKE_SHARED_LINKER_FLAGS="$link" \
    -DCMAKE_MODULE_LINKER_FLAGS="$link" > /dev/null
fi
[ -z "${BANGER_CONFIGURE_ONLY:-}" ] || exit 0
cmake --build "$dir" -j "${BANGER_JOBS:-2}"
cd "$dir"
# The jail tests need a static fc-sim (it runs alone in a chroot), which a
# sanitizer build cannot link: they run in the plain suite.
structural="one_definition|capabilities_export|source_is_clang|sdk_example|abi_helper|core_layers|JailTest"
if [ -n "$tests" ]; then
  ctest --output-on-failure -j "${BANGER_JOBS:-2}" --timeout 900 -R "$tests" -E "$structural"
else
  ctest --output-on-failure -j "${BANGER_JOBS:-2}" --timeout 900 -E "$structural"
fi
