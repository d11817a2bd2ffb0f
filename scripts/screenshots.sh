#!/bin/sh
# Regenerates the card screenshots under docs/ from the golden cards of
# cards/testdata (run `go test ./cards -update` first when the cards changed).
# Needs the npm packages of e2e/ (npm ci --prefix e2e), Debian's chromium and
# fonts-ipafont-gothic (Japanese) and fonts-noto-color-emoji (✅, 🗑).
set -eu
cd "$(dirname "$0")/.."
cards="welcome step-open_page step-install_app step-confirm_new-found step-delete_old-devices done-devices step-add_passkey-found step-delete_old-passkey"
set --
for c in $cards; do set -- "$@" "cards/testdata/$c.ja.golden.json"; done
node e2e/render-cards.js --out docs "$@"
