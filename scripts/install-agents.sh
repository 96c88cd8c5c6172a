#!/usr/bin/env bash
# Installs the coding-agent CLIs the end-to-end tests drive (tests/agents): the versions pinned in
# devtools/agents/package-lock.json, with `npm ci`, into $AGENTS_HOME (default .local/agents).
# Idempotent: nothing is fetched again while the lock file is unchanged. Needs npm and Node.js 20+
# (Gemini CLI's minimum; Claude Code and Codex ship native binaries in their npm packages).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
home="${AGENTS_HOME:-$root/.local/agents}"
lock="$root/devtools/agents/package-lock.json"
stamp="$home/.installed-$(sha256sum "$lock" | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "npm is required to install the coding-agent CLIs" >&2; exit 1; }
major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$major" -lt 20 ]; then
  echo "Node.js 20 or later is required by the pinned Gemini CLI (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
mkdir -p "$home"
rm -f "$home"/.installed-*
cp "$root/devtools/agents/package.json" "$lock" "$home/"
(cd "$home" && npm ci --no-audit --no-fund --loglevel=error)
touch "$stamp"
echo "Coding-agent CLIs installed in $home: $(ls "$home/node_modules/.bin" | tr '\n' ' ')"
