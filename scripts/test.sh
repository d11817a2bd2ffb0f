#!/usr/bin/env bash
# The whole test suite, runnable on a fresh Debian machine:
#   1. makes sure a redis-server answers on 127.0.0.1:6379 (installs Debian's
#      redis-server and starts one when missing);
#   2. installs Debian's chromium (and a Japanese font) for the browser tests;
#   3. installs the npm packages of the end-to-end tests (e2e/package-lock.json);
#   4. gofmt, go vet and go test -race over every package;
#   5. each fuzz target for a fixed short time (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# 1. Redis
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  log "installing redis-server"
  apt_install redis-server
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  log "starting redis-server on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp --logfile /tmp/mfabot-test-redis.log
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null
export TEST_REDIS_ADDR=127.0.0.1:6379

# 2. Headless Chromium for the browser tests (the sandbox page, card screenshots),
#    with a Japanese font so that screenshots are readable
if [ ! -x /usr/bin/chromium ]; then
  log "installing chromium"
  apt_install chromium fonts-ipafont-gothic fonts-noto-color-emoji
elif ! dpkg -s fonts-ipafont-gothic fonts-noto-color-emoji >/dev/null 2>&1; then
  apt_install fonts-ipafont-gothic fonts-noto-color-emoji
fi

# 3. Node packages for the end-to-end tests
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  log "installing nodejs and npm"
  apt_install nodejs npm
fi
log "npm ci (e2e)"
npm ci --prefix e2e --no-audit --no-fund --loglevel=error

# 4. Go
log "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './e2e/node_modules/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
log "go vet"
go vet ./...
log "go test -race"
go test -race -count=1 -timeout 30m ./...
log "fuzz (each target for a fixed short time)"
FUZZTIME="${FUZZTIME:-10s}" bash scripts/fuzz.sh
