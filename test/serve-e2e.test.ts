/**
 * The web page end to end, in Debian's Chromium (playwright-core with its executablePath, no browser
 * download): an operator logs in against the CouchDB-compatible server, watches a registered file
 * move through the stages without reloading, opens its timeline, sees a step fail, retries it from
 * the page and sees it finish, then searches the documents by metadata fields. Screenshots go to
 * test-screenshots/ (kept out of git).
 */
import {createHash, randomBytes} from 'node:crypto';
import {mkdir, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import test from 'ava';
import {chromium} from 'playwright-core';
import {spawnEdw, edw} from './helpers/cli.js';
import {startCouchServer} from './helpers/couch-server.js';
import {workspace} from './helpers/workspace.js';

const SCREENSHOTS = new URL('../test-screenshots/', import.meta.url).pathname;
const ADMIN = {name: 'edw-admin', password: `admin-${randomBytes(6).toString('hex')}`};

test('an operator logs in, watches a file move through the stages live, opens its timeline, retries its failed step from the page and sees it finish, then finds it by a metadata field', async (t) => {
  t.timeout(5 * 60_000, 'a browser, a server, a listener and edw serve');
  await mkdir(SCREENSHOTS, {recursive: true});
  const server = await startCouchServer({admin: ADMIN});
  t.teardown(() => server.stop());
  const operator = {name: `alice-${randomBytes(3).toString('hex')}`, password: `pw-${randomBytes(6).toString('hex')}`};
  const id = `org.couchdb.user:${operator.name}`;
  t.is((await server.request('PUT', `_users/${encodeURIComponent(id)}`, {_id: id, name: operator.name, password: operator.password, roles: ['edw-operator'], type: 'user'})).status, 201);
  const dbUrl = server.databaseUrl('edw-e2e');

  // Two command steps: `check` fails for good until the file `ok` exists in the config folder; `finish` always works.
  const ws = await workspace(t, {
    databaseUrl: dbUrl,
    ini: `[log]\nlevel = info\n[step.check]\nafter = new\ncommand = ${process.execPath} step.mjs check\nversion = 1\nattempts = 1\n` +
      `[step.finish]\nafter = check\ncommand = ${process.execPath} step.mjs finish\nversion = 1\n`,
  });
  await writeFile(join(ws.dir, 'step.mjs'), `import {existsSync} from 'node:fs';
if (process.argv[2] === 'check' && !existsSync('ok')) { console.error('calibration missing: no ok file'); process.exit(1); }
console.log(JSON.stringify({step: process.argv[2]}));
`);
  await (await ws.open()).close();
  const db = decodeURIComponent(new URL(dbUrl).pathname.split('/').filter(Boolean).pop()!);
  t.is((await server.request('PUT', `${encodeURIComponent(db)}/_security`, {admins: {names: [], roles: []}, members: {names: [ADMIN.name], roles: ['edw-operator']}})).status, 200);

  const serve = spawnEdw(['--config', ws.configPath, 'serve', '--port', '0']);
  t.teardown(() => serve.child.kill('SIGKILL'));
  const url = /on (http:\S+) /.exec(await serve.waitFor(/^serving /))![1]!;
  const listen = spawnEdw(['--config', ws.configPath, 'listen']);
  t.teardown(() => listen.child.kill('SIGKILL'));
  await listen.waitFor(/listening/);

  const browser = await chromium.launch({executablePath: '/usr/bin/chromium', args: ['--no-sandbox']});
  t.teardown(() => browser.close());
  const page = await browser.newPage({viewport: {width: 1200, height: 1000}});
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${url}/`);
  await page.fill('#login input[name=name]', operator.name);
  await page.fill('#login input[name=password]', operator.password);
  await page.click('#login button');
  await page.waitForSelector('#chain .stage[data-row=check]');
  t.regex(await page.textContent('#who') ?? '', /\(operator\)/);
  // Reloading would lose this mark: the rest happens on the page as loaded.
  await page.evaluate(() => Object.assign(window, {edwMark: 1}));
  await page.screenshot({path: join(SCREENSHOTS, '1-logged-in.png')});

  await writeFile(join(ws.dir, 'raw', 'run1_000.edwr'), 'raw data');
  const registered = await edw('--config', ws.configPath, 'register', join(ws.dir, 'raw'));
  t.is(registered.code, 0, registered.err.join('\n'));
  const rowText = (row: string) => `#chain .stage[data-row=${row}]`;
  await page.waitForFunction((selector) => document.querySelector(selector)?.textContent?.includes('failed 1'), rowText('check'), {timeout: 60_000});
  await page.screenshot({path: join(SCREENSHOTS, '2-failed.png')});

  await page.waitForSelector('#documents tbody tr[data-id=run1_000]');
  await page.click('#documents tbody tr[data-id=run1_000]');
  await page.waitForFunction(() => document.querySelector('#timeline tbody')?.textContent?.includes('calibration missing'), undefined, {timeout: 30_000});
  t.regex(await page.textContent('#timeline-summary') ?? '', /failed for good at check/);
  await page.screenshot({path: join(SCREENSHOTS, '3-timeline.png')});

  await writeFile(join(ws.dir, 'ok'), '');
  await page.waitForSelector('#failures .group button');
  await page.click('#failures .group button');
  await page.waitForFunction((selector) => document.querySelector(selector)?.textContent?.includes('done 1'), rowText('finish'), {timeout: 60_000});
  await page.waitForFunction(() => document.querySelector('#timeline tbody')?.textContent?.includes('finish'), undefined, {timeout: 30_000});
  await page.waitForFunction(() => document.querySelector('#documents tbody tr[data-id=run1_000]')?.textContent?.includes('done'), undefined, {timeout: 30_000});
  // The plot of completions per step took them in live (the page was open before they happened)...
  const shows = (expected: string): boolean => {
    const chart = (window as unknown as {echarts: any}).echarts.getInstanceByDom(document.querySelector('#completions'));
    const series = (chart?.getOption()?.series ?? []) as Array<{name: string; data: Array<[unknown, number]>}>;
    return JSON.stringify(Object.fromEntries(series.map((s) => [s.name, s.data.reduce((sum, point) => sum + point[1], 0)]))) === expected;
  };
  await page.waitForFunction(shows, '{"check":1,"finish":1}', {timeout: 30_000});
  await page.screenshot({path: join(SCREENSHOTS, '4-finished.png')});
  // ...and a page opened now reads them as history.
  const later = await browser.newContext({storageState: await page.context().storageState()});
  const reopened = await later.newPage();
  await reopened.goto(`${url}/`);
  await reopened.waitForFunction(shows, '{"check":1,"finish":1}', {timeout: 30_000});
  await later.close();

  // Search by metadata: the filter box takes edw query's PATH OP VALUE and offers the fields seen on documents.
  t.true(await page.$$eval('#fields option', (options) => options.some((o) => (o as HTMLOptionElement).value === 'bytes')), 'the fields seen are offered');
  await page.fill('#documents-filter input[name=where]', 'bytes>100');
  await page.click('#documents-filter button');
  await page.waitForFunction(() => !document.querySelector('#documents tbody tr'), undefined, {timeout: 30_000});
  await page.fill('#documents-filter input[name=where]', `bytes=8; md5sum=${createHash('md5').update('raw data').digest('hex')}`);
  await page.click('#documents-filter button');
  await page.waitForSelector('#documents tbody tr[data-id=run1_000]');
  await page.screenshot({path: join(SCREENSHOTS, '5-search.png')});
  t.is(await page.evaluate(() => (window as unknown as {edwMark?: number}).edwMark), 1, 'the page was never reloaded');
  t.regex(await page.textContent('#message') ?? '', /1 retried/);
  t.deepEqual(errors, [], 'no script error on the page');

  listen.child.kill('SIGTERM');
  serve.child.kill('SIGTERM');
  await Promise.all([listen.exit, serve.exit]);
});
