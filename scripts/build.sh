#!/bin/sh
# Builds the bot exactly as the Dockerfile's build stage does: a static
# (CGO_ENABLED=0), stripped binary at /out/mfabot. build_test.go checks that
# the go build line below is identical to the Dockerfile's RUN line.
set -eu
cd "$(dirname "$0")/.."
mkdir -p /out
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/mfabot .
ls -l /out/mfabot
