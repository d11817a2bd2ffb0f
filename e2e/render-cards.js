#!/usr/bin/env node
// Renders Adaptive Card JSON files to PNG screenshots with Microsoft's
// Adaptive Cards library (npm adaptivecards, pinned in e2e/package.json) in
// headless Chromium, with a host config close to Teams' light theme.
//
//   node e2e/render-cards.js --out DIR [--scale N] CARD.json...
//
// Each CARD.json becomes DIR/<name>.png, where <name> is the file name
// without ".golden.json" or ".json" (cards/testdata/welcome.ja.golden.json →
// welcome.ja.png). One JSON line per card on stdout:
//   {"file","png","ok","width","height","errors":[…]}
//
// A card fails, and gets no PNG, when the library reports a problem while
// parsing it or in its own validation, when render() throws or returns
// nothing, when an image of the card does not load, or when the page logs an
// error. The page may not fetch anything: every request that is not a data:
// URL is refused (and, for an image, fails the card). Exit status: 0 when
// every card rendered, 1 when one failed, 2 on a usage error.
//
// Environment: CHROMIUM_PATH (default /usr/bin/chromium). Needs
// playwright-core and adaptivecards from e2e/package.json (npm ci --prefix
// e2e), and a Japanese font (Debian fonts-ipafont-gothic; fonts-noto-color-emoji
// for the ✅ and 🗑 of some cards).
"use strict";

const fs = require("fs");
const path = require("path");
const { chromium } = require("playwright-core");

const AC_BUNDLE = require.resolve("adaptivecards/dist/adaptivecards.min.js");
const TIMEOUT_MS = 15000;

// Teams-like light theme: Segoe UI as Teams uses it, then Japanese UI fonts
// of Windows, macOS and Linux.
const FONT_STACK =
  "'Segoe UI', 'Segoe UI Web (West European)', -apple-system, 'Helvetica Neue', " +
  "'Yu Gothic UI', 'Meiryo UI', 'Hiragino Sans', 'IPAPGothic', 'IPAGothic', " +
  "'Noto Sans CJK JP', sans-serif, 'Noto Color Emoji'";

const ACCENT = "#5b5fc7";
const TEXT = "#242424";

function foregrounds() {
  return {
    default: { default: TEXT, subtle: "#616161" },
    dark: { default: "#242424", subtle: "#616161" },
    light: { default: "#ffffff", subtle: "#f0f0f0" },
    accent: { default: ACCENT, subtle: "#7f85f5" },
    good: { default: "#0e700e", subtle: "#107c10" },
    warning: { default: "#835c00", subtle: "#8a6a00" },
    attention: { default: "#c4314b", subtle: "#b10e1c" },
  };
}

// The values Teams uses for bot cards (light theme, desktop), as far as they
// are known: 12/14/18/24 px text, 16 px padding, small images 32 px, medium
// 52 px, large 100 px, horizontal left-aligned buttons. Teams draws bold as
// Segoe UI Semibold (600); the Japanese fonts of Linux have no semibold face
// and Chromium does not embolden them at 600, so bold is 700 here.
const HOST_CONFIG = {
  supportsInteractivity: true,
  fontFamily: FONT_STACK,
  fontTypes: {
    default: {
      fontFamily: FONT_STACK,
      fontSizes: { small: 12, default: 14, medium: 14, large: 18, extraLarge: 24 },
      fontWeights: { lighter: 300, default: 400, bolder: 700 },
    },
    monospace: {
      fontFamily: "Consolas, 'Courier New', monospace",
      fontSizes: { small: 12, default: 14, medium: 14, large: 18, extraLarge: 24 },
      fontWeights: { lighter: 300, default: 400, bolder: 700 },
    },
  },
  spacing: { small: 8, default: 12, medium: 16, large: 20, extraLarge: 24, padding: 16 },
  separator: { lineThickness: 1, lineColor: "#e0e0e0" },
  imageSizes: { small: 32, medium: 52, large: 100 },
  containerStyles: {
    default: { backgroundColor: "#ffffff", foregroundColors: foregrounds() },
    emphasis: { backgroundColor: "#f5f5f5", foregroundColors: foregrounds() },
    accent: { backgroundColor: "#e8ebfa", foregroundColors: foregrounds() },
    good: { backgroundColor: "#f1faf1", foregroundColors: foregrounds() },
    attention: { backgroundColor: "#fdf3f4", foregroundColors: foregrounds() },
    warning: { backgroundColor: "#fff9f5", foregroundColors: foregrounds() },
  },
  actions: {
    maxActions: 6,
    spacing: "Default",
    buttonSpacing: 8,
    showCard: { actionMode: "Inline", inlineTopMargin: 16, style: "emphasis" },
    actionsOrientation: "Horizontal",
    actionAlignment: "Left",
  },
  factSet: {
    title: { size: "Default", color: "Default", isSubtle: false, weight: "Bolder", wrap: true },
    value: { size: "Default", color: "Default", isSubtle: false, weight: "Default", wrap: true },
    spacing: 16,
  },
  imageSet: { imageSize: "Medium", maxImageHeight: 100 },
};

// The chat around the card: Teams' light chat background, the message
// bubble, and buttons styled like Teams' (the library leaves their look to
// the host).
const PAGE = `<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><style>
  html, body { margin: 0; background: #f5f5f5; }
  body { font-family: ${FONT_STACK}; color: ${TEXT}; -webkit-font-smoothing: antialiased; }
  #frame { display: inline-block; padding: 20px 24px; background: #f5f5f5; }
  #bubble { background: #ffffff; border-radius: 6px; box-shadow: 0 1px 2px rgba(0,0,0,0.14), 0 0 2px rgba(0,0,0,0.12); overflow: hidden; }
  .ac-textBlock p { margin: 0; }
  .ac-textBlock ul, .ac-textBlock ol { margin: 0; padding-left: 22px; }
  .ac-textBlock a { color: ${ACCENT}; text-decoration: none; }
  .ac-pushButton { font-family: inherit; font-size: 14px; font-weight: 600; color: ${TEXT};
    background: #ffffff; border: 1px solid #d1d1d1; border-radius: 4px; min-height: 32px;
    padding: 4px 12px; cursor: pointer; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .ac-pushButton.style-positive { background: ${ACCENT}; border-color: ${ACCENT}; color: #ffffff; }
  .ac-pushButton.style-destructive { color: #c4314b; }
</style></head>
<body><div id="frame"><div id="bubble"></div></div></body></html>`;

function usage(msg) {
  if (msg) process.stderr.write(`render-cards: ${msg}\n`);
  process.stderr.write("usage: node e2e/render-cards.js --out DIR [--scale N] CARD.json...\n");
  return 2;
}

function pngName(file) {
  return path.basename(file).replace(/\.golden\.json$|\.json$/, "") + ".png";
}

// renderInPage runs in the browser: it parses and renders the card into
// #bubble and returns the problems found.
function renderInPage({ json, hostConfig }) {
  const AC = window.AdaptiveCards;
  const problems = [];

  // Teams renders a subset of Markdown in TextBlocks: **bold**, _italic_,
  // [links](url), "- " and "1. " lists, line breaks.
  const escape = (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  const inline = (s) =>
    escape(s)
      .replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>")
      .replace(/(^|[\s(])_([^_]+)_(?=$|[\s).,!?、。])/g, "$1<em>$2</em>")
      .replace(/\[([^\]]+)\]\((https?:[^)\s]+)\)/g, '<a href="$2">$1</a>');
  AC.AdaptiveCard.onProcessMarkdown = (text, result) => {
    const out = [];
    let list = null;
    for (const line of String(text).split(/\r?\n/)) {
      const bullet = /^\s*[-*]\s+(.*)$/.exec(line);
      const numbered = /^\s*\d+\.\s+(.*)$/.exec(line);
      const kind = bullet ? "ul" : numbered ? "ol" : null;
      if (list && list !== kind) {
        out.push(`</${list}>`);
        list = null;
      }
      if (kind) {
        if (!list) out.push(`<${kind}>`);
        list = kind;
        out.push(`<li>${inline((bullet || numbered)[1])}</li>`);
      } else if (line.trim() !== "") {
        out.push(`<p>${inline(line)}</p>`);
      }
    }
    if (list) out.push(`</${list}>`);
    result.outputHtml = out.join("");
    result.didProcess = true;
  };

  // Images that fail to load: the library removes a broken <img>, so its
  // error event is caught on the way down (capture) instead.
  window.__brokenImages = [];
  window.addEventListener(
    "error",
    (e) => {
      if (e.target && e.target.tagName === "IMG") window.__brokenImages.push(e.target.getAttribute("src") || "");
    },
    true
  );

  const card = new AC.AdaptiveCard();
  card.hostConfig = new AC.HostConfig(hostConfig);
  const ctx = new AC.SerializationContext();
  try {
    card.parse(json, ctx);
  } catch (e) {
    problems.push(`parse threw: ${e && e.message ? e.message : e}`);
    return problems;
  }
  for (let i = 0; i < ctx.eventCount; i++) {
    problems.push(`parse: ${ctx.getEventAt(i).message}`);
  }
  for (const e of card.validateProperties().validationEvents) {
    problems.push(`validation: ${e.message}`);
  }
  let el;
  try {
    el = card.render();
  } catch (e) {
    problems.push(`render() threw: ${e && e.message ? e.message : e}`);
    return problems;
  }
  if (!el) {
    problems.push("render() returned nothing: the library could not render the card");
    return problems;
  }
  document.getElementById("bubble").appendChild(el);
  return problems;
}

async function renderCard(browser, file, outDir, scale) {
  const line = { file, png: undefined, ok: false, width: undefined, height: undefined, errors: [] };
  let json;
  try {
    json = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    line.errors.push(`cannot read the card as JSON: ${e.message}`);
    return line;
  }
  if (!json || typeof json !== "object" || Array.isArray(json)) {
    line.errors.push("the card is not a JSON object");
    return line;
  }
  // Full-width cards ("msteams": {"width": "Full"}) fill the chat column.
  const full = json.msteams && json.msteams.width === "Full";
  const width = full ? 640 : 440;

  const context = await browser.newContext({
    viewport: { width: width + 48, height: 800 },
    deviceScaleFactor: scale,
    locale: "ja-JP",
    serviceWorkers: "block",
  });
  try {
    await context.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith("data:") || url === "about:blank") return route.continue();
      line.errors.push(`the card tried to fetch ${url.slice(0, 120)} (the renderer works offline)`);
      return route.abort("blockedbyclient");
    });
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT_MS);
    page.on("pageerror", (e) => line.errors.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error") line.errors.push(`console error: ${m.text()}`);
    });
    await page.setContent(PAGE);
    await page.addStyleTag({ content: `#bubble { width: ${width}px; }` });
    await page.addScriptTag({ path: AC_BUNDLE });
    line.errors.push(...(await page.evaluate(renderInPage, { json, hostConfig: HOST_CONFIG })));

    // Every image must load (QR codes are data: URLs; anything else is
    // refused above and fails here).
    await page.waitForFunction(() => Array.from(document.images).every((img) => img.complete));
    const broken = await page.evaluate(() => [
      ...window.__brokenImages,
      ...Array.from(document.images)
        .filter((img) => img.naturalWidth === 0)
        .map((img) => img.getAttribute("src") || ""),
    ]);
    for (const src of broken) line.errors.push(`image did not load: ${src.slice(0, 80)}`);
    await page.evaluate(() => document.fonts.ready);

    if (line.errors.length > 0) return line;
    const frame = await page.$("#frame");
    const png = path.join(outDir, pngName(file));
    await frame.screenshot({ path: png });
    const box = await frame.boundingBox();
    line.png = png;
    line.width = Math.round(box.width * scale);
    line.height = Math.round(box.height * scale);
    line.ok = true;
    return line;
  } finally {
    await context.close();
  }
}

async function main(argv) {
  let outDir;
  let scale = 1;
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--out") outDir = argv[++i];
    else if (a === "--scale") scale = Number(argv[++i]);
    else if (a.startsWith("--")) return usage(`unknown option ${a}`);
    else files.push(a);
  }
  if (!outDir) return usage("--out DIR is required");
  if (!(scale >= 1 && scale <= 4)) return usage("--scale must be between 1 and 4");
  if (files.length === 0) return usage("no card files");
  fs.mkdirSync(outDir, { recursive: true });

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  let failed = 0;
  try {
    for (const file of files) {
      let line;
      try {
        line = await renderCard(browser, file, outDir, scale);
      } catch (e) {
        line = { file, ok: false, errors: [`renderer failed: ${e && e.message ? e.message : e}`] };
      }
      if (!line.ok) {
        failed++;
        for (const e of line.errors) process.stderr.write(`render-cards: ${file}: ${e}\n`);
      }
      process.stdout.write(JSON.stringify(line) + "\n");
    }
  } finally {
    await browser.close();
  }
  if (failed > 0) {
    process.stderr.write(`render-cards: ${failed} of ${files.length} card(s) did not render\n`);
    return 1;
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`render-cards: ${(e && e.stack) || e}\n`);
    process.exitCode = 1;
  }
);
