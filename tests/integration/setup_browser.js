// Drives /setup in headless Chromium for test_setup_page.py: logs in, adds an account through
// the page's own "New account" form, takes a screenshot at phone width and prints what the page
// shows as one JSON line. Needs playwright-core (npm) and Debian's chromium.
//   node setup_browser.js URL PASSWORD ACCOUNT_JSON SCREENSHOT.png
const { chromium } = require('playwright-core');

(async () => {
  const [url, password, accountJson, screenshot] = process.argv.slice(2);
  const account = JSON.parse(accountJson);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await page.goto(url + '/setup');
    await page.fill('form[action="/setup/login"] input[name="password"]', password);
    await Promise.all([page.waitForNavigation(),
                       page.click('form[action="/setup/login"] button')]);
    const fresh = 'section.account[data-username=""] form';
    await page.fill(fresh + ' input[name="username"]', account.username);
    await page.fill(fresh + ' input[name="password"]', account.password);
    await page.fill(fresh + ' input[name="token"]', account.token);
    await page.fill(fresh + ' input[name="hostnames"]', account.hostnames);
    await Promise.all([page.waitForNavigation(), page.click(fresh + ' button[value="save"]')]);
    const cards = await page.$$eval('section.account', (nodes) =>
      nodes.map((n) => n.getAttribute('data-username')));
    const message = await page.$eval('section.message', (n) => n.textContent).catch(() => '');
    const errors = await page.$eval('section.errors', (n) => n.textContent).catch(() => '');
    const cookies = await page.context().cookies();
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(JSON.stringify({ cards, message, errors, cookies }));
  } finally {
    await browser.close();
  }
})().catch((error) => {
  console.error(String(error && error.stack || error));
  process.exit(1);
});
