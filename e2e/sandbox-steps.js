#!/usr/bin/env node
// sandbox-steps.js does ONE of the two things an employee does on the Graph
// sandbox's security-info page (graph/sandbox) during the procedure, in
// headless Chromium, so that a test can interleave them with the chat:
//
//   node e2e/sandbox-steps.js <page-url> add <device-name>
//       「サインイン方法の追加」 → 「認証アプリ」 → 「追加」 → 「次へ」 → QR 「次へ」
//       → the 2-digit number, the device name → 「次へ」; waits for the row.
//   node e2e/sandbox-steps.js <page-url> delete-old
//       「削除」 on 「iPhone SE (3rd generation)」 → 「認証アプリの削除」 → 「OK」;
//       waits until the row is gone.
//
// On success it prints the page's final list on stdout as one JSON line,
// [{"id":"…","displayName":"…"}, …], and exits 0. It fails (exit 1, the
// reason on stderr) when an element is missing or mislabelled, when the page
// logs an error, or when the page tries to reach anything outside its own
// origin. SANDBOX_STEPS_SHOT=<file.png> saves a full-page screenshot at the
// end (also on failure, when the page got that far).
//
// Environment: CHROMIUM_PATH (default /usr/bin/chromium). Needs playwright-core
// from e2e/package.json (npm ci --prefix e2e). e2e/sandbox-page.js does both
// steps in one run; this script exists so that the chat can go on in between.
'use strict';

const { openSandboxBrowser } = require('./sandbox-browser');

const OLD_DEVICE = 'iPhone SE (3rd generation)';
const STEP_TIMEOUT_MS = 15000;
const ROWS = '#method-list [data-testid="method-row"]';

function die(msg) {
  process.stderr.write('sandbox-steps: ' + msg + '\n');
  process.exit(1);
}

function usage() {
  die('usage: node e2e/sandbox-steps.js <page-url> add <device-name> | <page-url> delete-old');
}

async function run(argv) {
  const [pageURL, mode, deviceName] = argv;
  const ok = (mode === 'add' && deviceName) || mode === 'delete-old';
  if (!pageURL || !ok) usage();
  let origin;
  try {
    origin = new URL(pageURL).origin;
  } catch (e) {
    die('not a URL: ' + pageURL);
  }
  const { browser, page, problems } = await openSandboxBrowser(origin, STEP_TIMEOUT_MS);
  try {
    const textOf = async (selector) => (await page.locator(selector).innerText()).replace(/\s+/g, ' ').trim();
    const press = async (id, label) => {
      const el = page.locator('#' + id);
      await el.waitFor({ state: 'visible' });
      const text = (await el.innerText()).replace(/\s+/g, ' ').trim();
      if (!text.includes(label)) throw new Error('#' + id + ' reads "' + text + '", want "' + label + '"');
      await el.click();
    };
    const shows = async (selector, want) => {
      const text = await textOf(selector);
      if (!text.includes(want)) throw new Error(selector + ' does not show "' + want + '": "' + text + '"');
    };
    const names = () => page.locator(ROWS).evaluateAll((rows) => rows.map((r) => r.getAttribute('data-device-name')));
    const listed = (name, want) => page.waitForFunction(([sel, n, w]) =>
      Array.from(document.querySelectorAll(sel)).some((r) => r.getAttribute('data-device-name') === n) === w,
    [ROWS, name, want]);

    const resp = await page.goto(pageURL, { waitUntil: 'load' });
    if (!resp || resp.status() !== 200) throw new Error('GET ' + pageURL + ': status ' + (resp && resp.status()));
    await page.waitForSelector('body[data-ready="true"]');
    await shows('h1', 'セキュリティ情報');
    await shows('#method-list', 'パスワード');

    if (mode === 'add') {
      await press('add-method', 'サインイン方法の追加');
      await page.locator('#add-dialog').waitFor({ state: 'visible' });
      await page.selectOption('#method-select', { label: '認証アプリ' });
      await press('add-confirm', '追加');
      await shows('#step-app', '最初にアプリを取得します');
      await press('app-next', '次へ');
      await page.locator('#qr-code').waitFor({ state: 'visible' });
      await shows('#step-qr', 'QR コードをスキャン');
      await press('qr-next', '次へ');
      await shows('#step-number', 'この番号をアプリに入力してください');
      const number = (await page.locator('#approval-number').innerText()).trim();
      if (!/^[1-9][0-9]$/.test(number)) throw new Error('approval number "' + number + '" is not 10–99');
      await page.fill('#device-name', deviceName);
      await press('number-next', '次へ');
      await page.locator('#add-dialog').waitFor({ state: 'hidden' });
      await listed(deviceName, true);
    } else {
      const all = await names();
      const i = all.indexOf(OLD_DEVICE);
      if (i < 0) throw new Error('no row for "' + OLD_DEVICE + '" among ' + JSON.stringify(all));
      const del = page.locator(ROWS).nth(i).locator('[data-testid="delete-method"]');
      const label = (await del.innerText()).trim();
      if (label !== '削除') throw new Error('the row\'s delete button reads "' + label + '", want 削除');
      await del.click();
      await page.locator('#delete-dialog').waitFor({ state: 'visible' });
      await shows('#delete-dialog', '認証アプリの削除');
      await shows('#delete-dialog', 'ご使用のアカウントでこの方法を削除しますか?');
      await press('delete-ok', 'OK');
      await page.locator('#delete-dialog').waitFor({ state: 'hidden' });
      await listed(OLD_DEVICE, false);
    }
    await page.waitForSelector('body[data-busy="false"]');

    const final = await page.locator(ROWS).evaluateAll((rows) => rows.map((r) => ({
      id: r.getAttribute('data-method-id'),
      displayName: r.getAttribute('data-device-name'),
    })));
    if (problems.length > 0) throw new Error(problems.join('\n'));
    process.stdout.write(JSON.stringify(final) + '\n');
  } catch (e) {
    if (problems.length > 0) e.message += '\nalso: ' + problems.join('\n');
    throw e;
  } finally {
    if (page && process.env.SANDBOX_STEPS_SHOT) {
      await page.screenshot({ path: process.env.SANDBOX_STEPS_SHOT, fullPage: true }).catch(() => {});
    }
    await browser.close();
  }
}

const watchdog = setTimeout(() => die('gave up after 60 s'), 60000);
watchdog.unref();
run(process.argv.slice(2)).catch((e) => die(e && e.stack ? e.stack : String(e)));
