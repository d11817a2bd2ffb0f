// sandbox-browser.js opens the Graph sandbox's page in headless Chromium the
// way both sandbox scripts need it: Debian's chromium, a Japanese 1280×800
// context, every request outside the page's origin refused, and page errors
// and console errors collected as problems.
'use strict';

const { chromium } = require('playwright-core');

// openSandboxBrowser returns {browser, page, problems}; close the browser
// when done.
async function openSandboxBrowser(origin, timeoutMs) {
  const problems = [];
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--no-proxy-server'],
  });
  try {
    const context = await browser.newContext({
      locale: 'ja-JP', viewport: { width: 1280, height: 800 }, serviceWorkers: 'block',
    });
    // The page must work offline: anything outside its origin is a failure.
    await context.route('**/*', (route) => {
      const u = route.request().url();
      if (u.startsWith('data:') || new URL(u).origin === origin) return route.continue();
      problems.push('request outside the page origin: ' + u);
      return route.abort('blockedbyclient');
    });
    const page = await context.newPage();
    page.setDefaultTimeout(timeoutMs);
    page.on('console', (m) => { if (m.type() === 'error') problems.push('console error: ' + m.text()); });
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    return { browser, page, problems };
  } catch (e) {
    await browser.close();
    throw e;
  }
}

module.exports = { openSandboxBrowser };
