#!/usr/bin/env node
// sandbox-steps.js does ONE of the things an employee does on the Graph
// sandbox's security-info page (graph/sandbox) during the procedure, in
// headless Chromium, so that a test can interleave them with the chat:
//
//   node e2e/sandbox-steps.js <page-url> add <device-name>
//       「サインイン方法の追加」 → 「認証アプリ」 → 「追加」 → 「次へ」 → QR 「次へ」
//       → the 2-digit number, the device name → 「次へ」; waits for the row.
//   node e2e/sandbox-steps.js <page-url> add-passkey <device-name>
//       「サインイン方法の追加」 → 「パスキー (Microsoft Authenticator)」 → 「追加」
//       → the device name, iPhone (iOS) → 「次へ」; waits for the passkey row.
//   node e2e/sandbox-steps.js <page-url> delete-old
//       「削除」 on the Authenticator row of 「iPhone SE (3rd generation)」 →
//       「認証アプリの削除」 → 「OK」; waits until the row is gone.
//   node e2e/sandbox-steps.js <page-url> delete-old-passkey
//       「削除」 on the passkey row of 「iPhone SE (3rd generation)」 →
//       「パスキーの削除」 → 「OK」; waits until the row is gone.
//
// On success it prints the page's final list on stdout as one JSON line,
// {"methods":[{"id","displayName"}, …],"passkeys":[{"id","displayName","platform","created"}, …]}
// (the Authenticator rows and the passkey rows), and exits 0. It fails
// (exit 1, the reason on stderr) when an element is missing or mislabelled,
// when the page logs an error, or when the page tries to reach anything
// outside its own origin. SANDBOX_STEPS_SHOT=<file.png> saves a full-page
// screenshot at the end (also on failure, when the page got that far).
//
// Environment: CHROMIUM_PATH (default /usr/bin/chromium). Needs playwright-core
// from e2e/package.json (npm ci --prefix e2e). e2e/sandbox-page.js does an
// Authenticator swap in one run; this script exists so that the chat can go
// on in between.
'use strict';

const { openSandboxBrowser } = require('./sandbox-browser');

const OLD_DEVICE = 'iPhone SE (3rd generation)';
const STEP_TIMEOUT_MS = 15000;
const ROWS = '#method-list [data-testid="method-row"]';
const PASSKEYS = '#method-list [data-testid="passkey-row"]';

// The rows a delete mode removes: the old phone's row of one kind, its
// 「削除」 button and the title of the confirmation dialog.
const DELETES = {
  'delete-old': { rows: ROWS, button: 'delete-method', title: '認証アプリの削除', target: 'Microsoft Authenticator: ' + OLD_DEVICE },
  'delete-old-passkey': { rows: PASSKEYS, button: 'delete-passkey', title: 'パスキーの削除', target: 'パスキー (Microsoft Authenticator): ' + OLD_DEVICE },
};

function die(msg) {
  process.stderr.write('sandbox-steps: ' + msg + '\n');
  process.exit(1);
}

function usage() {
  die('usage: node e2e/sandbox-steps.js <page-url> add|add-passkey <device-name> | <page-url> delete-old|delete-old-passkey');
}

async function run(argv) {
  const [pageURL, mode, deviceName] = argv;
  const ok = ((mode === 'add' || mode === 'add-passkey') && deviceName) || Object.hasOwn(DELETES, mode);
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
    const names = (rows) => page.locator(rows).evaluateAll((els) => els.map((r) => r.getAttribute('data-device-name')));
    const listed = (rows, name, want) => page.waitForFunction(([sel, n, w]) =>
      Array.from(document.querySelectorAll(sel)).some((r) => r.getAttribute('data-device-name') === n) === w,
    [rows, name, want]);

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
      await listed(ROWS, deviceName, true);
    } else if (mode === 'add-passkey') {
      await press('add-method', 'サインイン方法の追加');
      await page.locator('#add-dialog').waitFor({ state: 'visible' });
      await page.selectOption('#method-select', { label: 'パスキー (Microsoft Authenticator)' });
      await press('add-confirm', '追加');
      await shows('#step-passkey', 'Microsoft Authenticator でパスキーを作成します');
      const platform = await page.inputValue('#passkey-platform');
      if (platform !== 'ios') throw new Error('the phone type is "' + platform + '", want the default ios');
      await page.fill('#passkey-name', deviceName);
      await press('passkey-next', '次へ');
      await page.locator('#add-dialog').waitFor({ state: 'hidden' });
      await listed(PASSKEYS, deviceName, true);
      await shows('#toast', 'パスキーが登録されました: ' + deviceName);
    } else {
      const del = DELETES[mode];
      const all = await names(del.rows);
      const i = all.indexOf(OLD_DEVICE);
      if (i < 0) throw new Error('no ' + del.rows + ' for "' + OLD_DEVICE + '" among ' + JSON.stringify(all));
      if (all.lastIndexOf(OLD_DEVICE) !== i) throw new Error('more than one ' + del.rows + ' for "' + OLD_DEVICE + '": ' + JSON.stringify(all));
      const button = page.locator(del.rows).nth(i).locator('[data-testid="' + del.button + '"]');
      const label = (await button.innerText()).trim();
      if (label !== '削除') throw new Error('the row\'s delete button reads "' + label + '", want 削除');
      await button.click();
      await page.locator('#delete-dialog').waitFor({ state: 'visible' });
      await shows('#delete-title', del.title);
      await shows('#delete-dialog', 'ご使用のアカウントでこの方法を削除しますか?');
      await shows('#delete-target', del.target);
      await press('delete-ok', 'OK');
      await page.locator('#delete-dialog').waitFor({ state: 'hidden' });
      await listed(del.rows, OLD_DEVICE, false);
    }
    await page.waitForSelector('body[data-busy="false"]');

    const final = {
      methods: await page.locator(ROWS).evaluateAll((rows) => rows.map((r) => ({
        id: r.getAttribute('data-method-id'),
        displayName: r.getAttribute('data-device-name'),
      }))),
      passkeys: await page.locator(PASSKEYS).evaluateAll((rows) => rows.map((r) => ({
        id: r.getAttribute('data-passkey-id'),
        displayName: r.getAttribute('data-device-name'),
        platform: r.getAttribute('data-platform'),
        created: r.querySelector('[data-testid="passkey-created"]').getAttribute('data-created'),
      }))),
    };
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
