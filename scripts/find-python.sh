#!/usr/bin/env bash
# Print the path of a Python >= 3.12 interpreter found on this machine, or explain what is missing.
# Order: $PYTHON, python3.13/python3.12/python3 on PATH, pyenv-installed 3.12/3.13, /usr/bin and /usr/local/bin.
set -u
ok() { "$1" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; }
cands=()
[ -n "${PYTHON:-}" ] && cands+=("$PYTHON")
for name in python3.12 python3.13 python3; do
  p=$(command -v "$name" 2>/dev/null) && cands+=("$p")
done
root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
for v in "$root"/versions/3.12* "$root"/versions/3.13*; do
  [ -x "$v/bin/python3" ] && cands+=("$v/bin/python3")
done
for p in /usr/bin/python3.12 /usr/bin/python3.13 /usr/local/bin/python3.12 /usr/local/bin/python3.13; do
  [ -x "$p" ] && cands+=("$p")
done
for p in "${cands[@]}"; do
  if ok "$p"; then echo "$p"; exit 0; fi
done
cat >&2 <<'MSG'
microsim needs Python >= 3.12 with the venv module, and none was found.
Looked at: $PYTHON, python3.13 / python3.12 / python3 on PATH, pyenv versions 3.12* / 3.13*, /usr/bin, /usr/local/bin.
Fix one of:
  - Debian 13:  apt-get install python3.13 python3.13-venv
  - Debian 12:  pyenv install 3.12   (or use a pyenv-provided 3.12/3.13 if `pyenv versions` lists one)
  - anywhere:   make PYTHON=/path/to/python3.12 demo
MSG
exit 1
