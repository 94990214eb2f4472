#!/usr/bin/env bash
# The packs users run beside this one, for the tests only (`make test`; `make demo`/`make serve` do not load them):
# AnimateDiff-Evolved and VideoHelperSuite at their pinned commits (scripts/sources.txt), into <host>/test_packs/,
# which the test servers add to ComfyUI's custom_nodes search path (tests/comfy_server.py).
#   T2VZ_HOST, T2VZ_COMFYUI: as scripts/install_host.sh;  T2VZ_THIRDPARTY: where the tarballs are
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/host_env.sh"
packs="$host/test_packs"
mkdir -p "$packs"
for name in ComfyUI-AnimateDiff-Evolved ComfyUI-VideoHelperSuite; do
  commit="$(awk -v n="$name" '$1 == n {print $3}' "$repo/scripts/sources.txt")"
  if [ "$(cat "$packs/$name/.t2vz-pinned" 2>/dev/null)" != "$commit" ]; then
    bash "$repo/scripts/fetch_source.sh" "$name" "$packs/$name"
    echo "$commit" > "$packs/$name/.t2vz-pinned"
  fi
done
echo "test packs ready: $packs"
