#!/usr/bin/env bash
# The man pages and the bash completion, as rendered at build time from the
# programs' own tables (cmake/RenderDocs.cmake): roff without a warning,
# every key of the shipped config documented, and the completion completing
# in a real bash. Usage: docs_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2 out=$1/docs-out
fail() { echo "docs_test: $*" >&2; exit 1; }

for page in bangerd.8 bangerctl.8 bangerd.conf.5; do
  [ -s "$out/$page" ] || fail "$page was not rendered"
  warnings=$(groff -man -ww -z "$out/$page" 2>&1)
  [ -z "$warnings" ] || fail "$page: groff says: $warnings"
done

# Every key and section of the shipped config is in bangerd.conf(5).
while IFS= read -r line; do
  case "$line" in
    \[*\]) grep -qF ".SH ${line//-/\\-}" "$out/bangerd.conf.5" ||
        fail "bangerd.conf.5 lacks section $line" ;;
    [a-z]*=*)
      key=${line%%=*}; key=${key% }
      grep -qF ".B $key =" "$out/bangerd.conf.5" || fail "bangerd.conf.5 lacks key $key" ;;
  esac
done < "$src/config/bangerd.conf"
# Every flag bangerd takes is in bangerd.8.
for flag in $("$build/core/agent/bangerd" --help | grep -o '^  --[a-z-]*' ); do
  grep -qF "${flag//-/\\-}" "$out/bangerd.8" || fail "bangerd.8 lacks $flag"
done

# The completion, in bash, as a shell would call it.
complete_words() {  # the words typed so far, the last one being completed
  bash --norc --noprofile -c '
    source "$1"; shift
    COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
    _bangerctl
    echo "${COMPREPLY[*]}"' _ "$out/bangerctl.bash-completion" "$@"
}
check() {  # expected, then the words
  local want=$1; shift
  local got; got=$(complete_words "$@")
  [ "$got" = "$want" ] || fail "completing '$*': got '$got', want '$want'"
}
check "vm version" bangerctl v
check "rm run" bangerctl vm r
check "logs ls" bangerctl --socket /tmp/x.sock vm l
check "drain" bangerctl dr
check "--socket" bangerctl --so
check "check" bangerctl plugin ""
echo "docs_test: ok"
