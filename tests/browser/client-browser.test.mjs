// herald.js in headless Chromium, imported from the server's /herald.js:
// following writes across restarts and resets, tokens renewed in a header,
// Retry-After, and one stream shared by many tabs over HTTP/1.1.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { clientContext, followInTab, openTab, otherSite, seenInTab, waitForEventInTab } from './client-page.mjs';
import { databases, issueToken, launchBrowser, withHerald } from './harness.mjs';
import { consecutive } from './watch.mjs';

/** A short `retry:`, so that reconnects take milliseconds. */
const FAST = { SSE_RETRY_MS: '100' };
const SECRET = 'client-browser-secret-0123456789-abcdefghij';

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

/** Runs `fn` with a fresh context and tab on `herald`, failing on script errors; closes the context. */
async function withTab(herald, fn) {
  const context = await clientContext(browser, herald);
  try {
    const tab = await openTab(context, herald);
    await fn(tab, context);
    assert.deepEqual(tab.errors.map(String), [], 'the page raised script errors');
  } finally {
    await context.close();
  }
}

/** Asserts that no request the tab made carries a token in its URL. */
function assertNoTokenInUrls(tab, tokens) {
  for (const url of tab.requests) {
    assert.ok(!url.includes('access_token') && tokens.every((t) => !url.includes(t)), `a token in ${url}`);
  }
}

for (const db of databases) {
  describe(`herald.js in Chromium on ${db.name}`, { skip: db.skip }, () => {
    it('follows 100 writes: every change once, in order', async () => {
      await withHerald(async (herald) => {
        const first = await herald.createUser({ user_name: 'first', email: 'first@example.com' });
        await withTab(herald, async ({ page }) => {
          await followInTab(page);
          assert.deepEqual((await seenInTab(page)).all, [first]);
          const expected = [];
          for (let i = 0; i < 100; i += 1) {
            if (i % 3 === 2) {
              const updated = await herald.patchUser(first.id, { display_name: `Take ${i}` });
              expected.push(['updated', first.id, updated.version]);
            } else {
              const created = await herald.createUser({ user_name: `user${i}`, email: `user${i}@example.com` });
              expected.push(['created', created.id, 1]);
            }
          }
          await waitForEventInTab(page, 101);
          const seen = await seenInTab(page);
          assert.ok(consecutive(seen.ids, 2, 101), JSON.stringify(seen.ids));
          assert.deepEqual(seen.changes.map((c) => [c.type, c.id, c.user.version]), expected);
          assert.deepEqual(seen.all, (await herald.listUsers()).items);
          assert.deepEqual(seen.statuses, ['live']);
        });
      }, { ...db.options, env: FAST });
    });

    it('catches up after the server is killed and restarted, resuming with Last-Event-ID', async () => {
      await withHerald(async (herald) => {
        const ada = await herald.createUser({ user_name: 'ada', email: 'ada@example.com' });
        await withTab(herald, async (tab) => {
          const { page } = tab;
          await followInTab(page);
          await herald.patchUser(ada.id, { display_name: 'Ada 2' });
          await waitForEventInTab(page, 2);
          await herald.createUser({ user_name: 'lastminute', email: 'lastminute@example.com' });
          // SIGKILL: no orderly end of the stream, the connection just breaks.
          herald.child.kill('SIGKILL');
          await herald.stop({ expectClean: false });
          await page.waitForFunction(() => window.herald.status === 'reconnecting', null, { timeout: 10_000 });
          await herald.start();
          await herald.patchUser(ada.id, { display_name: 'Ada 4' });
          await herald.deleteUser(ada.id);
          await waitForEventInTab(page, 5);
          const seen = await seenInTab(page);
          assert.ok(consecutive(seen.ids, 2, 5), JSON.stringify(seen.ids));
          assert.deepEqual(seen.all, (await herald.listUsers()).items);
          assert.equal(seen.resets, 0);
          const [firstStream, ...resumed] = tab.streams;
          assert.equal(new URL(firstStream.url).searchParams.get('last_event_id'), '1');
          assert.ok(resumed.length >= 1, 'no reconnect');
          const sent = await herald.streamIds(3);
          for (const request of resumed) assert.ok([sent.get(2), sent.get(3)].includes(request.headers['last-event-id']), JSON.stringify(request.headers));
        });
      }, { ...db.options, env: FAST });
    });

    it('refetches its snapshot when the server comes back with an empty database', async () => {
      await withHerald(async (herald) => {
        await herald.createUser({ user_name: 'forgotten', email: 'forgotten@example.com' });
        await herald.createUser({ user_name: 'forgotten2', email: 'forgotten2@example.com' });
        await withTab(herald, async ({ page }) => {
          await followInTab(page);
          await herald.stop();
          await herald.wipeDatabase();
          await herald.start();
          await page.waitForFunction(() => window.seen.resets === 1 && window.herald.status === 'live', null, { timeout: 15_000 });
          let seen = await seenInTab(page);
          assert.deepEqual(seen.all, []);
          assert.equal(seen.lastEventId, 0);
          const fresh = await herald.createUser({ user_name: 'fresh', email: 'fresh@example.com' });
          await waitForEventInTab(page, 1);
          seen = await seenInTab(page);
          assert.deepEqual(seen.changes.map((c) => [c.type, c.id, c.eventId]), [['created', fresh.id, 1]]);
          assert.deepEqual(seen.all, [fresh]);
        });
      }, { ...db.options, env: FAST });
    });
  });
}

describe('herald.js in Chromium', () => {
  it('renews a token that expires mid-stream without a gap, never putting a token in a URL', async () => {
    const admin = await issueToken(SECRET, { sub: 'admin', scope: 'users:read users:write', topics: '*' });
    await withHerald(async (herald) => {
      const ada = await herald.createUser({ user_name: 'ada', email: 'ada@example.com' });
      await withTab(herald, async (tab) => {
        const { page } = tab;
        const issued = [];
        // The snapshot's and the first stream's tokens live one second (and
        // the leeway); the stream then ends with `auth_expired`.
        await page.exposeFunction('nextToken', async () => {
          const ttl = issued.length < 2 ? '1s' : '1h';
          issued.push(await issueToken(SECRET, { sub: 'reader', scope: 'users:read', topics: 'users/*', ttl }));
          return issued.at(-1);
        });
        await followInTab(page, { token: true });
        let writes = 0;
        let renewed = false;
        const writer = (async () => {
          while (!renewed) await herald.patchUser(ada.id, { display_name: `Take ${(writes += 1)}` });
        })();
        try {
          await tab.watch.until(() => tab.streams[1]?.status === 200, 'the renewed stream', { timeout: 20_000 });
        } finally {
          renewed = true;
          await writer;
        }
        await herald.patchUser(ada.id, { display_name: 'Last' });
        await waitForEventInTab(page, writes + 2);
        const seen = await seenInTab(page);
        assert.ok(consecutive(seen.ids, 2, writes + 2), JSON.stringify(seen.ids));
        assert.ok(!seen.statuses.includes('unauthorized'));
        assert.equal(issued.length, 3);
        assert.deepEqual(tab.streams.map((s) => s.headers.authorization), [`Bearer ${issued[1]}`, `Bearer ${issued[2]}`]);
        const resumedWith = tab.streams[1].headers['last-event-id'];
        const resumedFrom = Number.parseInt(resumedWith, 10);
        assert.ok(resumedFrom >= 2, resumedWith);
        assert.equal(resumedWith, (await herald.streamIds(resumedFrom)).get(resumedFrom));
        assertNoTokenInUrls(tab, issued);
      });
    }, { env: { ...FAST, JWT_SECRET: SECRET }, token: admin });
  });

  it('follows a server of another origin with a token, through CORS', async () => {
    const site = await otherSite();
    const admin = await issueToken(SECRET, { sub: 'admin', scope: 'users:read users:write', topics: '*' });
    try {
      await withHerald(async (herald) => {
        const reader = await issueToken(SECRET, { sub: 'reader', scope: 'users:read', topics: 'users/*' });
        const context = await clientContext(browser, herald, { site });
        try {
          const tab = await openTab(context, herald);
          await tab.page.exposeFunction('nextToken', async () => reader);
          await followInTab(tab.page, { token: true, url: herald.baseUrl });
          const user = await herald.createUser({ user_name: 'faraway', email: 'faraway@example.com' });
          await waitForEventInTab(tab.page, 1);
          const seen = await seenInTab(tab.page);
          assert.deepEqual(seen.changes.map((c) => [c.type, c.id]), [['created', user.id]]);
          assert.equal(tab.streams[0].headers.authorization, `Bearer ${reader}`);
          assert.equal(tab.streams[0].headers.origin, site.origin);
          assertNoTokenInUrls(tab, [reader]);
          assert.deepEqual(tab.errors.map(String), []);
        } finally {
          await context.close();
        }
      }, { env: { ...FAST, JWT_SECRET: SECRET, CORS_ALLOWED_ORIGINS: site.origin }, token: admin });
    } finally {
      await site.close();
    }
  });

  it('waits the Retry-After of a refused stream before trying again', async () => {
    await withHerald(async (herald) => {
      const alice = await issueToken(SECRET, { sub: 'alice', scope: 'users:read', topics: 'users/*' });
      // Alice's one allowed stream is taken: the page's is refused with 429 and Retry-After: 5.
      const hold = new AbortController();
      const held = await fetch(herald.url('/api/sse/stream'), { headers: { Authorization: `Bearer ${alice}` }, signal: hold.signal });
      assert.equal(held.status, 200);
      await withTab(herald, async (tab) => {
        const { page } = tab;
        await page.exposeFunction('nextToken', async () => alice);
        page.on('response', (response) => {
          if (response.url().includes('/api/sse/stream') && response.status() === 429) hold.abort();
        });
        await followInTab(page, { token: true });
        const [refused, admitted, ...more] = tab.streams;
        assert.equal(refused.status, 429);
        assert.equal(admitted.status, 200);
        assert.deepEqual(more, []);
        // Without Retry-After the page would retry after its own backoff, 0.5 to 1 s.
        const waited = admitted.at - refused.at;
        assert.ok(waited >= 5000, `retried after ${waited} ms`);
        assertNoTokenInUrls(tab, [alice]);
      });
    }, { env: { ...FAST, JWT_SECRET: SECRET, MAX_STREAMS_PER_SUBJECT: '1' } });
  });

  it('eight tabs over HTTP/1.1 share one stream; when the leader closes, the others go on with nothing lost or repeated', async (t) => {
    const TABS = 8;
    await withHerald(async (herald) => {
      const context = await clientContext(browser, herald);
      try {
        const tabs = [];
        let user = null;
        for (let n = 0; n < TABS; n += 1) {
          user = await herald.createUser({ user_name: `tab${n}`, email: `tab${n}@example.com` });
          const tab = await openTab(context, herald);
          if (n === TABS - 1) {
            // The last tab's snapshot is one event behind the stream when it
            // joins: the leader serves it that event from its recent frames.
            await tab.page.route('**/api/v1/users?*', async (route) => {
              const response = await route.fetch();
              await herald.createUser({ user_name: 'racer', email: 'racer@example.com' });
              await route.fulfill({ response });
            });
          }
          await followInTab(tab.page);
          const seen = await seenInTab(tab.page);
          // Where its snapshot ended: before any change it was handed.
          tab.from = seen.lastEventId - seen.changes.length;
          tabs.push(tab);
        }
        const { changes: served } = await seenInTab(tabs.at(-1).page);
        assert.equal(tabs.at(-1).from, TABS);
        assert.deepEqual(served.map((c) => [c.type, c.user.user_name, c.eventId]), [['created', 'racer', TABS + 1]]);
        assert.equal(await herald.subscribers(), 1);
        const streams = tabs.map((tab) => tab.streams.length);
        assert.deepEqual(streams, [1, ...Array(TABS - 1).fill(0)], 'only the first tab holds a stream');
        const write = async (n) => herald.patchUser(user.id, { display_name: `Take ${n}` });
        for (let n = 1; n <= 10; n += 1) await write(n);
        await Promise.all(tabs.map((tab) => waitForEventInTab(tab.page, TABS + 1 + 10)));

        // The leader goes; writes go on meanwhile.
        const [leader, ...others] = tabs;
        const closing = leader.page.close();
        for (let n = 11; n <= 30; n += 1) await write(n);
        await closing;
        const last = TABS + 1 + 30;
        await Promise.all(others.map((tab) => waitForEventInTab(tab.page, last)));
        const takeover = others.filter((tab) => tab.streams.length > 0);
        assert.equal(takeover.length, 1, 'one tab took over');
        await herald.waitForSubscribers(1, 5000);
        t.diagnostic(`tab ${tabs.indexOf(takeover[0]) + 1} took over, resuming with Last-Event-ID ${takeover[0].streams[0].headers['last-event-id']}`);

        for (const [index, tab] of others.entries()) {
          const seen = await seenInTab(tab.page);
          assert.ok(consecutive(seen.ids, tab.from + 1, last), `tab ${index + 2}: ${JSON.stringify(seen.ids)}`);
          assert.equal(seen.all.find((u) => u.id === user.id).display_name, 'Take 30');
          assert.deepEqual(tab.errors.map(String), [], `tab ${index + 2} raised script errors`);
        }
      } finally {
        await context.close();
      }
    }, { env: FAST });
  });
});
