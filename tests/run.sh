#!/usr/bin/env bash
# Runs every check on a fresh machine: installs what the tests need (Debian's Chromium,
# PostgreSQL server and npm; the tests start their own throwaway PostgreSQL, axe-core comes from
# npm), a virtualenv with the package and its test tools, then ruff, mypy and the whole pytest suite,
# twice: today, and with tracker's clock 400 days ahead.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ! -x /usr/bin/chromium ]; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
fi

if ! command -v npm >/dev/null; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq npm >/dev/null
fi

python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -e '.[test]'
.venv/bin/ruff check .
.venv/bin/mypy
npm install --silent --no-audit --no-fund --no-save --no-package-lock --prefix tests/.npm axe-core@4.14.1
.venv/bin/python -m pytest
# The same suite a year ahead: every date in it derives from tracker's one clock, which
# TRACKER_CLOCK_OFFSET_DAYS shifts in this process, the servers it starts and the browser.
TRACKER_CLOCK_OFFSET_DAYS=400 .venv/bin/python -m pytest -q
