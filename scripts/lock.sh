#!/usr/bin/env bash
# `make lock`: pin the tested set of dependencies into requirements/lock.txt.
#
# The lock covers setup.cfg's runtime dependencies and every extra (dev included) for
# Python 3.11 on Linux (x86_64). It is resolved by `uv pip compile`, preferring the versions
# installed in .venv (the set the suite last passed with) and then those already in the lock;
# a dependency new to setup.cfg gets its newest compatible release. `make install`/`demo`/`test`
# and CI install with `-c requirements/lock.txt`; setup.cfg keeps its lower bounds for library
# users. Rerun after adding or raising a dependency, then run `make test` and commit the lock.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
LOCK=requirements/lock.txt
TOOLS=.venv/.tools           # uv lives here, apart from the packages of the project
mkdir -p requirements

if [ ! -x "$TOOLS/bin/uv" ]; then
    "$PYTHON" -m venv "$TOOLS"
    "$TOOLS/bin/python" -m pip install --quiet uv
fi

seed="$(mktemp "${TMPDIR:-/tmp}/fiveplans-lock.XXXXXX")"
trap 'rm -f "$seed" "$seed.out"' EXIT
# preferences: the lock as it was, overridden by what .venv has installed (the tested set)
if [ -f "$LOCK" ]; then
    grep -E '^[A-Za-z0-9_.-]+==' "$LOCK" > "$seed" || true
fi
if [ -x .venv/bin/python ]; then
    .venv/bin/python -m pip freeze --exclude-editable 2>/dev/null | grep -E '^[A-Za-z0-9_.-]+==' >> "$seed" || true
    # one line per package, the installed version winning (it comes last)
    awk -F'==' '{ n = tolower($1); gsub(/[-_.]+/, "-", n); v[n] = $0; if (!(n in o)) { o[n] = ++k; order[k] = n } }
                END { for (i = 1; i <= k; i++) print v[order[i]] }' "$seed" > "$seed.out"
    mv "$seed.out" "$seed"
fi

cp "$seed" "$seed.out"
"$TOOLS/bin/uv" pip compile setup.cfg \
    --all-extras \
    --python-version 3.11 \
    --python-platform linux \
    --custom-compile-command "make lock" \
    --quiet \
    --output-file "$seed.out"
mv "$seed.out" "$LOCK"
echo "wrote $LOCK ($(grep -cE '^[A-Za-z0-9_.-]+==' "$LOCK") pinned packages)" >&2
