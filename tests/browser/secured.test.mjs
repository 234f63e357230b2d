// The page and a page's own EventSource against a server that requires
// tokens: signing in once, named notifications to one's own inbox only,
// and a session that expires.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  issueToken,
  launchBrowser,
  openPage,
  rowSelector,
  waitForLive,
  withHerald,
} from './harness.mjs';

const SECRET = 'browser-test-secret-0123456789-abcdefghij';
const SIGN_IN_MS = 10_000;

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

/** A secured server whose harness calls carry an all-powerful token. */
async function withSecuredHerald(fn, options = {}) {
  const admin = await issueToken(SECRET, {
    sub: 'admin',
    scope: 'users:read users:write events:publish',
    topics: '*',
  });
  await withHerald(fn, { ...options, env: { JWT_SECRET: SECRET }, token: admin });
}

async function signIn(page, token) {
  await page.waitForSelector('#sign-in:not([hidden])', { timeout: SIGN_IN_MS });
  await page.fill('#access-token', token);
  await page.click('#sign-in-submit');
  await page.waitForSelector('#sign-in[hidden]', { state: 'attached', timeout: SIGN_IN_MS });
}

describe('the page on a server that requires tokens', () => {
  it('signs in once, then follows users and its own inbox through the cookie', async () => {
    await withSecuredHerald(async (herald) => {
      const ada = await herald.createUser({ user_name: 'ada', email: 'ada@example.com' });
      const alice = await issueToken(SECRET, {
        sub: 'alice',
        scope: 'users:read users:write',
        topics: 'users/* inbox/alice broadcast',
      });
      const { page, context, pageErrors } = await openPage(browser, herald);
      try {
        assert.equal(await page.locator('#connection-state').innerText(), 'signed out');
        await signIn(page, alice);
        await page.waitForSelector(rowSelector(ada.id));
        await waitForLive(page);
        const cookies = await context.cookies();
        const session = cookies.find((c) => c.name === 'herald_session');
        assert.ok(session, 'the session cookie is set');
        assert.equal(session.httpOnly, true);
        assert.equal(session.sameSite, 'Strict');
        assert.equal(await page.evaluate(() => document.cookie), '', 'scripts cannot read it');

        // Live users through the cookie-authenticated stream, and a write
        // from the page itself (same origin, cookie).
        const grace = await herald.createUser({ user_name: 'grace', email: 'grace@example.com' });
        await page.waitForSelector(rowSelector(grace.id), { timeout: 2000 });
        await page.fill('#new-user_name', 'linus');
        await page.fill('#new-email', 'linus@example.com');
        await page.click('#create-submit');
        await page.waitForFunction(() => document.querySelector('#form-status')?.textContent.includes('Added linus'));

        // A listener of the page's own, as an application would add one.
        await page.evaluate(() => {
          window.pushed = [];
          const source = new EventSource('/api/sse/stream');
          source.addEventListener('psh', (event) => window.pushed.push(JSON.parse(event.data)));
          return new Promise((resolve) => { source.onopen = resolve; });
        });
        await herald.publish({ topic: 'inbox/bob', event: 'psh', data: { text: 'for bob' } });
        await herald.publish({ topic: 'inbox/alice', event: 'psh', data: { text: 'for alice' } });
        await herald.publish({ topic: 'broadcast', event: 'psh', data: { text: 'for everyone' } });
        await page.waitForFunction(() => window.pushed.length >= 2, null, { timeout: 2000 });
        const pushed = await page.evaluate(() => window.pushed);
        assert.deepEqual(pushed.map((e) => [e.topic, e.event, e.data.text]), [
          ['inbox/alice', 'psh', 'for alice'],
          ['broadcast', 'psh', 'for everyone'],
        ]);
        assert.deepEqual(pageErrors.map(String), []);
      } finally {
        await context.close();
      }
    });
  });

  // HTTP/2 has no Host header: the page's own writes are recognised by the
  // request's authority. And over HTTPS the session cookie is Secure.
  it('over HTTPS and HTTP/2, signs in and writes through a Secure cookie', async () => {
    await withSecuredHerald(async (herald) => {
      assert.match(herald.baseUrl, /^https:/);
      const alice = await issueToken(SECRET, { sub: 'alice', scope: 'users:read users:write', topics: 'users/*' });
      const { page, context, pageErrors } = await openPage(browser, herald);
      try {
        await signIn(page, alice);
        await waitForLive(page);
        const protocol = await page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol);
        assert.equal(protocol, 'h2');
        const session = (await context.cookies()).find((c) => c.name === 'herald_session');
        assert.equal(session?.secure, true, 'the session cookie is Secure over HTTPS');
        const created = page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/api/v1/users'));
        await page.fill('#new-user_name', 'linus');
        await page.fill('#new-email', 'linus@example.com');
        await page.click('#create-submit');
        assert.equal((await created).status(), 201, 'the page\'s own write over HTTP/2');
        await page.waitForFunction(() => document.querySelector('#form-status')?.textContent.includes('Added linus'));
        assert.deepEqual(pageErrors.map(String), []);
      } finally {
        await context.close();
      }
    }, { tls: true });
  });

  it('asks again when the session expires', async () => {
    await withSecuredHerald(async (herald) => {
      // Accepted for its lifetime plus a few seconds of leeway.
      const brief = await issueToken(SECRET, { sub: 'alice', scope: 'users:read', topics: 'users/*', ttl: '1s' });
      const fresh = await issueToken(SECRET, { sub: 'alice', scope: 'users:read', topics: 'users/*' });
      const { page, context } = await openPage(browser, herald);
      try {
        await signIn(page, brief);
        await waitForLive(page);
        await page.waitForSelector('#sign-in:not([hidden])', { timeout: 15_000 });
        assert.match(await page.locator('#sign-in-reason').innerText(), /expired/);
        assert.equal(await page.locator('#connection-state').innerText(), 'signed out');
        await signIn(page, fresh);
        await waitForLive(page);
        const user = await herald.createUser({ user_name: 'after', email: 'after@example.com' });
        await page.waitForSelector(rowSelector(user.id), { timeout: 2000 });
      } finally {
        await context.close();
      }
    });
  });
});
