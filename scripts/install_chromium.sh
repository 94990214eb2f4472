#!/usr/bin/env bash
# Chromium for the browser tests only (`make test`; `make demo` does not need it): tests/test_browser.py drives it with
# Playwright, no browser download. Idempotent: does nothing when chromium is on PATH or T2VZ_CHROMIUM is set.
set -euo pipefail

# T2VZ_CHROMIUM names another Chromium/Chrome executable (e.g. on macOS).
if [ -z "${T2VZ_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  echo "== chromium (Debian package, for the browser tests)"
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: chromium is not installed and apt-get is not available to install it. Fix: install Chromium (or" \
         "Chrome) and put it on PATH as 'chromium', or set T2VZ_CHROMIUM=/path/to/the/executable." >&2
    exit 1
  fi
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium; } \
      >"${TMPDIR:-/tmp}/t2vz-apt.log" 2>&1; then
    cat "${TMPDIR:-/tmp}/t2vz-apt.log" >&2
    echo "error: 'apt-get install chromium' failed (log above). Fix: install Chromium yourself, or set" \
         "T2VZ_CHROMIUM=/path/to/chromium." >&2
    exit 1
  fi
fi

