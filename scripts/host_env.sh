# Sourced by the install scripts: which ComfyUI (T2VZ_COMFYUI) and where its host lives (T2VZ_HOST).
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version="${T2VZ_COMFYUI:-0.33.0}"
case "$version" in
  0.33.0) default_host="$repo/.host" ;;
  0.3.75) default_host="$repo/.host-0.3.75" ;;
  *) echo "error: T2VZ_COMFYUI=$version is not a tested ComfyUI. Fix: use 0.33.0 (default) or 0.3.75." >&2; exit 1 ;;
esac
host="${T2VZ_HOST:-$default_host}"
