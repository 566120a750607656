// Opens ztrace's web view in Debian's chromium (headless), as a user would: searches the
// trace list, opens a trace, clicks a span, opens the service map. Prints what the page
// rendered as JSON on stdout and saves screenshots.
//
//   node view_page.js URL SCRATCH_DIR TRACE_ID_PREFIX
'use strict';
const {chromium} = require('playwright-core');
const fs = require('fs');
const path = require('path');

async function main() {
  const [url, scratch, prefix] = process.argv.slice(2);
  const profile = fs.mkdtempSync(path.join(scratch, 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: {width: 1400, height: 700},
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'
    ],
  });
  const out = {requests: []};
  try {
    const page = context.pages()[0] || await context.newPage();
    page.on('request', (request) => out.requests.push(request.url()));
    await page.goto(url);
    await page.waitForSelector('.trace');
    out.listed = await page.$$eval('.trace', (rows) => rows.map((r) => r.dataset.traceId));
    await page.fill('#search', prefix);
    await page.waitForFunction(() => document.querySelectorAll('.trace').length === 1);
    await page.click('.trace');
    await page.waitForSelector('#waterfall .span');
    out.rows = await page.$$eval(
        '#waterfall .span',
        (rows) =>
            rows.map((r) => ({
                       depth: Number(r.dataset.depth),
                       name: r.querySelector('.name') ? r.querySelector('.name').textContent : '',
                       service: r.querySelector('.svc') ? r.querySelector('.svc').textContent : '',
                       bar_px: r.querySelector('.bar') ?
                           r.querySelector('.bar').getBoundingClientRect().width :
                           0,
                     })));
    await page.click('#waterfall .span:last-child');
    await page.waitForSelector('#attributes table');
    out.attributes = await page.$$eval(
        '#attributes tr', (rows) => rows.map((r) => [...r.children].map((c) => c.textContent)));
    await page.screenshot({path: path.join(scratch, 'trace.png')});
    await page.click('#tab-map');
    await page.waitForSelector('#edges td');
    out.edges = await page.$$eval(
        '#edges tr',
        (rows) => rows.slice(1).map((r) => [...r.children].map((c) => c.textContent).join(' ')));
    out.map_boxes = await page.$$eval('#detail-map svg rect', (boxes) => boxes.length);
    await page.screenshot({path: path.join(scratch, 'service-map.png')});
  } finally {
    await context.close();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack || error) + '\n');
  process.exit(1);
});
