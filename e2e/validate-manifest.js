#!/usr/bin/env node
// Validates Teams app manifest files offline against the official JSON
// schemas bundled in npm @microsoft/app-manifest (the version pinned in
// e2e/package.json), with ajv-draft-04 (the schemas are JSON Schema draft-04).
//
//   node e2e/validate-manifest.js FILE...
//
// Each file's "$schema" picks the schema:
//   https://developer.microsoft.com/json-schemas/teams/vX.Y/MicrosoftTeams.schema.json
//     → build/json-schemas/teams/vX.Y/MicrosoftTeams.schema.json
//   https://developer.microsoft.com/json-schemas/teams/vX.Y/MicrosoftTeams.Localization.schema.json
//     → build/json-schemas/teams/vX.Y/MicrosoftTeams.Localization.schema.json
// (an /en-us/ after the host is accepted too). A schema that is not bundled is
// an error: the script never downloads one, refuses a schema whose $refs point
// outside itself, and cannot open a network connection at all.
//
// For an app manifest it also checks the package around it: the files it
// names (icons, localization files) must exist beside it, and a localization
// file must use the same schema version as the manifest.
//
// One JSON line per file on stdout:
//   {"file":…,"ok":true|false,"schema":"v1.30/MicrosoftTeams.schema.json","errors":[{"path","message"}]}
// Exit status: 0 when every file is valid, 1 when one is not (or cannot be
// read), 2 on a usage error.
"use strict";

// Offline, always: refuse every connection and name look-up before any
// library is loaded, so that a stray fetch fails instead of leaving the machine.
const net = require("net");
const dns = require("dns");
function refuseNetwork() {
  throw new Error("validate-manifest: network access attempted; validation must stay offline");
}
net.Socket.prototype.connect = refuseNetwork;
net.connect = net.createConnection = refuseNetwork;
dns.lookup = dns.resolve = refuseNetwork;
if (dns.promises) dns.promises.lookup = dns.promises.resolve = refuseNetwork;
if (typeof globalThis.fetch === "function") globalThis.fetch = refuseNetwork;

const fs = require("fs");
const path = require("path");

const PKG = "@microsoft/app-manifest";
const pkgDir = path.dirname(require.resolve(PKG + "/package.json"));
const SCHEMA_DIR = path.join(pkgDir, "build", "json-schemas", "teams");
const Ajv04 = require("ajv-draft-04");
// ajv-formats is the format plugin @microsoft/app-manifest itself uses (its
// dependency), so it is resolved from there.
const addFormats = require(require.resolve("ajv-formats", { paths: [pkgDir] }));

const SCHEMA_URL = /^https:\/\/developer\.microsoft\.com\/(?:en-us\/)?json-schemas\/teams\/(v[0-9]+\.[0-9]+|vDevPreview)\/(MicrosoftTeams\.schema\.json|MicrosoftTeams\.Localization\.schema\.json)$/;

const compiled = new Map();

// remoteRefs lists every $ref in a schema that does not point inside it.
function remoteRefs(node, found = []) {
  if (Array.isArray(node)) {
    node.forEach((n) => remoteRefs(n, found));
  } else if (node && typeof node === "object") {
    for (const [k, v] of Object.entries(node)) {
      if (k === "$ref" && typeof v === "string" && !v.startsWith("#")) found.push(v);
      else remoteRefs(v, found);
    }
  }
  return found;
}

// validatorFor returns the compiled schema for a $schema URL.
function validatorFor(schemaURL) {
  const m = SCHEMA_URL.exec(schemaURL || "");
  if (!m) {
    throw new Error(
      `"$schema" is ${JSON.stringify(schemaURL)}; expected https://developer.microsoft.com/json-schemas/teams/vX.Y/MicrosoftTeams.schema.json or …/MicrosoftTeams.Localization.schema.json`
    );
  }
  const [, version, name] = m;
  const key = `${version}/${name}`;
  if (compiled.has(key)) return { key, version, name, validate: compiled.get(key) };
  const file = path.join(SCHEMA_DIR, version, name);
  if (!fs.existsSync(file)) {
    throw new Error(`${PKG} does not bundle ${key}; refusing to fetch it from the network`);
  }
  const schema = JSON.parse(fs.readFileSync(file, "utf8").replace(/^\uFEFF/, ""));
  if (schema.$schema !== "http://json-schema.org/draft-04/schema#") {
    throw new Error(`${key} is not a draft-04 schema (${schema.$schema})`);
  }
  const remote = remoteRefs(schema);
  if (remote.length > 0) {
    throw new Error(`${key} refers to other documents (${remote.join(", ")}); refusing to fetch them`);
  }
  // The options @microsoft/app-manifest uses (AppManifestUtils), with no
  // loadSchema: an unresolvable $ref is an error, never a download. The
  // patterns are compiled without the "u" flag: the Localization schema has
  // patterns such as \[\b(...)\b]\.description$ whose lone "]" is a syntax
  // error in Unicode mode (ajv's default) but valid in plain ECMAScript.
  const ajv = new Ajv04({ allErrors: true, strictTypes: false, unicodeRegExp: false });
  addFormats(ajv, ["uri", "email", "regex"]);
  const validate = ajv.compile(schema);
  compiled.set(key, validate);
  return { key, version, name, validate };
}

function readJSON(file) {
  return JSON.parse(fs.readFileSync(file, "utf8").replace(/^\uFEFF/, ""));
}

// packageChecks checks what a manifest refers to beside it.
function packageChecks(file, manifest, version, errors) {
  const dir = path.dirname(file);
  const add = (p, message) => errors.push({ path: p, message });
  const relative = (p, rel) => {
    if (typeof rel !== "string") return;
    if (path.isAbsolute(rel) || rel.split(/[\\/]/).includes("..")) {
      add(p, `${JSON.stringify(rel)} must be a path inside the package`);
    } else if (!fs.existsSync(path.join(dir, rel))) {
      add(p, `${JSON.stringify(rel)} is not in the package (no such file beside ${path.basename(file)})`);
    }
  };
  const icons = manifest.icons || {};
  relative("/icons/color", icons.color);
  relative("/icons/outline", icons.outline);
  relative("/icons/color32x32", icons.color32x32);
  const loc = manifest.localizationInfo || {};
  const langFiles = [];
  if (typeof loc.defaultLanguageFile === "string") langFiles.push(["/localizationInfo/defaultLanguageFile", loc.defaultLanguageFile]);
  (Array.isArray(loc.additionalLanguages) ? loc.additionalLanguages : []).forEach((l, i) => {
    if (l && typeof l.file === "string") langFiles.push([`/localizationInfo/additionalLanguages/${i}/file`, l.file]);
  });
  for (const [p, rel] of langFiles) {
    const before = errors.length;
    relative(p, rel);
    if (errors.length > before) continue;
    let loc;
    try {
      loc = readJSON(path.join(dir, rel));
    } catch (e) {
      add(p, `${rel} cannot be read as JSON: ${e.message}`);
      continue;
    }
    const m = SCHEMA_URL.exec(loc.$schema || "");
    if (!m || m[2] !== "MicrosoftTeams.Localization.schema.json") {
      add(p, `${rel} is not a localization file (its "$schema" is ${JSON.stringify(loc.$schema)})`);
    } else if (m[1] !== version) {
      add(p, `${rel} uses localization schema ${m[1]} but the manifest uses ${version}; they must be the same`);
    }
  }
}

function validateFile(file) {
  const line = { file, ok: false, schema: undefined, errors: [] };
  let doc;
  try {
    doc = readJSON(file);
  } catch (e) {
    line.errors.push({ path: "", message: `cannot read JSON: ${e.message}` });
    return line;
  }
  let v;
  try {
    v = validatorFor(doc && doc.$schema);
  } catch (e) {
    line.errors.push({ path: "/$schema", message: e.message });
    return line;
  }
  line.schema = v.key;
  if (!v.validate(doc)) {
    for (const e of v.validate.errors) {
      let message = e.message || e.keyword;
      if (e.keyword === "additionalProperties") message += `: ${JSON.stringify(e.params.additionalProperty)}`;
      else if (e.keyword === "enum") message += `: ${JSON.stringify(e.params.allowedValues)}`;
      line.errors.push({ path: e.instancePath, message });
    }
  }
  if (v.name === "MicrosoftTeams.schema.json") packageChecks(file, doc, v.version, line.errors);
  line.ok = line.errors.length === 0;
  return line;
}

function main(argv) {
  if (argv.length === 0) {
    process.stderr.write("usage: node e2e/validate-manifest.js MANIFEST_OR_LOCALIZATION.json...\n");
    return 2;
  }
  let failed = 0;
  for (const file of argv) {
    const line = validateFile(file);
    if (!line.ok) failed++;
    process.stdout.write(JSON.stringify(line) + "\n");
  }
  if (failed > 0) {
    process.stderr.write(`validate-manifest: ${failed} of ${argv.length} file(s) are not valid\n`);
    return 1;
  }
  return 0;
}

process.exitCode = main(process.argv.slice(2));
