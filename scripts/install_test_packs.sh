#!/usr/bin/env bash
# The packs users run beside this one, for the tests only (`make test`; `make demo`/`make serve` do not load them),
# at their pinned commits (scripts/sources.txt): AnimateDiff-Evolved and VideoHelperSuite into <host>/test_packs/,
# which the test servers add to ComfyUI's custom_nodes search path (tests/comfy_server.py); ComfyUI-Distributed into
# <host>/distributed/, which each server of a distributed test copies (it keeps its worker list in its own folder).
#   T2VZ_HOST, T2VZ_COMFYUI: as scripts/install_host.sh;  T2VZ_THIRDPARTY: where the tarballs are
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/host_env.sh"
packs="$host/test_packs"
install() {  # install NAME FOLDER: the pinned tree of NAME at FOLDER/NAME, unless it is there already
  local name="$1" folder="$2" commit
  commit="$(awk -v n="$name" '$1 == n {print $3}' "$repo/scripts/sources.txt")"
  if [ "$(cat "$folder/$name/.t2vz-pinned" 2>/dev/null)" != "$commit" ]; then
    mkdir -p "$folder"
    bash "$repo/scripts/fetch_source.sh" "$name" "$folder/$name"
    echo "$commit" > "$folder/$name/.t2vz-pinned"
  fi
}
install ComfyUI-AnimateDiff-Evolved "$packs"
install ComfyUI-VideoHelperSuite "$packs"
install ComfyUI-Distributed "$host/distributed"
echo "test packs ready: $packs, $host/distributed"
