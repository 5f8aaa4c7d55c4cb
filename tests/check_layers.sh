#!/usr/bin/env bash
# Keeps core/'s layers: every #include "..." under core/ must name a header of
# its own folder or of a layer its folder uses, as core/CMakeLists.txt declares
# them (LAYERS_FILE, one "folder: used folders..." line per library). Fails,
# naming the file and line, on an include of a higher or unrelated layer, of a
# plugin, of tests/ tools/ bench/, or of a core header not by its folder path.
# Usage: check_layers.sh SOURCE_DIR LAYERS_FILE
set -euo pipefail
src=$1
layers=$2
cd "$src"

declare -A uses
while IFS=: read -r folder used; do
  [ -n "$folder" ] || continue
  uses[$folder]=$(echo ${uses[$folder]:-} $used)
done < "$layers"

bad=0
complain() {
  echo "$1"
  bad=1
}

for f in $(find core -type f \( -name '*.h' -o -name '*.cc' \) | sort); do
  folder=$(echo "$f" | cut -d/ -f2)
  if [ "$(echo "$f" | tr -cd / | wc -c)" -lt 2 ]; then
    complain "$f: a core source outside every layer folder (put it in core/<layer>/)"
    continue
  fi
  if [ -z "${uses[$folder]+x}" ]; then
    complain "$f: folder core/$folder is no layer of core/CMakeLists.txt (banger_core_layer)"
    continue
  fi
  allowed=" $folder ${uses[$folder]} "
  while IFS=: read -r line text; do
    target=$(echo "$text" | sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]([^">]*)[">].*/\1/')
    case "$target" in
      plugins/*)
        complain "$f:$line: core includes a plugin ($target): core never names a capability" ;;
      tests/* | tools/* | bench/*)
        complain "$f:$line: core includes $target, which is built on top of core" ;;
      core/*/*)
        layer=$(echo "$target" | cut -d/ -f2)
        case "$allowed" in
          *" $layer "*) ;;
          *) complain "$f:$line: $folder may not include $target ($folder uses: ${uses[$folder]:-nothing}); a lower layer that needs a higher one needs an interface, not an include" ;;
        esac ;;
      core/*)
        complain "$f:$line: $target is not under a layer folder" ;;
      banger/*) ;;  # the SDK's headers
      *)
        if [[ "$text" =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\" ]]; then
          complain "$f:$line: include \"$target\" by its path from the top (core/<layer>/...)"
        fi ;;
    esac
  done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]' "$f" || true)
done

if [ "$bad" -ne 0 ]; then
  echo "check_layers: core's includes break its layers (see above)"
  exit 1
fi
echo "check_layers: $(find core -type f \( -name '*.h' -o -name '*.cc' \) | wc -l) files, every include within its layers"
