#!/usr/bin/env node
// sandbox-page.js drives the Graph sandbox's security-info page
// (graph/sandbox) in headless Chromium the way an employee follows the
// procedure: it adds a new Microsoft Authenticator through
// 「サインイン方法の追加」 → 「認証アプリ」 → 「追加」 → 「次へ」 → QR 「次へ」 →
// number + device name → 「次へ」, then deletes the old
// 「iPhone SE (3rd generation)」 with 「削除」 → 「OK」.
//
//   node e2e/sandbox-page.js <page-url> <new-device-name> <screenshot.png>
//
// On success it writes a full-page screenshot of the final list to the given
// path and prints the final list on stdout as JSON:
//   [{"id":"…","displayName":"…"}, …]
// It fails (exit 1, reason on stderr) when a step is missing or mislabelled,
// when the page logs an error, or when the page tries to reach anything
// outside its own origin.
//
// Environment: CHROMIUM_PATH (default /usr/bin/chromium); SANDBOX_PAGE_STEP_SHOTS=1
// also saves one screenshot per step beside the final one (<name>-1-choose.png, …).
// Needs playwright-core from e2e/package.json (npm ci --prefix e2e).
'use strict';

const path = require('path');
const { openSandboxBrowser } = require('./sandbox-browser');

const OLD_DEVICE = 'iPhone SE (3rd generation)';
const TIMEOUT_MS = 15000;

function fail(msg) {
  process.stderr.write('sandbox-page: ' + msg + '\n');
  process.exit(1);
}

async function main(argv) {
  const [pageURL, deviceName, shotPath] = argv;
  if (!pageURL || !deviceName || !shotPath) {
    fail('usage: node e2e/sandbox-page.js <page-url> <new-device-name> <screenshot.png>');
  }
  const origin = new URL(pageURL).origin;
  const stepShots = process.env.SANDBOX_PAGE_STEP_SHOTS === '1';
  const { browser, page, problems } = await openSandboxBrowser(origin, TIMEOUT_MS);
  try {

    let shotNo = 0;
    const stepShot = async (name) => {
      if (!stepShots) return;
      shotNo++;
      const p = path.join(path.dirname(shotPath),
        path.basename(shotPath, path.extname(shotPath)) + '-' + shotNo + '-' + name + '.png');
      await page.screenshot({ path: p, fullPage: true });
    };
    // click presses the element with the id after checking its label.
    const click = async (id, label) => {
      const el = page.locator('#' + id);
      await el.waitFor({ state: 'visible' });
      const text = (await el.innerText()).replace(/\s+/g, ' ').trim();
      if (!text.includes(label)) throw new Error('#' + id + ' reads "' + text + '", want "' + label + '"');
      await el.click();
    };
    const expectText = async (selector, want) => {
      const text = (await page.locator(selector).innerText()).replace(/\s+/g, ' ');
      if (!text.includes(want)) throw new Error(selector + ' does not show "' + want + '": "' + text + '"');
    };
    const deviceNames = () => page.locator('#method-list [data-testid="method-row"]')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-device-name')));

    const resp = await page.goto(pageURL, { waitUntil: 'load' });
    if (!resp || resp.status() !== 200) {
      throw new Error('GET ' + pageURL + ': status ' + (resp && resp.status()));
    }
    await page.waitForSelector('body[data-ready="true"]');
    await expectText('h1', 'セキュリティ情報');
    await expectText('main', 'これは、ご自分のアカウントへのサインインやパスワードの再設定に使用する方法です。');
    await expectText('#method-list', 'パスワード');
    await expectText('#method-list', 'Microsoft Authenticator');
    await stepShot('list');

    // 2.0 (2)-(3): サインイン方法の追加 → 認証アプリ → 追加
    await click('add-method', 'サインイン方法の追加');
    await page.locator('#add-dialog').waitFor({ state: 'visible' });
    await page.selectOption('#method-select', { label: '認証アプリ' });
    await stepShot('choose');
    await click('add-confirm', '追加');
    // 2.0 (4)-(5): get the app, 次へ → the QR code
    await expectText('#step-app', '最初にアプリを取得します');
    await stepShot('app');
    await click('app-next', '次へ');
    await page.locator('#qr-code').waitFor({ state: 'visible' });
    await expectText('#step-qr', 'QR コードをスキャン');
    await stepShot('qr');
    await click('qr-next', '次へ');
    // 2.0 (8)-(9): the two-digit number, 次へ
    await expectText('#step-number', 'この番号をアプリに入力してください');
    const number = (await page.locator('#approval-number').innerText()).trim();
    if (!/^[1-9][0-9]$/.test(number)) throw new Error('approval number "' + number + '" is not 10–99');
    await expectText('#step-number', 'デバイス名(サンドボックス用)');
    await page.fill('#device-name', deviceName);
    await stepShot('number');
    await click('number-next', '次へ');
    await page.locator('#add-dialog').waitFor({ state: 'hidden' });
    // 2.0 (10): the new Authenticator is listed
    await page.waitForFunction((name) => Array.from(document.querySelectorAll('#method-list [data-testid="method-row"]'))
      .some((r) => r.getAttribute('data-device-name') === name), deviceName);
    await stepShot('added');

    // 2.1 (1): 削除 on the old device → 認証アプリの削除 → OK
    const names = await deviceNames();
    const oldIndex = names.indexOf(OLD_DEVICE);
    if (oldIndex < 0) throw new Error('no row for "' + OLD_DEVICE + '" among ' + JSON.stringify(names));
    const oldRow = page.locator('#method-list [data-testid="method-row"]').nth(oldIndex);
    const del = oldRow.locator('[data-testid="delete-method"]');
    if ((await del.innerText()).trim() !== '削除') throw new Error('the row\'s delete button does not read 削除');
    await del.click();
    await page.locator('#delete-dialog').waitFor({ state: 'visible' });
    await expectText('#delete-dialog', '認証アプリの削除');
    await expectText('#delete-dialog', 'ご使用のアカウントでこの方法を削除しますか?');
    await expectText('#delete-dialog', 'キャンセル');
    await stepShot('delete');
    await click('delete-ok', 'OK');
    await page.locator('#delete-dialog').waitFor({ state: 'hidden' });
    // 2.1 (2): the old device is gone from the list
    await page.waitForFunction((name) => !Array.from(document.querySelectorAll('#method-list [data-testid="method-row"]'))
      .some((r) => r.getAttribute('data-device-name') === name), OLD_DEVICE);
    await page.waitForSelector('body[data-busy="false"]');

    await page.screenshot({ path: shotPath, fullPage: true });
    const final = await page.locator('#method-list [data-testid="method-row"]').evaluateAll((rows) => rows.map((r) => ({
      id: r.getAttribute('data-method-id'),
      displayName: r.getAttribute('data-device-name'),
    })));
    if (problems.length > 0) throw new Error(problems.join('\n'));
    process.stdout.write(JSON.stringify(final) + '\n');
  } finally {
    await browser.close();
  }
}

const watchdog = setTimeout(() => fail('gave up after 90 s'), 90000);
watchdog.unref();
main(process.argv.slice(2)).catch((e) => fail(e && e.stack ? e.stack : String(e)));
