// The live users page over HTTPS, where Chromium speaks HTTP/2 to herald.
//
// The page's tabs share one stream (herald.js elects a leader tab), so eight
// tabs hold one stream over HTTP/2 as they do over HTTP/1.1 (see
// client-browser.test.mjs); here every tab's page, list, writes and that one
// stream come over HTTP/2.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';

import {
  launchBrowser,
  newContext,
  openPage,
  rowSelector,
  waitForCell,
  waitForLive,
  withHerald,
} from './harness.mjs';

/** Events apply within this long of the write answering. */
const LIVE_MS = 1000;
const TABS = 8;
/** Short, so that a stream left by a closed tab is noticed soon (see below). */
const KEEP_ALIVE_SECS = 2;

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

/** Waits on every tab at once; each must get there within `timeout` of now. Returns the ms each took. */
function onEveryTab(tabs, timeout, wait) {
  const started = Date.now();
  return Promise.all(tabs.map(async ({ page }, index) => {
    try {
      await wait(page, timeout);
    } catch (error) {
      error.message = `tab ${index + 1}: ${error.message}`;
      throw error;
    }
    return Date.now() - started;
  }));
}

/**
 * Opens a tab in `context`, recording the protocol and connection of every
 * response it gets (from the DevTools protocol: an EventSource's response
 * never ends, so it never shows in the page's Resource Timing).
 */
async function openTab(browser, herald, context) {
  const responses = [];
  const tab = await openPage(browser, herald, {
    context,
    beforeGoto: async (page) => {
      const cdp = await context.newCDPSession(page);
      cdp.on('Network.responseReceived', ({ type, response }) => {
        responses.push({ type, url: response.url, protocol: response.protocol, connectionId: response.connectionId });
      });
      await cdp.send('Network.enable');
    },
  });
  return { ...tab, responses };
}

it(`${TABS} tabs over HTTPS/HTTP/2 all receive a write`, async (t) => {
  await withHerald(async (herald) => {
    assert.match(herald.baseUrl, /^https:/);
    const context = await newContext(browser, herald);
    try {
      const tabs = await Promise.all(Array.from({ length: TABS }, () => openTab(browser, herald, context)));
      await onEveryTab(tabs, 10_000, (page, timeout) => waitForLive(page, timeout));
      assert.equal(await herald.subscribers(), 1, 'the tabs do not share one stream');

      // Every tab's document and list came over HTTP/2, and so did the stream.
      const holders = [];
      for (const [index, { page, responses }] of tabs.entries()) {
        const label = `tab ${index + 1}`;
        const navigation = await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol);
        assert.equal(navigation, 'h2', `${label}: the page came over ${navigation}`);
        const list = await page.evaluate(() => performance.getEntriesByType('resource')
          .filter((entry) => new URL(entry.name).pathname === '/api/v1/users')
          .map((entry) => entry.nextHopProtocol));
        assert.ok(list.length >= 1, `${label}: no Resource Timing entry for the list`);
        assert.deepEqual(list, list.map(() => 'h2'), `${label}: the list came over ${list}`);
        const streams = responses.filter((r) => new URL(r.url).pathname === '/api/sse/stream');
        if (streams.length) holders.push(index);
        for (const stream of streams) {
          assert.equal(stream.type, 'Fetch');
          assert.equal(stream.protocol, 'h2', `${label}: the stream came over ${stream.protocol}`);
        }
      }
      assert.equal(holders.length, 1, `tabs ${holders.map((i) => i + 1)} opened streams`);
      const [leader] = holders;
      t.diagnostic(`tab ${leader + 1} holds the stream for all ${TABS}`);

      // A create through the API (the harness speaks HTTP/1.1 over TLS).
      const user = await herald.createUser({ user_name: 'multitab', email: 'multitab@example.com' });
      const created = await onEveryTab(tabs, LIVE_MS, (page, timeout) => page.waitForSelector(rowSelector(user.id), { timeout }));
      t.diagnostic(`create shown in every tab after ${Math.max(...created)} ms (${created.join(', ')})`);

      // An edit through one tab's form, over that tab's HTTP/2 connection.
      const { page: editor } = tabs[TABS - 1];
      const row = editor.locator(rowSelector(user.id));
      await row.getByRole('button', { name: 'Edit multitab' }).click();
      await row.getByLabel('Display name of multitab').fill('Many Tabs');
      const patched = editor.waitForResponse((response) => response.request().method() === 'PATCH');
      await row.getByRole('button', { name: 'Save' }).click();
      assert.equal((await patched).status(), 200);
      const edited = await onEveryTab(tabs, LIVE_MS, (page, timeout) => waitForCell(page, user.id, 'display_name', 'Many Tabs', timeout));
      t.diagnostic(`edit from tab ${TABS} shown in every tab after ${Math.max(...edited)} ms (${edited.join(', ')})`);
      const patch = tabs[TABS - 1].responses.find((r) => r.url.endsWith(`/api/v1/users/${user.id}`));
      assert.equal(patch?.protocol, 'h2', 'the form\'s PATCH did not go over HTTP/2');

      // A delete through the API.
      await herald.deleteUser(user.id);
      await onEveryTab(tabs, LIVE_MS, (page, timeout) => page.waitForSelector(rowSelector(user.id), { state: 'detached', timeout }));
      for (const [index, { page }] of tabs.entries()) {
        assert.equal(await page.locator('#last-event-id').innerText(), '3', `tab ${index + 1}`);
      }

      for (const [index, { pageErrors }] of tabs.entries()) {
        assert.deepEqual(pageErrors.map(String), [], `tab ${index + 1} raised script errors`);
      }

      // The leader closes: another tab opens the one stream, and the closed
      // tab's is let go. Over HTTP/2 the server only notices a cancelled
      // stream when it next writes to it (a keep-alive comment), unlike
      // HTTP/1.1 where the closed connection is noticed at once: hence the
      // bound of one keep-alive period, not "at once".
      await tabs[leader].page.close();
      const rest = tabs.filter((_, index) => index !== leader);
      const later = await herald.createUser({ user_name: 'later', email: 'later@example.com' });
      await onEveryTab(rest, 5000, (page, timeout) => page.waitForSelector(rowSelector(later.id), { timeout }));
      const released = await herald.waitForSubscribers(1, KEEP_ALIVE_SECS * 1000 + 2000);
      t.diagnostic(`the closed leader's stream was let go ${released} ms after the others had the next write`);
    } finally {
      await context.close();
    }
    const allReleased = await herald.waitForSubscribers(0, KEEP_ALIVE_SECS * 1000 + 2000);
    t.diagnostic(`the closed context's streams were released after ${allReleased} ms`);
  }, { tls: true, env: { SSE_KEEP_ALIVE_SECS: String(KEEP_ALIVE_SECS) } });
});
