#!/usr/bin/env bash
# Runs each native Go fuzz target for a fixed short time, one after the
# other, and fails if any of them fails:
#   FuzzActivityDecode (bot)   arbitrary bodies to the HTTP handler
#   FuzzCardAction (dialogs)   arbitrary card actions against a real Redis
#   FuzzStepContent (cards)    arbitrary step content files
#   FuzzTurnsUnderFaults (.)   Redis and connector faults at points the
#                              input picks, with Teams' redeliveries; the
#                              exactly-once invariant is the oracle
# FUZZTIME (default 10s) is the time per target; with the builds cached the
# whole script takes about 40 s. A failing input is saved under
# <package>/testdata/fuzz/<target>/ and then runs with the package's
# ordinary tests until it is fixed (or removed).
#
# FuzzCardAction and FuzzTurnsUnderFaults need Redis: TEST_REDIS_ADDR, else 127.0.0.1:6379, else a
# private redis-server started here and stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZTIME=${FUZZTIME:-10s}
log() { printf '== %s\n' "$*"; }

redis_pid=""
cleanup() { if [ -n "$redis_pid" ]; then kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

answers() { redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null | grep -q PONG; }

if [ -z "${TEST_REDIS_ADDR:-}" ]; then
  if command -v redis-cli >/dev/null && answers 6379; then
    export TEST_REDIS_ADDR=127.0.0.1:6379
  else
    command -v redis-server >/dev/null || { echo "fuzz.sh: redis-server is not installed (scripts/test.sh installs it)" >&2; exit 1; }
    for _ in $(seq 20); do
      port=$((20000 + RANDOM % 40000))
      answers "$port" && continue
      redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir /tmp >/dev/null 2>&1 &
      redis_pid=$!
      for _ in $(seq 50); do answers "$port" && break; sleep 0.1; done
      if answers "$port"; then export TEST_REDIS_ADDR=127.0.0.1:$port; break; fi
      cleanup; redis_pid=""
    done
    [ -n "${TEST_REDIS_ADDR:-}" ] || { echo "fuzz.sh: could not start redis-server" >&2; exit 1; }
    log "private redis-server on $TEST_REDIS_ADDR"
  fi
fi

failed=()
for target in bot:FuzzActivityDecode dialogs:FuzzCardAction cards:FuzzStepContent .:FuzzTurnsUnderFaults; do
  pkg=./${target%%:*}
  pkg=${pkg%/.}
  name=${target#*:}
  log "$name ($pkg, $FUZZTIME)"
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg"; then
    failed+=("$name")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failed: ${failed[*]}" >&2
  exit 1
fi
log "fuzzing passed"
