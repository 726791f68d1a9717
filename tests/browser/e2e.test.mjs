// End-to-end, as a person uses the site: `mutualaid serve` (the real binary)
// in Debian's Chromium, headless. With JavaScript disabled, people sign up,
// fix their mistakes and give, in English and Spanish; an organizer opens a
// pairing from the digest's .eml and confirms it; axe-core checks every built
// page, the error page and the organizers' action pages against WCAG 2.2 AA;
// screenshots are written for a person to look at.
//
// Run by tests/run (which installs chromium and these packages):
//   MUTUALAID_BIN=target/debug/mutualaid node --test tests/browser/e2e.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, statSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const bin = resolve(root, process.env.MUTUALAID_BIN ?? 'target/debug/mutualaid');
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const vnuJar = createRequire(import.meta.url).resolve('vnu-jar/build/dist/vnu.jar');
const WCAG = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

const work = mkdtempSync(join(tmpdir(), 'mutualaid-e2e-'));
const out = join(work, 'public');
const data = join(work, 'data');
export const shots = process.env.SCREENSHOTS_DIR ?? join(work, 'screenshots');
let server, base, browser;

/** Starts `mutualaid serve` with `extra` arguments; resolves to [process, base URL]. */
async function startServe(outDir, dataDir, extra, content = join(root, 'content')) {
  const child = spawn(bin, ['serve', '--port', '0', '--content', content, '--out', outDir, '--data', dataDir, ...extra], { stdio: ['ignore', 'pipe', 'ignore'] });
  const url = await new Promise((ok, fail) => {
    let seen = '';
    child.stdout.on('data', (chunk) => {
      seen += chunk;
      const m = seen.match(/http:\/\/127\.0\.0\.1:\d+/);
      if (m) ok(m[0]);
    });
    child.on('exit', (code) => fail(new Error(`mutualaid serve exited (${code}): ${seen}`)));
  });
  return [child, url];
}

before(async () => {
  [server, base] = await startServe(out, data, ['--rate-limit', '1000']);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  mkdirSync(shots, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.kill();
  console.log(`screenshots: ${shots}`);
});

/** A page with JavaScript off, as on a phone with scripts blocked. */
async function noScriptPage(viewport = { width: 360, height: 740 }) {
  const context = await browser.newContext({ javaScriptEnabled: false, viewport });
  return context.newPage();
}

function builtPages() {
  const found = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.html')) found.push('/' + relative(out, path).replace(/index\.html$/, ''));
    }
  };
  walk(out);
  return found.sort();
}

async function axe(page) {
  await page.addScriptTag({ content: axeSource });
  return page.evaluate(async (tags) => {
    const result = await window.axe.run(document, { runOnly: { type: 'tag', values: tags } });
    return result.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  }, WCAG);
}

function exported() {
  return execFileSync(bin, ['export', '--format', 'csv', '--data', data], { encoding: 'utf8' });
}

async function fill(page, values) {
  for (const [name, value] of Object.entries(values)) {
    if (Array.isArray(value)) {
      for (const v of value) await page.check(`main input[name="${name}"][value="${v}"]`);
    } else if (value === true) {
      await page.check(`main input[name="${name}"]`);
    } else if (typeof value === 'string' && (await page.locator(`main input[type=radio][name="${name}"]`).count()) > 0) {
      await page.check(`main input[name="${name}"][value="${value}"]`);
    } else {
      await page.fill(`main [name="${name}"]`, value);
    }
  }
}

async function submit(page) {
  await Promise.all([page.waitForLoadState('load'), page.click('main form button[type=submit]')]);
  await page.waitForLoadState('load');
}

test('every built page and the error page have zero axe violations at WCAG 2.2 AA', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const pages = builtPages();
  assert.ok(pages.length >= 18, `pages: ${pages}`);
  const problems = [];
  for (const path of pages) {
    await page.goto(base + path);
    for (const v of await axe(page)) problems.push(`${path} ${v}`);
  }
  for (const path of ['/signup/', '/es/signup/', '/donate/']) {
    await page.goto(base + path);
    await page.fill('main [name=name]', '<b>Test</b>');
    await submit(page);
    assert.match(await page.title(), /^Error: /);
    for (const v of await axe(page)) problems.push(`${path} (error page) ${v}`);
  }
  assert.deepEqual(problems, []);
  await context.close();
});

test('without JavaScript, a person signs up in English, fixes an error and lands on the thank-you page', async () => {
  const page = await noScriptPage();
  await page.goto(`${base}/signup/`);
  await page.screenshot({ path: join(shots, 'signup-360.png'), fullPage: true });
  await fill(page, { name: 'Lena Ortiz', email: 'lena@example.org', contact_method: 'email', zip: '90012', roles: ['delivery'], household_size: '3', notes: 'Ground floor, please' });
  await submit(page);
  assert.match(await page.title(), /^Error: /);
  await page.screenshot({ path: join(shots, 'signup-error-360.png'), fullPage: true });
  const links = await page.$$eval('.error-summary a', (as) => as.map((a) => [a.getAttribute('href'), a.textContent]));
  assert.deepEqual(links.map(([href]) => href), ['#f-zip', '#f-consent']);
  assert.match(links[0][1], /San Diego County/);
  // The summary's links are focusable and lead to the fields.
  for (const [href] of links) {
    assert.equal(await page.locator(href).count(), 1, href);
  }
  assert.equal(await page.locator('.error-summary a[href]').count(), links.length, 'links are focusable');
  // Following a link leaves the field's label, hint and error in view above it.
  for (const [href] of links) {
    await page.click(`.error-summary a[href="${href}"]`);
    const id = href.slice(1);
    const inView = await page.evaluate((id) => {
      const parts = [document.querySelector(`label[for="${id}"]`), document.getElementById(`${id}-error`), document.getElementById(id)];
      return parts.every((el) => {
        const r = el.getBoundingClientRect();
        return r.top >= 0 && r.bottom <= window.innerHeight;
      });
    }, id);
    assert.ok(inView, `${href}: label, error and field in view`);
  }
  assert.equal(await page.getAttribute('.error-summary', 'tabindex'), '-1');
  // What they typed is still there.
  assert.equal(await page.inputValue('main [name=name]'), 'Lena Ortiz');
  assert.equal(await page.inputValue('main [name=notes]'), 'Ground floor, please');
  assert.equal(await page.isChecked('main input[name=roles][value=delivery]'), true);
  // The language switch keeps what was typed: the same form, its problems in Spanish.
  const before = exported();
  await Promise.all([page.waitForLoadState('load'), page.click('header button.lang')]);
  assert.equal(await page.getAttribute('html', 'lang'), 'es');
  assert.equal(await page.inputValue('main [name=name]'), 'Lena Ortiz');
  assert.equal(await page.inputValue('main [name=notes]'), 'Ground floor, please');
  assert.equal(await page.inputValue('main [name=household_size]'), '3');
  assert.equal(await page.isChecked('main input[name=roles][value=delivery]'), true);
  assert.match(await page.textContent('.error-summary'), /Hay un problema/);
  assert.deepEqual(await axeHtml(await page.content()), []);
  assert.equal(exported(), before, 'switching language stores nothing');
  // And back.
  await Promise.all([page.waitForLoadState('load'), page.click('header button.lang')]);
  assert.equal(await page.getAttribute('html', 'lang'), 'en');
  assert.equal(await page.inputValue('main [name=name]'), 'Lena Ortiz');
  await fill(page, { zip: '92105', consent: true });
  await submit(page);
  assert.equal(new URL(page.url()).pathname, '/signup/thanks/');
  assert.match(exported(), /"Lena Ortiz","lena@example\.org","","email","92105"/);
  await page.context().close();
});

test('on the live server (serve --production, its security headers), the real form posts the site\'s own origin and is stored', async () => {
  // The content with its placeholders filled in, as a network does before going live.
  const live = join(work, 'live');
  cpSync(join(root, 'content'), join(live, 'content'), { recursive: true });
  const config = join(live, 'content', 'config.toml');
  writeFileSync(config, readFileSync(config, 'utf8')
    .replace('https://mutualaid.example.org', 'https://aid.sandiego-mutualaid.net')
    .replace('mutualaid@example.org', 'help@sandiego-mutualaid.net')
    .replace('https://discord.gg/example', 'https://discord.gg/sdmutualaid')
    .replace('https://example.org/donate', 'https://sandiego-mutualaid.net/give'));
  const [liveServer, liveBase] = await startServe(join(live, 'public'), join(live, 'data'),
    ['--production', '--outbox', join(live, 'outbox')], join(live, 'content'));
  try {
    const page = await noScriptPage();
    const shown = await page.goto(`${liveBase}/signup/`);
    assert.equal(shown.headers()['referrer-policy'], 'same-origin', 'a page with a form lets the browser name our origin');
    await fill(page, { name: 'Rosa Ibarra', email: 'rosa.ibarra@example.org', contact_method: 'email', zip: '92113', roles: ['delivery'], consent: true });
    const [posted] = await Promise.all([
      page.waitForRequest((r) => r.method() === 'POST'),
      submit(page),
    ]);
    const headers = await posted.allHeaders();
    assert.equal(headers.origin, liveBase, 'the real origin, not null');
    assert.equal(new URL(page.url()).pathname, '/signup/thanks/');
    const stored = execFileSync(bin, ['export', '--format', 'csv', '--data', join(live, 'data')], { encoding: 'utf8' });
    assert.match(stored, /"Rosa Ibarra","rosa\.ibarra@example\.org"/);
    await page.context().close();
  } finally {
    liveServer.kill();
  }
});

test('sin JavaScript, una persona se inscribe en español y cada mensaje está en español', async () => {
  const page = await noScriptPage();
  await page.goto(`${base}/es/signup/`);
  await fill(page, { name: 'Rosa Díaz', phone: '619 555 0177', contact_method: 'email', zip: '92113', roles: ['shopper'], consent: true });
  await submit(page);
  assert.match(await page.title(), /^Error: /);
  const summary = await page.textContent('.error-summary');
  assert.match(summary, /Hay un problema/);
  assert.match(summary, /correo electrónico/);
  assert.doesNotMatch(summary, /Enter|There is a problem/);
  assert.equal(await page.getAttribute('html', 'lang'), 'es');
  // Following the summary's link leaves the field's label and error in view (in Spanish too).
  const href = await page.getAttribute('.error-summary a', 'href');
  await page.click(`.error-summary a[href="${href}"]`);
  const inView = await page.evaluate((id) => {
    const field = document.getElementById(id).closest('.field');
    return [field.querySelector('legend, label'), field.querySelector('.error')].every((el) => {
      const r = el.getBoundingClientRect();
      return r.top >= 0 && r.bottom <= window.innerHeight;
    });
  }, href.slice(1));
  assert.ok(inView, `${href}: label and error in view`);
  await page.check('main input[name=contact_method][value=text]');
  await submit(page);
  assert.equal(new URL(page.url()).pathname, '/es/signup/thanks/');
  assert.match(exported(), /"Rosa Díaz","","'\+16195550177","text","92113"/);
  await page.context().close();
});

test('without JavaScript, a person offers a monthly donation', async () => {
  const page = await noScriptPage();
  await page.goto(`${base}/donate/`);
  // The giving page leads with the way to give money now; the interest form comes after.
  const firstLink = await page.$eval('main a', (a) => [a.className, a.getAttribute('href'), a.textContent]);
  assert.deepEqual(firstLink, ['button give', 'https://example.org/donate', 'Donate now']);
  const linkBox = await page.locator('main a.give').boundingBox();
  assert.ok(linkBox.y + linkBox.height <= 740, 'on the first screen');
  const giving = await noScriptPage();
  await giving.goto(`${base}/es/donate/`);
  const primero = await giving.$eval('main a', (a) => [a.className, a.getAttribute('href')]);
  assert.deepEqual(primero, ['button give', 'https://example.org/donate'], 'en español también');
  await giving.context().close();
  await fill(page, { name: 'Sam Lee', email: 'sam@example.org', frequency: 'monthly', amount: '25', consent: true });
  await submit(page);
  assert.equal(new URL(page.url()).pathname, '/donate/thanks/');
  assert.match(exported(), /"Sam Lee","sam@example\.org",.*,"monthly","25",/);
  await page.context().close();
});

test('on a phone, the ways in are on the first screen and each opens the form with its choice made (EN and ES)', async () => {
  for (const [path, first] of [['/', 'Get groceries delivered'], ['/es/', 'Recibir el mandado en su casa']]) {
    const page = await noScriptPage();
    await page.goto(`${base}${path}`);
    const ways = page.locator('.ways a');
    assert.equal(await ways.count(), 4, path);
    assert.equal((await ways.first().textContent()).trim(), first);
    const box = await ways.first().boundingBox();
    assert.ok(box && box.y + box.height <= 740, `${path}: the first way in ends at ${box && box.y + box.height} px`);
    await page.screenshot({ path: join(shots, `home-first-screen${path === '/' ? '' : '-es'}-360.png`) });
    const header = await page.locator('header.top').boundingBox();
    assert.ok(header.height <= 170, `${path}: the header takes ${header.height} px`);
    await Promise.all([page.waitForLoadState('load'), ways.first().click()]);
    assert.equal(await page.isChecked('main input[name=roles][value=delivery]'), true, path);
    if (path === '/') {
      await page.locator('main form h2').first().scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(shots, 'form-360x740.png') });
    }
    assert.equal(await page.isChecked('main input[name=roles][value=shopper]'), false, path);
    await page.context().close();
  }
});

test('the W3C Nu HTML checker finds no error on any built page, nor on the error, 403 and 429 pages', async () => {
  const pages = mkdtempSync(join(work, 'answers-'));
  const form = 'name=Nu+Checker&email=nu%40example.org&contact_method=email&zip=1&roles=delivery&lang=es';
  const post = (url, headers = {}) => fetch(`${url}/api/signup`, {
    method: 'POST', redirect: 'manual', body: form,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  });
  const invalid = await post(base);
  assert.equal(invalid.status, 422);
  writeFileSync(join(pages, 'error-422.html'), await invalid.text());
  const crossSite = await post(base, { origin: 'https://elsewhere.example', 'sec-fetch-site': 'cross-site' });
  assert.equal(crossSite.status, 403);
  writeFileSync(join(pages, 'cross-site-403.html'), await crossSite.text());
  // A second server that takes one submission per client: the next is a 429.
  const [limited, limitedBase] = await startServe(join(work, 'public-limited'), join(work, 'data-limited'), ['--rate-limit', '1']);
  try {
    await post(limitedBase);
    const tooMany = await post(limitedBase);
    assert.equal(tooMany.status, 429);
    writeFileSync(join(pages, 'too-many-429.html'), await tooMany.text());
  } finally {
    limited.kill();
  }
  const checked = spawnSync('java', ['-jar', vnuJar, '--errors-only', '--skip-non-html', out, pages], { encoding: 'utf8' });
  assert.equal(checked.error, undefined, 'java runs');
  assert.equal(checked.stderr.trim(), '', 'no errors');
  assert.equal(checked.status, 0);
});

test('screenshots of the home page, the sign-up form and its error state at 360×740 and 1280×800', async () => {
  for (const [w, h] of [[360, 740], [1280, 800]]) {
    const page = await noScriptPage({ width: w, height: h });
    await page.goto(`${base}/`);
    await page.screenshot({ path: join(shots, `home-${w}x${h}.png`) });
    await page.goto(`${base}/signup/`);
    await page.screenshot({ path: join(shots, `signup-${w}x${h}.png`) });
    await submit(page);
    await page.screenshot({ path: join(shots, `signup-error-${w}x${h}.png`) });
    await page.context().close();
  }
  assert.ok(readdirSync(shots).length >= 6);
});

/** axe-core on a page's HTML as a JavaScript-off page shows it (axe itself needs scripts). */
async function axeHtml(html) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.setContent(html);
  const violations = await axe(page);
  await context.close();
  return violations;
}

/** The HTML part of an .eml file (quoted-printable or base64, as lettre writes it). */
function htmlPart(eml) {
  for (const part of eml.split(/\r?\n--[^\r\n]+/)) {
    const at = part.search(/\r?\n\r?\n/);
    if (at < 0) continue;
    const head = part.slice(0, at);
    const body = part.slice(at).replace(/^\r?\n\r?\n/, '');
    if (!/content-type:\s*text\/html/i.test(head)) continue;
    if (/content-transfer-encoding:\s*base64/i.test(head)) {
      return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
    }
    if (/content-transfer-encoding:\s*quoted-printable/i.test(head)) {
      const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
      return Buffer.from(bytes, 'latin1').toString('utf8');
    }
    return body;
  }
  throw new Error('no HTML part');
}

/** Sends the organizers' digest to the outbox and returns its HTML part. */
function digestHtml(lang) {
  const before = new Set(readdirSync(join(data, 'outbox')));
  execFileSync(bin, ['digest', '--content', join(root, 'content'), '--data', data, '--lang', lang, '--site-address', base], { encoding: 'utf8' });
  const fresh = readdirSync(join(data, 'outbox')).filter((f) => f.endsWith('.eml') && !before.has(f)).sort();
  return htmlPart(readFileSync(join(data, 'outbox', fresh[fresh.length - 1]), 'utf8'));
}

/** The first link in the `<li>` that names `who`, whose action is `action`. */
function actionLink(html, who, action) {
  const item = html.split('<li>').find((li) => li.includes(who) && li.includes(`a=${action}&amp;`));
  assert.ok(item, `a ${action} link beside ${who}`);
  const href = item.match(new RegExp(`href="([^"]*a=${action}&amp;[^"]*)"`))[1];
  return href.replaceAll('&amp;', '&');
}

test('an organizer opens a pairing from the digest and confirms it, without JavaScript and without an account', async () => {
  const post = (body) => fetch(`${base}/api/signup`, { method: 'POST', headers: { 'content-type': 'application/json', origin: base }, body: JSON.stringify(body) });
  const rita = await post({ name: 'Rita Browser', email: 'rita.browser@example.org', contact_method: 'email', zip: '92004', roles: ['delivery'], consent: true });
  assert.equal(rita.status, 201);
  const vic = await post({ name: 'Vic Browser', email: 'vic.browser@example.org', contact_method: 'email', zip: '92004', roles: ['shopper'], consent: true });
  assert.equal(vic.status, 201);
  mkdirSync(join(data, 'outbox'), { recursive: true });
  const confirm = actionLink(digestHtml('en'), 'Rita Browser', 'confirm');
  assert.ok(confirm.startsWith(`${base}/api/case?`), confirm);

  const page = await noScriptPage();
  await page.goto(confirm);
  const button = await page.textContent('form button');
  assert.equal(button, 'Offer the request of Rita Browser to Vic Browser: they are asked first, and introduced when they say yes');
  assert.deepEqual(await axeHtml(await page.content()), []);
  await page.screenshot({ path: join(shots, 'organizer-confirm-360.png'), fullPage: true });
  await Promise.all([page.waitForLoadState('load'), page.click('form button')]);
  await page.waitForLoadState('load');
  assert.equal(await page.textContent('h1'), 'Done');
  assert.deepEqual(await axeHtml(await page.content()), []);
  await page.screenshot({ path: join(shots, 'organizer-confirmed-360.png'), fullPage: true });
  // The same link again: nothing changes, and the page says why.
  await page.goto(confirm);
  await Promise.all([page.waitForLoadState('load'), page.click('form button')]);
  await page.waitForLoadState('load');
  assert.equal(await page.textContent('h1'), 'Nothing changed');
  assert.deepEqual(await axeHtml(await page.content()), []);
  const offered = execFileSync(bin, ['cases', 'list', '--data', data], { encoding: 'utf8' });
  assert.match(offered, /\toffered\t0\tRita Browser\tVic Browser/);
  // Vic has no verified email: the organizer calls him and records his yes from the digest.
  const accept = actionLink(digestHtml('en'), 'Rita Browser', 'accept');
  await page.goto(accept);
  assert.equal(await page.textContent('form button'), 'Record that Vic Browser said yes to shopping for Rita Browser: both are introduced');
  assert.deepEqual(await axeHtml(await page.content()), []);
  await Promise.all([page.waitForLoadState('load'), page.click('form button')]);
  await page.waitForLoadState('load');
  assert.equal(await page.textContent('h1'), 'Done');
  const listed = execFileSync(bin, ['cases', 'list', '--data', data], { encoding: 'utf8' });
  assert.match(listed, /\tmatched\t0\tRita Browser\tVic Browser/);

  // In Spanish, for Spanish-speaking organizers: the matched case's "done" page.
  const done = actionLink(digestHtml('es'), 'Rita Browser', 'close');
  await page.goto(done);
  assert.equal(await page.getAttribute('html', 'lang'), 'es');
  assert.equal(await page.textContent('form button'), 'Cerrar el caso de Rita Browser: hecho');
  assert.deepEqual(await axeHtml(await page.content()), []);
  await page.screenshot({ path: join(shots, 'organizer-done-es-360.png'), fullPage: true });
  // An altered link is refused, in the link's language.
  await page.goto(done.replace('a=close', 'a=reopen'));
  assert.equal(await page.textContent('h1'), 'Este enlace no se puede usar');
  assert.deepEqual(await axeHtml(await page.content()), []);

  // One person twice (her daughter sent the form too, with her phone): merged from the digest.
  for (const name of ['Rosa Browser', 'Rosa B']) {
    const sent = await post({ name, phone: '619-555-0142', contact_method: 'phone', zip: '92004', roles: ['delivery'], consent: true });
    assert.equal(sent.status, 201);
  }
  const merge = actionLink(digestHtml('es'), 'Rosa B', 'merge');
  await page.goto(merge);
  assert.match(await page.textContent('form button'), /^Unir el registro de Rosa B/);
  assert.deepEqual(await axeHtml(await page.content()), []);
  await page.screenshot({ path: join(shots, 'organizer-merge-es-360.png'), fullPage: true });
  await Promise.all([page.waitForLoadState('load'), page.click('form button')]);
  await page.waitForLoadState('load');
  assert.equal(await page.textContent('h1'), 'Hecho');
  assert.deepEqual(await axeHtml(await page.content()), []);
  const afterMerge = execFileSync(bin, ['cases', 'list', '--data', data], { encoding: 'utf8' });
  assert.equal(afterMerge.split('\n').filter((l) => l.includes('\tRosa B')).length, 1, afterMerge);
  await page.context().close();
});

/** The first message to `address` in the serve's messages folder, waiting for the sender (every 2 s). */
async function messageTo(address) {
  const dir = join(data, 'messages');
  for (let i = 0; i < 100; i++) {
    let names = [];
    try { names = readdirSync(dir); } catch { /* not written yet */ }
    for (const name of names.filter((n) => n.endsWith('.eml'))) {
      const eml = readFileSync(join(dir, name), 'utf8');
      if (eml.includes(`To: ${address}`)) return eml;
    }
    await new Promise((ok) => setTimeout(ok, 200));
  }
  throw new Error(`no message to ${address}`);
}

test('a person opens their own page from the receipt, in English and Spanish, and its pages pass axe-core and the Nu checker', async () => {
  const pages = mkdtempSync(join(work, 'own-pages-'));
  const page = await noScriptPage();
  for (const [lang, name, email, role] of [['es', 'Paz Navegador', 'paz.browser@example.org', 'delivery'], ['en', 'Sol Browser', 'sol.browser@example.org', 'shopper']]) {
    const sent = await fetch(`${base}/api/signup`, { method: 'POST', headers: { 'content-type': 'application/json', origin: base }, body: JSON.stringify({ name, email, contact_method: 'email', zip: '92004', roles: [role], consent: true, lang }) });
    assert.equal(sent.status, 201);
    const html = htmlPart(await messageTo(email));
    assert.ok(!html.includes(name.split(' ')[0]), 'the receipt does not repeat the name');
    const link = html.match(/href="(http[^"]*\/api\/me\?t=[0-9a-f]{64})"/)[1].replace(/^https?:\/\/[^/]+/, base);
    await page.goto(link);
    assert.equal(await page.getAttribute('html', 'lang'), lang);
    assert.deepEqual(await axeHtml(await page.content()), []);
    writeFileSync(join(pages, `own-${lang}.html`), await page.content());
    await page.screenshot({ path: join(shots, `own-page-${lang}-360.png`), fullPage: true });
    // A button, then the page it answers with.
    const action = role === 'delivery' ? 'withdraw' : 'pause';
    await Promise.all([page.waitForLoadState('load'), page.click(`form:has(input[value="${action}"]) button`)]);
    await page.waitForLoadState('load');
    assert.deepEqual(await axeHtml(await page.content()), []);
    writeFileSync(join(pages, `own-${action}-${lang}.html`), await page.content());
    // "Delete my data": the confirmation page (not pressed).
    await page.goto(link);
    await Promise.all([page.waitForLoadState('load'), page.click('form:has(input[value="delete"]) button')]);
    await page.waitForLoadState('load');
    assert.deepEqual(await axeHtml(await page.content()), []);
    writeFileSync(join(pages, `own-delete-${lang}.html`), await page.content());
    // "Change my details": the form, a value it refuses, and the answer.
    await page.goto(`${link}&change=1`);
    assert.deepEqual(await axeHtml(await page.content()), []);
    writeFileSync(join(pages, `change-${lang}.html`), await page.content());
    const save = 'form:has(input[value="change"]) button';
    await page.fill('#household_size', '40');
    await Promise.all([page.waitForLoadState('load'), page.click(save)]);
    await page.waitForLoadState('load');
    assert.ok((await page.content()).includes('aria-invalid="true"'), 'the refused value is named');
    assert.deepEqual(await axeHtml(await page.content()), []);
    writeFileSync(join(pages, `change-refused-${lang}.html`), await page.content());
    await page.fill('#household_size', '3');
    await Promise.all([page.waitForLoadState('load'), page.click(save)]);
    await page.waitForLoadState('load');
    assert.deepEqual(await axeHtml(await page.content()), []);
    writeFileSync(join(pages, `change-done-${lang}.html`), await page.content());
    // The form again with a phone the sign-up did not have: it waits, and
    // the page asks "Was this you?"; the answer "I didn't make this change".
    const resent = await fetch(`${base}/api/signup`, { method: 'POST', headers: { 'content-type': 'application/json', origin: base }, body: JSON.stringify({ name, email, phone: '619 555 0101', contact_method: 'email', zip: '92004', roles: [role], consent: true, lang }) });
    assert.ok(resent.status < 300, `resent: ${resent.status}`);
    await page.goto(link);
    assert.ok((await page.content()).includes('value="drop_contact"'), 'the page asks');
    assert.deepEqual(await axeHtml(await page.content()), []);
    writeFileSync(join(pages, `own-pending-${lang}.html`), await page.content());
    await Promise.all([page.waitForLoadState('load'), page.click('form:has(input[value="drop_contact"]) button')]);
    await page.waitForLoadState('load');
    assert.deepEqual(await axeHtml(await page.content()), []);
    writeFileSync(join(pages, `own-dropped-${lang}.html`), await page.content());
    // Email me my link again: the form, an error, and the answer.
    await page.goto(`${base}/api/me/again?lang=${lang}`);
    assert.deepEqual(await axeHtml(await page.content()), []);
    writeFileSync(join(pages, `again-${lang}.html`), await page.content());
    await page.fill('#email', email);
    await Promise.all([page.waitForLoadState('load'), page.click('form button')]);
    await page.waitForLoadState('load');
    assert.deepEqual(await axeHtml(await page.content()), []);
    writeFileSync(join(pages, `again-sent-${lang}.html`), await page.content());
    // "Stop emails" (the receipt's List-Unsubscribe) and "This wasn't me": each page, then its answer.
    for (const [path, name] of [['stop', 'stop'], ['not-me', 'not-me']]) {
      await page.goto(link.replace('/api/me?', `/api/me/${path}?`));
      assert.deepEqual(await axeHtml(await page.content()), []);
      writeFileSync(join(pages, `${name}-${lang}.html`), await page.content());
      await Promise.all([page.waitForLoadState('load'), page.click('form button')]);
      await page.waitForLoadState('load');
      assert.deepEqual(await axeHtml(await page.content()), []);
      writeFileSync(join(pages, `${name}-done-${lang}.html`), await page.content());
    }
  }
  // A link that does not work.
  await page.goto(`${base}/api/me?t=${'0'.repeat(64)}`);
  assert.deepEqual(await axeHtml(await page.content()), []);
  writeFileSync(join(pages, 'gone.html'), await page.content());
  await page.context().close();
  const checked = spawnSync('java', ['-jar', vnuJar, '--errors-only', pages], { encoding: 'utf8' });
  assert.equal(checked.error, undefined, 'java runs');
  assert.equal(checked.stderr.trim(), '', 'no errors');
  assert.equal(checked.status, 0);
});

/** The next message to `address` whose HTML holds `mark`, not one of `seen` (file names). */
async function nextMessageTo(address, mark, seen) {
  const dir = join(data, 'messages');
  for (let i = 0; i < 100; i++) {
    let names = [];
    try { names = readdirSync(dir).sort(); } catch { /* not written yet */ }
    for (const name of names.filter((n) => n.endsWith('.eml') && !seen.has(n))) {
      const eml = readFileSync(join(dir, name), 'utf8');
      if (eml.includes(`To: ${address}`) && htmlPart(eml).includes(mark)) {
        seen.add(name);
        return htmlPart(eml);
      }
    }
    await new Promise((ok) => setTimeout(ok, 200));
  }
  throw new Error(`no message to ${address} with ${mark}`);
}

test('a volunteer answers an offer and a neighbour the check-in on their own pages, in English and Spanish; axe-core and the Nu checker pass', async () => {
  const pages = mkdtempSync(join(work, 'pairing-pages-'));
  const page = await noScriptPage();
  const seen = new Set();
  const people = [['es', 'Luz Navegadora', 'luz.browser@example.org', 'delivery'], ['en', 'Max Browser', 'max.browser@example.org', 'shopper']];
  const links = {};
  for (const [lang, name, email, role] of people) {
    const sent = await fetch(`${base}/api/signup`, { method: 'POST', headers: { 'content-type': 'application/json', origin: base }, body: JSON.stringify({ name, email, contact_method: 'email', zip: '91901', roles: [role], consent: true, lang, languages: [lang] }) });
    assert.equal(sent.status, 201);
    const html = await nextMessageTo(email, '/api/me?t=', seen);
    links[role] = html.match(/href="(http[^"]*\/api\/me\?t=[0-9a-f]{64})"/)[1].replace(/^https?:\/\/[^/]+/, base);
    // "Yes, this is my email", with the name as written.
    await page.goto(links[role]);
    await page.fill('#verify-name', name);
    await Promise.all([page.waitForLoadState('load'), page.click('form:has(input[value="verify"]) button')]);
    await page.waitForLoadState('load');
    assert.deepEqual(await axeHtml(await page.content()), []);
    writeFileSync(join(pages, `verified-${lang}.html`), await page.content());
  }
  // The organizer confirms the pairing: an offer by email to Max, naming no one.
  const listed = execFileSync(bin, ['cases', 'list', '--data', data], { encoding: 'utf8' });
  const caseId = listed.split('\n').find((l) => l.includes('Luz Navegadora')).split('\t')[0];
  const volunteer = execFileSync(bin, ['export', '--table', 'people', '--data', data], { encoding: 'utf8' })
    .split('\n').find((l) => l.includes('Max Browser')).split(',')[0].replaceAll('"', '');
  execFileSync(bin, ['cases', 'confirm', caseId, volunteer, '--data', data], { encoding: 'utf8' });
  const offer = await nextMessageTo('max.browser@example.org', '&amp;case=', seen);
  assert.ok(!offer.includes('Luz'), 'the offer names no one');
  const offerLink = offer.match(/href="(http[^"]*\/api\/me\?t=[0-9a-f]{64}&amp;case=[^"#]*)/)[1].replaceAll('&amp;', '&').replace(/^https?:\/\/[^/]+/, base);
  for (const lang of ['en', 'es']) {
    await page.goto(`${offerLink}&lang=${lang}`);
    assert.ok((await page.content()).includes('value="not_this_time"'), 'the offer asks');
    assert.deepEqual(await axeHtml(await page.content()), []);
    writeFileSync(join(pages, `offer-${lang}.html`), await page.content());
  }
  await page.screenshot({ path: join(shots, 'offer-es-360.png'), fullPage: true });
  await page.goto(offerLink);
  const offerPage = await page.content();
  await Promise.all([page.waitForLoadState('load'), page.click('form:has(input[value="yes"]) button')]);
  await page.waitForLoadState('load');
  assert.deepEqual(await axeHtml(await page.content()), []);
  writeFileSync(join(pages, 'offer-yes-en.html'), await page.content());
  // Both introduced: Luz, in Spanish, learns Max's first name and address.
  const intro = await nextMessageTo('luz.browser@example.org', '&amp;case=', seen);
  assert.ok(intro.includes('Max') && intro.includes('max.browser@example.org'), intro);
  const toMax = await nextMessageTo('max.browser@example.org', 'Luz Navegadora', seen);
  assert.ok(toMax.includes('luz.browser@example.org'), toMax);
  // Max's page while matched ("Can't connect?"), and Luz's check-in.
  await page.goto(`${offerLink}&lang=es`);
  assert.ok((await page.content()).includes('value="cant_connect"'));
  assert.deepEqual(await axeHtml(await page.content()), []);
  writeFileSync(join(pages, 'shopping-es.html'), await page.content());
  const introLink = intro.match(/href="(http[^"]*\/api\/me\?t=[0-9a-f]{64}&amp;case=[^"#]*)/)[1].replaceAll('&amp;', '&').replace(/^https?:\/\/[^/]+/, base);
  for (const lang of ['es', 'en']) {
    await page.goto(`${introLink}&lang=${lang}`);
    assert.ok((await page.content()).includes('value="got_it"'), 'the check-in asks');
    assert.deepEqual(await axeHtml(await page.content()), []);
    writeFileSync(join(pages, `check-in-${lang}.html`), await page.content());
  }
  await page.screenshot({ path: join(shots, 'check-in-en-360.png'), fullPage: true });
  for (const answer of ['not_yet', 'got_it']) {
    await page.goto(introLink);
    await Promise.all([page.waitForLoadState('load'), page.click(`form:has(input[value="${answer}"]) button`)]);
    await page.waitForLoadState('load');
    assert.deepEqual(await axeHtml(await page.content()), []);
    writeFileSync(join(pages, `check-in-${answer}-es.html`), await page.content());
  }
  const closed = execFileSync(bin, ['cases', 'list', '--data', data], { encoding: 'utf8' });
  assert.ok(!closed.includes('Luz Navegadora'), `closed as done: ${closed}`);
  // The offer's buttons once it moved on: refused, saying what changed and when.
  await page.goto(offerLink);
  writeFileSync(join(pages, 'offer-after-en.html'), await page.content());
  const form = offerPage.slice(offerPage.lastIndexOf('<form', offerPage.indexOf('value="yes"')));
  const fields = new URLSearchParams([...form.slice(0, form.indexOf('</form>')).matchAll(/name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1], m[2].replaceAll('&amp;', '&')]));
  fields.set('lang', 'es');
  const replay = await fetch(`${base}/api/me`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base }, body: fields.toString() });
  assert.equal(replay.status, 409);
  const replayed = await replay.text();
  assert.ok(replayed.includes('Esto cambió el'), replayed);
  assert.deepEqual(await axeHtml(replayed), []);
  writeFileSync(join(pages, 'offer-replayed-es.html'), replayed);
  await page.context().close();
  const checked = spawnSync('java', ['-jar', vnuJar, '--errors-only', pages], { encoding: 'utf8' });
  assert.equal(checked.error, undefined, 'java runs');
  assert.equal(checked.stderr.trim(), '', 'no errors');
  assert.equal(checked.status, 0);
});
