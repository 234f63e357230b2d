// herald.js in a browser tab: a page of the server's origin with nothing of
// its own, where a test imports /herald.js and follows the users collection.
import { once } from 'node:events';
import http from 'node:http';

import { Watch } from './watch.mjs';

/** The path of the empty page. */
const BLANK = '/client-test';
const BLANK_HTML = '<!doctype html><meta charset="utf-8"><title>herald.js</title>';

/**
 * Another site: a server of the empty page alone, on loopback (where
 * Chromium lets a page reach Herald, also on loopback), as
 * `http://localhost:<port>`, which is not Herald's origin.
 */
export async function otherSite() {
  const server = http.createServer((_req, res) => res.writeHead(200, { 'Content-Type': 'text/html' }).end(BLANK_HTML));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    origin: `http://localhost:${server.address().port}`,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/**
 * A new context for `herald` whose tabs open the empty page: on the
 * server's origin (the context answers it), or on `site` (an `otherSite()`).
 */
export async function clientContext(browser, herald, { site = null } = {}) {
  const context = await browser.newContext({ ignoreHTTPSErrors: herald.tls });
  if (!site) await context.route(`${herald.baseUrl}${BLANK}`, (route) => route.fulfill({ contentType: 'text/html', body: BLANK_HTML }));
  context.pageOrigin = site ? site.origin : herald.baseUrl;
  return context;
}

/**
 * A new tab of `context` on the empty page, recording the URLs it requests,
 * its requests to the stream (`streams`: {url, headers, at, status}, each
 * change poking `watch`) and its script errors.
 */
export async function openTab(context, herald) {
  const page = await context.newPage();
  const tab = { page, streams: [], requests: [], errors: [], watch: new Watch() };
  page.on('pageerror', (error) => tab.errors.push(error));
  const entries = new Map();
  page.on('request', async (request) => {
    tab.requests.push(request.url());
    if (!request.url().includes('/api/sse/stream')) return;
    const entry = { url: request.url(), headers: null, at: null, status: null };
    entries.set(request, entry);
    tab.streams.push(entry);
    entry.headers = await request.allHeaders();
    tab.watch.poke();
  });
  page.on('response', (response) => {
    const entry = entries.get(response.request());
    if (!entry) return;
    entry.status = response.status();
    // When the browser sent the request, by its own clock.
    entry.at = response.request().timing().startTime;
    tab.watch.poke();
  });
  page.on('requestfailed', (request) => {
    const entry = entries.get(request);
    if (entry && entry.status === null) entry.status = 'failed';
    tab.watch.poke();
  });
  await page.goto(`${context.pageOrigin}${BLANK}`);
  return tab;
}

/**
 * Connects in the tab (`window.herald`, `window.users`) and records in
 * `window.seen` what the collection reports; with `token`, `connect` gets a
 * token function that asks the test's `nextToken` binding; with `url`, the
 * module comes from that server, which the tab connects to. Resolves when
 * `users.ready` does.
 */
export async function followInTab(page, { token = false, url = '' } = {}) {
  await page.evaluate(async ({ withToken, server }) => {
    const { connect } = await import(`${server}/herald.js`);
    const seen = { changes: [], statuses: [], resets: 0 };
    window.seen = seen;
    window.herald = connect({ ...(server && { url: server }), ...(withToken && { token: () => window.nextToken() }) });
    window.herald.on('status', (status) => seen.statuses.push(status));
    window.users = window.herald.users();
    window.users.on('change', (change) => seen.changes.push(change));
    window.users.on('reset', () => {
      seen.resets += 1;
    });
    await window.users.ready;
  }, { withToken: token, server: url });
}

/** What the tab's collection reported: {ids, changes, statuses, resets, status, lastEventId, all}. */
export function seenInTab(page) {
  return page.evaluate(() => ({
    ids: window.seen.changes.map((c) => c.eventId),
    changes: window.seen.changes,
    statuses: window.seen.statuses,
    resets: window.seen.resets,
    status: window.herald.status,
    lastEventId: window.users.lastEventId,
    all: window.users.all(),
  }));
}

/** Waits until the tab's collection reflects event `id` and its connection is live. */
export async function waitForEventInTab(page, id, timeout = 15_000) {
  await page.waitForFunction(
    (wanted) => window.users.lastEventId >= wanted && window.herald.status === 'live',
    id,
    { timeout, polling: 20 },
  );
}
