// The browser verifier in a real browser: Debian's chromium, headless,
// driven by playwright-core (no browser of its own). It loads the page as
// the sidecar serves it and as a file from disk, supplies the conformance
// suite's bundles and keys, and asserts on what the page renders: every
// single-bundle case of Docs/conformance/expected.json must show its exact
// verdict and finding codes; the golden bundle's segments, records and its
// attachment download; the tampered report's findings. Then it times a large
// bundle in the page beside the native CLI and writes a screenshot.
//
//   node verify-page.cjs  (settings from the environment, see `need` below)
'use strict';

const path = require('node:path');
const fs = require('node:fs');
const crypto = require('node:crypto');
const { execFileSync } = require('node:child_process');

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const playwright = require(path.join(need('ARXI_PLAYWRIGHT_ROOT'), 'node_modules', 'playwright-core'));
const conformance = need('ARXI_CONFORMANCE_DIR');
const pageUrl = need('ARXI_PAGE_URL');
const pageFile = need('ARXI_PAGE_FILE');
const out = need('ARXI_OUT_DIR');
const TIMEOUT_MS = 120000;

function assert(condition, message) {
  if (!condition) throw new Error('assertion failed: ' + message);
}

async function verify(page, bundle, keys) {
  await page.setInputFiles('#bundle-file', bundle);
  await page.setInputFiles('#key-files', keys);
  await page.click('#verify');
  await page.waitForSelector('body[data-state="done"], body[data-state="error"]', { timeout: TIMEOUT_MS });
  const state = await page.getAttribute('body', 'data-state');
  assert(state === 'done', `${bundle}: the page reports an error: ${await page.textContent('#progress-text')}`);
  return {
    verdict: await page.getAttribute('body', 'data-verdict'),
    codes: (await page.getAttribute('#verdict', 'data-codes')).split(',').filter(Boolean),
    verifyMs: Number(await page.getAttribute('body', 'data-verify-ms')),
  };
}

async function conformanceCases(page) {
  const expected = JSON.parse(fs.readFileSync(path.join(conformance, 'expected.json'), 'utf8'));
  let checked = 0;
  for (const testCase of expected.cases) {
    if (testCase.command !== 'bundle verify' || testCase.files.length !== 1) continue;
    // The page checks a bundle against recorder keys only; a witness
    // policy (--witness, --quorum) is the CLI's (Docs/api.md, GET /verify).
    if (testCase.witnesses) continue;
    // Key validity windows (KEY@FIRST..LAST) are the CLI's as well.
    if (testCase.keys.some((key) => key.includes('@'))) continue;
    // So is a timestamp policy (--tsa-cert, --require-timestamp,
    // --timestamp-tolerance): the page checks tokens without judging
    // their TSA (the case without certificates runs here).
    if (testCase.tsa_certs || testCase.require_timestamp || testCase.timestamp_tolerance) continue;
    const shown = await verify(page, path.join(conformance, testCase.files[0]),
      testCase.keys.map((key) => path.join(conformance, key)));
    assert(shown.verdict === testCase.verdict, `${testCase.name}: verdict ${shown.verdict}, expected ${testCase.verdict}`);
    const codes = [...shown.codes].sort().join(',');
    assert(codes === [...testCase.codes].sort().join(','), `${testCase.name}: codes ${codes}, expected ${testCase.codes}`);
    checked += 1;
  }
  assert(checked >= 90, `only ${checked} conformance cases ran`);
  return checked;
}

async function golden(page) {
  const keys = ['keys/a.pub', 'keys/b.pub'].map((key) => path.join(conformance, key));
  const shown = await verify(page, path.join(conformance, 'bundles/golden.arxb'), keys);
  assert(shown.verdict === 'valid', 'golden is valid');
  assert((await page.textContent('#verdict')) === 'VALID', 'the verdict reads VALID');
  assert((await page.$$('#segments tbody tr')).length === 5, 'five segments and seals in the table');
  // The page lists records as the worker's answer arrives: wait for the
  // whole first page (a loaded machine renders it in more than one frame).
  await page
    .waitForFunction(
      () => document.querySelectorAll('#records tbody tr[data-kind="envelope"]').length >= 27,
      null,
      { timeout: 30000 },
    )
    .catch(() => {});
  const envelopes = await page.$$('#records tbody tr[data-kind="envelope"]');
  assert(envelopes.length === 27, `27 envelopes listed, found ${envelopes.length} (${await page.textContent('#page-text')})`);
  // A locator, not an element handle: the list may render again while
  // pages of records arrive, and a locator finds the link anew each time.
  const link = page.locator('#records a.attachment').first();
  assert((await link.count()) > 0, 'an attachment download link');
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const bytes = fs.readFileSync(await download.path());
  const sha256 = crypto.createHash('sha256').update(bytes).digest('hex');
  // The envelope references its attachment by this digest.
  const bundleText = fs.readFileSync(path.join(conformance, 'bundles/golden.arxb')).toString('latin1');
  assert(bundleText.includes(`"sha256":"${sha256}"`), `the download's SHA-256 ${sha256} is an envelope's reference`);
  console.log(`golden: VALID, 5 segments, 27 envelopes, attachment ${download.suggestedFilename()} ` +
    `(${bytes.length} bytes, sha256 ${sha256})`);
}

async function tampered(page) {
  const keys = ['keys/a.pub', 'keys/b.pub'].map((key) => path.join(conformance, key));
  await verify(page, path.join(conformance, 'bundles/tampered/segment-dropped.arxb'), keys);
  assert((await page.textContent('#verdict')) === 'INVALID', 'the verdict reads INVALID');
  const detail = await page.textContent('#verdict-detail');
  assert(detail.includes('first bad record is record 12'), detail);
  const findings = await page.$$eval('#findings tbody tr', (rows) => rows.map((row) => row.innerText));
  assert(findings.some((row) => row.startsWith('segment_missing')), findings.join('\n'));
  await page.screenshot({ path: path.join(out, 'verify-web.png'), fullPage: true });
  console.log(`tampered (segment-dropped): INVALID, ${findings.length} findings shown; screenshot ${path.join(out, 'verify-web.png')}`);
}

// The throughput of the page's verifier against the native CLI's, on one
// large bundle, in this run.
async function bench(page) {
  const bundle = process.env.ARXI_BENCH_BUNDLE;
  if (!bundle) return null;
  const key = need('ARXI_BENCH_KEY');
  const cli = need('ARXI_CLI');
  const bytes = fs.statSync(bundle).size;
  const browser = [];
  for (let run = 0; run < 3; run += 1) browser.push((await verify(page, bundle, [key])).verifyMs);
  const native = (threads) => {
    const runs = [];
    for (let run = 0; run < 3; run += 1) {
      const started = process.hrtime.bigint();
      execFileSync(cli, ['bundle', 'verify', bundle, '--key', key, '--threads', String(threads)], { stdio: 'ignore' });
      runs.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    return Math.min(...runs);
  };
  const result = { bundle_bytes: bytes, envelopes: Number(process.env.ARXI_BENCH_ENVELOPES || 0),
    browser_ms: Math.min(...browser), cli_1_thread_ms: native(1), cli_2_threads_ms: native(2), cli: cli };
  const rate = (ms) => `${(bytes / 1e6 / (ms / 1000)).toFixed(1)} MB/s, ${Math.round(result.envelopes / (ms / 1000))} envelopes/s`;
  console.log(`bench: ${bytes} bytes, ${result.envelopes} envelopes; browser (WebAssembly, one worker) ${result.browser_ms.toFixed(0)} ms (${rate(result.browser_ms)}); ` +
    `native CLI 1 thread ${result.cli_1_thread_ms.toFixed(0)} ms (${rate(result.cli_1_thread_ms)}), 2 threads ${result.cli_2_threads_ms.toFixed(0)} ms (${rate(result.cli_2_threads_ms)}); best of 3 each`);
  fs.writeFileSync(path.join(out, 'bench.json'), JSON.stringify(result, null, 2) + '\n');
  return result;
}

async function main() {
  const browser = await playwright.chromium.launch({
    executablePath: process.env.ARXI_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1200, height: 900 } });
    const page = await context.newPage();
    const requests = [];
    page.on('request', (request) => requests.push(request.url()));
    page.on('pageerror', (error) => { throw error; });
    await page.goto(pageUrl);
    await page.waitForFunction(() => document.getElementById('version').textContent.includes('arxi verifier'));
    console.log(`page served by the sidecar: ${await page.textContent('#version')}`);
    const cases = await conformanceCases(page);
    console.log(`conformance: ${cases} single-bundle cases, each with its exact verdict and codes`);
    await golden(page);
    await tampered(page);
    const offPage = requests.filter((url) => !url.startsWith(pageUrl) && !url.startsWith('blob:') && !url.startsWith('data:'));
    assert(offPage.length === 0, `the page made requests: ${offPage.join(', ')}`);
    await bench(page);
    // From disk, as an auditor opens it: no server at all.
    const offline = await context.newPage();
    await offline.goto('file://' + path.resolve(pageFile));
    const shown = await verify(offline, path.join(conformance, 'bundles/golden.arxb'),
      ['keys/a.pub', 'keys/b.pub'].map((key) => path.join(conformance, key)));
    assert(shown.verdict === 'valid', 'the page opened from disk verifies the golden bundle');
    console.log('page opened from disk (file://): golden VALID');
    console.log('browser: 1 passed, 0 failed');
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.error(error);
  console.log('browser: 0 passed, 1 failed');
  process.exit(1);
});
