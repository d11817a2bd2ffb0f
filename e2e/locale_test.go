//go:build unix

package e2e

// The Playground's environment for the tests that talk to the bot in
// Japanese: a shim preloaded into the Playground gives its activities the
// locale ja-JP, which LANG alone does not.

import (
	"os"
	"path/filepath"
	"testing"
)

// localeShim is preloaded into the Playground (NODE_OPTIONS=--require) to
// give the activities it sends to the bot the locale of
// MFABOT_E2E_ACTIVITY_LOCALE. Playground 0.2.28 writes "locale":"en-US" into
// every activity it builds, whatever LANG says (LANG only changes the
// language of its CLI), so without this the bot answers in English. The shim
// rewrites a JSON body to /api/messages that the Playground writes in one
// piece (axios does): the activity's locale and the clientInfo entities'
// locale, and Content-Length to match. Anything else passes unchanged; a body
// it cannot read is reported on stderr (the Playground's output). The log
// stream still shows the activity as the Playground built it (en-US).
const localeShim = `'use strict';
// Written by e2e/locale_test.go (mfabot): activities to the bot carry
// the locale MFABOT_E2E_ACTIVITY_LOCALE instead of the Playground's en-US.
const http = require('http');
const target = process.env.MFABOT_E2E_ACTIVITY_LOCALE;
function relocalize(req, chunk, encoding) {
  if (!target || req.headersSent || typeof req.path !== 'string' || !req.path.endsWith('/api/messages')) return chunk;
  let text;
  if (typeof chunk === 'string' && (encoding === undefined || /^utf-?8$/i.test(encoding))) text = chunk;
  else if (chunk instanceof Uint8Array) text = Buffer.from(chunk).toString('utf8');
  else return chunk;
  let activity;
  try { activity = JSON.parse(text); } catch (e) {
    process.stderr.write('[e2e locale shim] body to ' + req.path + ' is not one JSON chunk; locale left as is\n');
    return chunk;
  }
  if (!activity || typeof activity !== 'object') return chunk;
  if (typeof activity.locale === 'string') activity.locale = target;
  for (const e of Array.isArray(activity.entities) ? activity.entities : []) {
    if (e && e.type === 'clientInfo' && typeof e.locale === 'string') e.locale = target;
  }
  const out = Buffer.from(JSON.stringify(activity), 'utf8');
  if (req.getHeader('content-length') !== undefined) req.setHeader('Content-Length', out.length);
  return out;
}
for (const name of ['write', 'end']) {
  const original = http.ClientRequest.prototype[name];
  http.ClientRequest.prototype[name] = function (chunk, ...rest) {
    if (chunk != null && typeof chunk !== 'function') {
      const encoding = typeof rest[0] === 'string' ? rest[0] : undefined;
      const next = relocalize(this, chunk, encoding);
      if (next !== chunk) {
        chunk = next;
        if (encoding !== undefined) rest[0] = undefined; // a Buffer now
      }
    }
    return original.call(this, chunk, ...rest);
  };
}
`

// japanesePlaygroundEnv is the Playground's environment for a Japanese user:
// LANG=ja_JP.UTF-8 and, since that alone leaves the activities en-US, the
// locale shim set to ja-JP.
func japanesePlaygroundEnv(t *testing.T) map[string]string {
	t.Helper()
	shim := filepath.Join(t.TempDir(), "activity-locale.cjs")
	if err := os.WriteFile(shim, []byte(localeShim), 0o644); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"LANG":                       "ja_JP.UTF-8",
		"NODE_OPTIONS":               `--require "` + shim + `"`,
		"MFABOT_E2E_ACTIVITY_LOCALE": "ja-JP",
	}
}
