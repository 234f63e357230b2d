// herald.js in a browser tab: a page of the server's origin with nothing of
// its own, where a test imports /herald.js and follows the users collection.
import { Watch } from './watch.mjs';

/** The path of the empty page; the browser context answers it itself. */
const BLANK = '/client-test';

/** A new context for `herald` whose tabs can open the empty page. */
export async function clientContext(browser, herald) {
  const context = await browser.newContext({ baseURL: herald.baseUrl, ignoreHTTPSErrors: herald.tls });
  await context.route(`${herald.baseUrl}${BLANK}`, (route) =>
    route.fulfill({ contentType: 'text/html', body: '<!doctype html><meta charset="utf-8"><title>herald.js</title>' }));
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
  await page.goto(`${herald.baseUrl}${BLANK}`);
  return tab;
}

/**
 * Connects in the tab (`window.herald`, `window.users`) and records in
 * `window.seen` what the collection reports; with `token`, `connect` gets a
 * token function that asks the test's `nextToken` binding. Resolves when
 * `users.ready` does.
 */
export async function followInTab(page, { token = false } = {}) {
  await page.evaluate(async (withToken) => {
    const { connect } = await import('/herald.js');
    const seen = { changes: [], statuses: [], resets: 0 };
    window.seen = seen;
    window.herald = connect(withToken ? { token: () => window.nextToken() } : {});
    window.herald.on('status', (status) => seen.statuses.push(status));
    window.users = window.herald.users();
    window.users.on('change', (change) => seen.changes.push(change));
    window.users.on('reset', () => {
      seen.resets += 1;
    });
    await window.users.ready;
  }, token);
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
