#!/usr/bin/env node
// passkey-page.js drives the Graph sandbox's security-info page in headless
// Chromium through the whole phone's other methods, for browser_test.go:
// on a user who starts with a passkey in Authenticator on
// 「iPhone SE (3rd generation)」 it
//   1. adds a passkey: 「サインイン方法の追加」 → 「パスキー (Microsoft
//      Authenticator)」 → 「追加」 → the device name, 「Android」 → 「次へ」;
//   2. adds another authenticator app: 「サインイン方法の追加」 → 「認証アプリ」 →
//      「追加」 → 「別の認証アプリを使用します」 → a wrong code, then six digits →
//      「次へ」;
//   3. deletes the old passkey: 「削除」 → 「パスキーの削除」 → 「OK」;
//   4. deletes the other app: 「削除」 → 「認証アプリの削除」 → 「OK」.
//
//   node graph/sandbox/testdata/passkey-page.js <page-url> <new-device-name> <screenshot.png>
//
// On success it writes a full-page screenshot to the given path and prints
// the final list on stdout as JSON:
//   {"methods":[{"id","displayName"}],"passkeys":[{"id","displayName","platform"}],"oath":["…"]}
// It fails (exit 1, reason on stderr) when a step is missing or mislabelled,
// when the page logs an error, or when it reaches outside its own origin.
// It uses e2e/sandbox-browser.js and so playwright-core from e2e/node_modules
// (npm ci --prefix e2e); CHROMIUM_PATH as there.
'use strict';

const path = require('path');
const { openSandboxBrowser } = require(path.join(__dirname, '..', '..', '..', 'e2e', 'sandbox-browser'));

const OLD_DEVICE = 'iPhone SE (3rd generation)';
const TIMEOUT_MS = 15000;
const PASSKEYS = '#method-list [data-testid="passkey-row"]';
const OATH = '#method-list [data-testid="oath-row"]';

function fail(msg) {
  process.stderr.write('passkey-page: ' + msg + '\n');
  process.exit(1);
}

async function main(argv) {
  const [pageURL, deviceName, shotPath] = argv;
  if (!pageURL || !deviceName || !shotPath) {
    fail('usage: node graph/sandbox/testdata/passkey-page.js <page-url> <new-device-name> <screenshot.png>');
  }
  const origin = new URL(pageURL).origin;
  const { browser, page, problems } = await openSandboxBrowser(origin, TIMEOUT_MS);
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
    const passkeyNames = () => page.locator(PASSKEYS).evaluateAll((rows) => rows.map((r) => r.getAttribute('data-device-name')));
    const passkeyListed = (name, want) => page.waitForFunction(([sel, n, w]) =>
      Array.from(document.querySelectorAll(sel)).some((r) => r.getAttribute('data-device-name') === n) === w,
    [PASSKEYS, name, want]);
    const oathCount = (n) => page.waitForFunction(([sel, k]) => document.querySelectorAll(sel).length === k, [OATH, n]);
    const confirmDelete = async (title, target) => {
      await page.locator('#delete-dialog').waitFor({ state: 'visible' });
      await shows('#delete-title', title);
      await shows('#delete-dialog', 'ご使用のアカウントでこの方法を削除しますか?');
      await shows('#delete-target', target);
      await press('delete-ok', 'OK');
      await page.locator('#delete-dialog').waitFor({ state: 'hidden' });
    };

    const resp = await page.goto(pageURL, { waitUntil: 'load' });
    if (!resp || resp.status() !== 200) throw new Error('GET ' + pageURL + ': status ' + (resp && resp.status()));
    await page.waitForSelector('body[data-ready="true"]');
    await shows('#method-list', 'パスキー (Microsoft Authenticator)');
    const initial = await passkeyNames();
    if (JSON.stringify(initial) !== JSON.stringify([OLD_DEVICE])) throw new Error('initial passkeys ' + JSON.stringify(initial));
    await shows(PASSKEYS, '登録日時: ');

    // 1. A passkey in Authenticator on the new Android phone.
    await press('add-method', 'サインイン方法の追加');
    await page.locator('#add-dialog').waitFor({ state: 'visible' });
    await page.selectOption('#method-select', { label: 'パスキー (Microsoft Authenticator)' });
    await press('add-confirm', '追加');
    await shows('#step-passkey', 'Microsoft Authenticator でパスキーを作成します');
    if (await page.inputValue('#passkey-platform') !== 'ios') throw new Error('the platform does not default to iOS');
    await page.fill('#passkey-name', deviceName);
    await page.selectOption('#passkey-platform', 'android');
    await press('passkey-next', '次へ');
    await page.locator('#add-dialog').waitFor({ state: 'hidden' });
    await passkeyListed(deviceName, true);
    await shows('#toast', 'パスキーが登録されました: ' + deviceName);
    const platform = await page.locator(PASSKEYS).last().getAttribute('data-platform');
    if (platform !== 'Android') throw new Error('the new passkey\'s platform is "' + platform + '"');

    // 2. Another authenticator app.
    await press('add-method', 'サインイン方法の追加');
    await page.selectOption('#method-select', { label: '認証アプリ' });
    await press('add-confirm', '追加');
    await press('use-other-app', '別の認証アプリを使用します');
    await shows('#step-oath', 'アプリを設定する');
    await page.locator('#oath-qr-code').waitFor({ state: 'visible' });
    await page.fill('#oath-code', '12');
    await press('oath-next', '次へ');
    await shows('#oath-error', '6 桁のコード');
    await page.fill('#oath-code', '123456');
    await press('oath-next', '次へ');
    await page.locator('#add-dialog').waitFor({ state: 'hidden' });
    await oathCount(1);
    await shows(OATH, 'その他の認証アプリ');

    // 3. The old passkey goes.
    const i = (await passkeyNames()).indexOf(OLD_DEVICE);
    const del = page.locator(PASSKEYS).nth(i).locator('[data-testid="delete-passkey"]');
    if ((await del.innerText()).trim() !== '削除') throw new Error('the passkey row\'s delete button does not read 削除');
    await del.click();
    await confirmDelete('パスキーの削除', 'パスキー (Microsoft Authenticator): ' + OLD_DEVICE);
    await passkeyListed(OLD_DEVICE, false);
    await page.waitForSelector('body[data-busy="false"]');

    // 4. So does the other app.
    await page.locator(OATH).first().locator('[data-testid="delete-oath"]').click();
    await confirmDelete('認証アプリの削除', 'その他の認証アプリ: 識別子 ');
    await oathCount(0);
    await page.waitForSelector('body[data-busy="false"]');

    await page.screenshot({ path: shotPath, fullPage: true });
    const final = await page.evaluate(() => {
      const rows = (testid) => Array.from(document.querySelectorAll('#method-list [data-testid="' + testid + '"]'));
      return {
        methods: rows('method-row').map((r) => ({ id: r.getAttribute('data-method-id'), displayName: r.getAttribute('data-device-name') })),
        passkeys: rows('passkey-row').map((r) => ({
          id: r.getAttribute('data-passkey-id'), displayName: r.getAttribute('data-device-name'), platform: r.getAttribute('data-platform'),
        })),
        oath: rows('oath-row').map((r) => r.getAttribute('data-oath-id')),
      };
    });
    if (problems.length > 0) throw new Error(problems.join('\n'));
    process.stdout.write(JSON.stringify(final) + '\n');
  } catch (e) {
    if (problems.length > 0) e.message += '\nalso: ' + problems.join('\n');
    throw e;
  } finally {
    await browser.close();
  }
}

const watchdog = setTimeout(() => fail('gave up after 90 s'), 90000);
watchdog.unref();
main(process.argv.slice(2)).catch((e) => fail(e && e.stack ? e.stack : String(e)));
