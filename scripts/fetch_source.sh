#!/usr/bin/env bash
# fetch_source.sh NAME DEST: puts the pinned tree of NAME (scripts/sources.txt) at DEST.
#   T2VZ_THIRDPARTY  folder holding the tarballs (default: <repo>/../shared/thirdparty, else shared/thirdparty beside
#                    a folder above the repository, or above the one a local clone came from)
# From the tarball when it is there (its embedded commit id must be the pinned one), else `git clone` of the pinned
# commit; fails naming both places when neither works. DEST appears only when complete.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name="$1" dest="$2"
read -r _ url commit tarball version < <(grep -E "^$name[[:space:]]" "$repo/scripts/sources.txt") || {
  echo "error: $name is not listed in scripts/sources.txt" >&2; exit 1; }
# where to look: $T2VZ_THIRDPARTY, else shared/thirdparty beside this repository (../shared/thirdparty) or beside a
# folder above it, nearest first, and the same for the repository a local clone (CI's clean clone of main) came from
if [ -n "${T2VZ_THIRDPARTY:-}" ]; then
  folders=("$T2VZ_THIRDPARTY")
else
  folders=()
  origin="$(git -C "$repo" remote get-url origin 2>/dev/null || true)"
  origin="${origin#file://}"
  for start in "$repo" "$origin"; do
    [ -n "$start" ] && [ -d "$start" ] || continue
    dir="$(cd "$start" && pwd)"
    while [ "$dir" != "/" ]; do
      dir="$(dirname "$dir")"
      folders+=("$dir/shared/thirdparty")
    done
  done
fi
folder=""
for candidate in "${folders[@]}"; do
  candidate="$(cd "$candidate" 2>/dev/null && pwd || echo "$candidate")"
  if [ -f "$candidate/$tarball" ]; then folder="$candidate"; break; fi
done
tmp="$dest.partial"
rm -rf "$tmp"
mkdir -p "$tmp"
if [ -n "$folder" ]; then
  found="$(gzip -dc "$folder/$tarball" | git get-tar-commit-id || true)"
  if [ "$found" != "$commit" ]; then
    echo "error: $folder/$tarball holds commit '${found:-none}', not the pinned $commit ($name $version). Fix: put" \
         "the tarball of that commit there (git archive), or remove it so that setup clones $url." >&2
    exit 1
  fi
  tar -xzf "$folder/$tarball" -C "$tmp" --strip-components=1
  echo "$name $version: from $folder/$tarball"
else
  log="$(mktemp)"
  if ! { git -C "$tmp" init -q && git -C "$tmp" remote add origin "$url" \
         && GIT_TERMINAL_PROMPT=0 git -C "$tmp" fetch -q --depth 1 origin "$commit" \
         && git -C "$tmp" -c advice.detachedHead=false checkout -q FETCH_HEAD; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -rf "$tmp"
    echo "error: cannot get $name $version (commit $commit). Looked for the tarball $tarball in ${folders[*]:-none}" \
         "(absent; set T2VZ_THIRDPARTY to the folder that holds it) and tried \`git clone $url\` at that commit" \
         "(failed, output above: no network to GitHub?). Fix: either one." >&2
    exit 1
  fi
  rm -f "$log"
  echo "$name $version: cloned from $url at $commit"
fi
rm -rf "$dest"
mv "$tmp" "$dest"
