#!/usr/bin/env node
// Validates Adaptive Card JSON files with Microsoft's Adaptive Cards library
// (npm adaptivecards, the version pinned in e2e/package.json).
//
//   node e2e/validate-cards.js FILE_OR_DIR...
//
// A directory stands for every *.json file in it (not recursive). For each
// card one JSON line is printed on stdout:
//
//   {"file":…,"ok":true|false,"version":"1.5","bytes":N,"fileBytes":N,"events":[…]}
//
// bytes is the size of the card as compact JSON (what the bot sends, before
// the Bot Framework envelope); fileBytes the size of the file as read.
// Each event is {"origin","type","element","message"} (plus "count" when the
// same event occurs more than once), from these origins:
//
//   library-parse     events the library logs while parsing
//                     (new AdaptiveCard().parse(json, new SerializationContext()):
//                     ctx.eventCount / ctx.getEventAt(i)): unknown element or
//                     action types, invalid enum values, invalid version
//                     strings, properties newer than the card's version;
//   library-validate  card.validateProperties() (the library's own second
//                     pass): unsupported card version, missing card type,
//                     duplicate ids, required properties such as
//                     Action.OpenUrl's url;
//   schema            properties the library does not know for that element
//                     or action, and values of the wrong JSON type (checked
//                     against the library's own property schema: the library
//                     silently ignores both, so a misspelt "wrapp" or an
//                     "isSubtle": "yes" would otherwise pass);
//   teams             rules of Teams bot cards that the library does not
//                     enforce: version present and at most 1.5, a title on
//                     every button, a verb on every Action.Execute (and a
//                     version >= 1.4 for it).
//
// Every event, warning or error, fails the card. Exit status: 0 when every
// card has no event, 1 when some card has one (or cannot be read or parsed
// as JSON), 2 on a usage error (no card files).
"use strict";

const fs = require("fs");
const path = require("path");
// The package's ESM entry does not resolve in Node; the UMD bundle does.
const AC = require("adaptivecards/dist/adaptivecards.js");

// Teams renders bot-sent cards up to schema version 1.5.
const TEAMS_MAX_VERSION = AC.Versions.v1_5;
// Keys the library parses by hand instead of through its property schema.
const STRUCTURAL_KEYS = ["items", "body", "columns", "actions", "inlines", "card", "fallback", "pages", "rows", "cells"];
// Host extensions Teams reads at the card root (msteams.width, ...).
const ROOT_HOST_KEYS = ["msteams"];

function enumName(enumType, value) {
  return enumType[value] !== undefined ? enumType[value] : String(value);
}

function typeOf(o) {
  try {
    return o && typeof o.getJsonTypeName === "function" ? o.getJsonTypeName() : undefined;
  } catch (e) {
    return undefined;
  }
}

// Records, for every object the library parses, the JSON it came from and
// the keys its schema knows, so that unknown keys can be reported.
const parsedObjects = [];
const baseInternalParse = AC.SerializableObject.prototype.internalParse;
AC.SerializableObject.prototype.internalParse = function (source, context) {
  if (source && typeof source === "object" && !Array.isArray(source)) {
    parsedObjects.push({ object: this, source: source });
  }
  return baseInternalParse.call(this, source, context);
};

function knownKeys(o) {
  const keys = new Set(STRUCTURAL_KEYS);
  const schema = o.getSchema();
  for (let i = 0; i < schema.getCount(); i++) {
    keys.add(schema.getItemAt(i).name);
  }
  return keys;
}

function parseVersion(v) {
  if (typeof v !== "string") return undefined;
  const m = /^(\d+)\.(\d+)$/.exec(v);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

function versionAtMost(v, max) {
  return v.major < max.major || (v.major === max.major && v.minor <= max.minor);
}

// teamsChecks walks the raw JSON for the Teams rules.
function teamsChecks(json, events) {
  const add = (element, message) => events.push({ origin: "teams", type: "TeamsRule", element, message });
  const v = parseVersion(json.version);
  if (json.version === undefined) {
    add("AdaptiveCard", 'The card has no "version"; Teams needs one (at most 1.5).');
  } else if (!v) {
    add("AdaptiveCard", `The card version ${JSON.stringify(json.version)} is not "major.minor".`);
  } else if (!versionAtMost(v, TEAMS_MAX_VERSION)) {
    add("AdaptiveCard", `The card version ${json.version} is above 1.5, the highest Teams renders for bot cards.`);
  }
  const walk = (node, where, isButtonList) => {
    if (Array.isArray(node)) {
      node.forEach((n, i) => walk(n, `${where}[${i}]`, false));
      if (isButtonList) {
        node.forEach((a, i) => {
          if (a && typeof a === "object" && (typeof a.title !== "string" || a.title.trim() === "")) {
            add(a.type, `${where}[${i}] (${a.type}) has no title: a button needs one.`);
          }
        });
      }
      return;
    }
    if (!node || typeof node !== "object") return;
    if (node.type === "Action.Execute") {
      if (typeof node.verb !== "string" || node.verb === "") {
        add("Action.Execute", `${where} has no verb: Teams clients and the bot route Action.Execute on it.`);
      }
      if (v && !versionAtMost({ major: 1, minor: 4 }, v)) {
        add("Action.Execute", `${where} needs card version 1.4 or later (the card says ${json.version}).`);
      }
    }
    for (const [k, child] of Object.entries(node)) {
      if (k === "data") continue; // free-form action data
      walk(child, `${where}.${k}`, k === "actions");
    }
  };
  walk(json, "$", false);
}

function validate(json) {
  const events = [];
  if (!json || typeof json !== "object" || Array.isArray(json)) {
    events.push({ origin: "library-parse", type: "MissingCardType", element: undefined, message: "The card is not a JSON object." });
    return { version: undefined, events };
  }

  // Parse against the card's own version, capped at Teams' 1.5, so that
  // elements, properties and values newer than that are reported.
  let target = TEAMS_MAX_VERSION;
  const declared = parseVersion(json.version);
  if (declared && versionAtMost(declared, TEAMS_MAX_VERSION)) {
    target = new AC.Version(declared.major, declared.minor);
  }
  const card = new AC.AdaptiveCard();
  const ctx = new AC.SerializationContext(target);
  parsedObjects.length = 0;
  card.parse(json, ctx);

  for (let i = 0; i < ctx.eventCount; i++) {
    const e = ctx.getEventAt(i);
    events.push({
      origin: "library-parse",
      type: enumName(AC.ValidationEvent, e.event),
      element: typeOf(e.source),
      message: e.message,
    });
  }

  const results = card.validateProperties();
  for (const e of results.validationEvents) {
    events.push({
      origin: "library-validate",
      type: enumName(AC.ValidationEvent, e.event),
      element: typeOf(e.source),
      message: e.message,
    });
  }

  const seen = new Set();
  for (const { object, source } of parsedObjects) {
    if (seen.has(source)) continue; // the library parses some objects twice
    seen.add(source);
    schemaChecks(object, source, object === card, events);
  }

  teamsChecks(json, events);
  return { version: card.version ? card.version.toString() : undefined, events: dedupe(events) };
}

// schemaChecks reports the keys of source that the library's schema for
// object does not know, and values of the wrong JSON type for the
// properties it does know (the library drops those silently too).
function schemaChecks(object, source, isRoot, events) {
  const type = typeOf(object) || object.constructor.name;
  const add = (t, message) => events.push({ origin: "schema", type: t, element: type, message });
  const known = knownKeys(object);
  for (const key of Object.keys(source)) {
    if (!known.has(key) && !(isRoot && ROOT_HOST_KEYS.includes(key))) {
      add("UnknownProperty", `Unknown property ${JSON.stringify(key)} on ${type}: the library ignores it.`);
    }
  }
  const schema = object.getSchema();
  const checked = new Set();
  for (let i = 0; i < schema.getCount(); i++) {
    const prop = schema.getItemAt(i);
    if (checked.has(prop.name) || !Object.prototype.hasOwnProperty.call(source, prop.name)) continue;
    checked.add(prop.name);
    const value = source[prop.name];
    let want;
    if (prop instanceof AC.BoolProperty) want = "boolean";
    else if (prop instanceof AC.NumProperty) want = "number";
    else if (prop instanceof AC.StringProperty) want = "string";
    if (want && typeof value !== want) {
      add("InvalidPropertyType", `Property ${JSON.stringify(prop.name)} on ${type} is ${JSON.stringify(value)}, not a ${want}: the library ignores it.`);
    }
  }
}

// dedupe merges identical events (the library logs some twice), counting them.
function dedupe(events) {
  const byKey = new Map();
  for (const e of events) {
    const key = JSON.stringify([e.origin, e.type, e.element, e.message]);
    const prev = byKey.get(key);
    if (prev) prev.count = (prev.count || 1) + 1;
    else byKey.set(key, { ...e });
  }
  return [...byKey.values()];
}

function cardFiles(args) {
  const files = [];
  for (const arg of args) {
    let st;
    try {
      st = fs.statSync(arg);
    } catch (e) {
      files.push(arg); // reported as unreadable below
      continue;
    }
    if (st.isDirectory()) {
      for (const name of fs.readdirSync(arg).sort()) {
        if (name.endsWith(".json")) files.push(path.join(arg, name));
      }
    } else {
      files.push(arg);
    }
  }
  return files;
}

function main(argv) {
  if (argv.length === 0) {
    process.stderr.write("usage: node e2e/validate-cards.js CARD.json|DIR...\n");
    return 2;
  }
  const files = cardFiles(argv);
  if (files.length === 0) {
    process.stderr.write(`validate-cards: no *.json card files in ${argv.join(" ")}\n`);
    return 2;
  }
  let failed = 0;
  for (const file of files) {
    const line = { file, ok: false, version: undefined, bytes: undefined, fileBytes: undefined, events: [] };
    let json;
    try {
      const text = fs.readFileSync(file, "utf8");
      line.fileBytes = Buffer.byteLength(text, "utf8");
      json = JSON.parse(text);
      line.bytes = Buffer.byteLength(JSON.stringify(json), "utf8");
    } catch (e) {
      line.events.push({ origin: "file", type: "Unreadable", element: undefined, message: String(e.message || e) });
    }
    if (line.events.length === 0) {
      try {
        const r = validate(json);
        line.version = r.version;
        line.events = r.events;
      } catch (e) {
        line.events.push({ origin: "library-parse", type: "Exception", element: undefined, message: String((e && e.stack) || e) });
      }
    }
    line.ok = line.events.length === 0;
    if (!line.ok) failed++;
    process.stdout.write(JSON.stringify(line) + "\n");
  }
  if (failed > 0) {
    process.stderr.write(`validate-cards: ${failed} of ${files.length} card(s) have events\n`);
    return 1;
  }
  return 0;
}

process.exitCode = main(process.argv.slice(2));
