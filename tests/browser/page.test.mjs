// The live users page in headless Chromium against the real herald binary.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  cellText,
  ensureArtifactsDir,
  launchBrowser,
  openPage,
  rowCount,
  rowSelector,
  waitForCell,
  waitForEventId,
  waitForLive,
  withHerald,
} from './harness.mjs';

/** Events apply within this long of the API call answering. */
const LIVE_MS = 1000;

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

/** Opens the page, runs `fn`, closes the context, and fails on script errors. */
async function withPage(herald, fn, options) {
  const { page, context, pageErrors } = await openPage(browser, herald, options);
  try {
    await fn(page);
    assert.deepEqual(pageErrors.map(String), [], 'the page raised script errors');
  } finally {
    await context.close();
  }
}

describe('the live users page', () => {
  it('shows the users created before it opened', async () => {
    await withHerald(async (herald) => {
      const ada = await herald.createUser({ user_name: 'ada', email: 'ada@example.com', display_name: 'Ada Lovelace' });
      const grace = await herald.createUser({ user_name: 'grace.h', email: 'grace@example.com', display_name: 'Grace Hopper' });
      const linus = await herald.createUser({ user_name: 'linus_t', email: 'linus@example.org' });

      await withPage(herald, async (page) => {
        for (const user of [ada, grace, linus]) await page.waitForSelector(rowSelector(user.id));
        await waitForLive(page);

        assert.equal(await cellText(page, ada.id, 'user_name'), 'ada');
        assert.equal(await cellText(page, ada.id, 'display_name'), 'Ada Lovelace');
        assert.equal(await cellText(page, grace.id, 'email'), 'grace@example.com');
        assert.equal(await cellText(page, linus.id, 'version'), '1');
        // In creation order, which is the list's order.
        const ids = await page.locator('#users-body tr[data-user-id]').evaluateAll(
          (rows) => rows.map((row) => row.dataset.userId));
        assert.deepEqual(ids, [ada.id, grace.id, linus.id]);
        assert.equal(await page.locator('#user-count').innerText(), '3');
        assert.equal(await page.locator('#last-event-id').innerText(), '3');

        // Some live traffic for the picture.
        const margaret = await herald.createUser({ user_name: 'margaret', email: 'margaret@example.net', display_name: 'Margaret Hamilton' });
        await herald.patchUser(linus.id, { display_name: 'Linus Torvalds' });
        await page.waitForSelector(rowSelector(margaret.id), { timeout: LIVE_MS });
        await waitForCell(page, linus.id, 'display_name', 'Linus Torvalds', LIVE_MS);
        await waitForEventId(page, 5, LIVE_MS);
        await page.waitForFunction(() => !document.querySelector('tr.flash'), null, { timeout: 5000 })
          .catch(() => {}); // only to let the highlight fade for the picture

        const dir = await ensureArtifactsDir();
        await page.screenshot({ path: path.join(dir, 'users-page.png'), fullPage: true });
      });
    });
  });

  it('applies a create, an update and a delete made through the API within a second each', async () => {
    await withHerald(async (herald) => {
      await withPage(herald, async (page) => {
        await waitForLive(page);
        await page.waitForSelector('#users-empty', { state: 'visible' });

        const user = await herald.createUser({ user_name: 'eventual', email: 'eventual@example.com' });
        await page.waitForSelector(rowSelector(user.id), { timeout: LIVE_MS });
        assert.equal(await cellText(page, user.id, 'email'), 'eventual@example.com');

        await herald.patchUser(user.id, { display_name: 'Eve Ventual', email: 'eve@example.com' });
        await waitForCell(page, user.id, 'display_name', 'Eve Ventual', LIVE_MS);
        assert.equal(await cellText(page, user.id, 'email'), 'eve@example.com');
        assert.equal(await cellText(page, user.id, 'version'), '2');

        await herald.deleteUser(user.id);
        await page.waitForSelector(rowSelector(user.id), { state: 'detached', timeout: LIVE_MS });
        await page.waitForSelector('#users-empty', { state: 'visible', timeout: LIVE_MS });

        assert.equal(await page.locator('#last-event-id').innerText(), '3');
        const log = await page.locator('#event-log li[data-event-id]').evaluateAll(
          (items) => items.map((item) => [item.dataset.eventId, item.dataset.kind]));
        assert.deepEqual(log, [['3', 'user_deleted'], ['2', 'user_updated'], ['1', 'user_created']]);
      });
    });
  });

  it('creates, edits and deletes a user through its form, showing errors next to the fields', async () => {
    await withHerald(async (herald) => {
      await withPage(herald, async (page) => {
        await waitForLive(page);

        // A user name that is too short: the server's message sits by the field.
        await page.getByLabel('User name').fill('x');
        await page.getByLabel('Email').fill('x@example.com');
        await page.getByRole('button', { name: 'Add user' }).click();
        const nameError = page.locator('#new-user_name-error');
        await nameError.waitFor({ state: 'visible', timeout: 5000 });
        assert.match(await nameError.innerText(), /must be 3 to 32 characters long/);
        const nameInput = page.locator('#new-user_name');
        assert.equal(await nameInput.getAttribute('aria-invalid'), 'true');
        assert.ok((await nameInput.getAttribute('aria-describedby')).split(' ').includes('new-user_name-error'));
        assert.equal(await page.locator('#new-email-error').isVisible(), false);
        assert.equal(await page.locator('#new-email').getAttribute('aria-invalid'), null);
        assert.equal((await herald.listUsers()).items.length, 0);

        // Corrected and sent with the keyboard.
        await nameInput.fill('formuser');
        await page.getByLabel('Display name').fill('Form User');
        await page.getByLabel('Display name').press('Enter');
        await page.waitForSelector('#users-body tr[data-user-id]', { timeout: 5000 });
        const [created] = (await herald.listUsers()).items;
        assert.equal(created.user_name, 'formuser');
        assert.equal(created.display_name, 'Form User');
        assert.equal(await rowCount(page, created.id), 1);
        assert.equal(await nameError.isVisible(), false);
        assert.equal(await nameInput.getAttribute('aria-invalid'), null);
        assert.equal(await nameInput.inputValue(), '');
        await page.waitForFunction(() => document.querySelector('#form-status').textContent.includes('Added formuser'));

        // The same user name again: a 409 marks the field.
        await nameInput.fill('formuser');
        await page.getByLabel('Email').fill('other@example.com');
        await page.getByRole('button', { name: 'Add user' }).click();
        await page.waitForFunction(
          () => /already has this user name/.test(document.querySelector('#new-user_name-error').textContent));
        assert.equal(await nameInput.getAttribute('aria-invalid'), 'true');

        // Edit in place: a bad email is refused next to the field, then a good one is saved.
        const row = page.locator(rowSelector(created.id));
        await row.getByRole('button', { name: 'Edit formuser' }).click();
        const emailInput = row.getByLabel('Email of formuser');
        await emailInput.fill('not-an-email');
        await row.getByRole('button', { name: 'Save' }).click();
        const emailError = row.locator('[data-error-for="email"]');
        await emailError.waitFor({ state: 'visible', timeout: 5000 });
        assert.equal(await emailInput.getAttribute('aria-invalid'), 'true');
        await emailInput.fill('form.user@example.com');
        await row.getByLabel('Display name of formuser').fill('Renamed User');
        await emailInput.press('Enter');
        await waitForCell(page, created.id, 'display_name', 'Renamed User', 5000);
        assert.equal(await cellText(page, created.id, 'email'), 'form.user@example.com');
        const edited = (await herald.request('GET', `/api/v1/users/${created.id}`)).body;
        assert.equal(edited.email, 'form.user@example.com');
        assert.equal(edited.display_name, 'Renamed User');
        assert.equal(edited.version, 2);

        // Delete, confirming the dialog.
        page.once('dialog', (dialog) => dialog.accept());
        await row.getByRole('button', { name: 'Delete formuser' }).click();
        await page.waitForSelector(rowSelector(created.id), { state: 'detached', timeout: 5000 });
        assert.equal((await herald.request('GET', `/api/v1/users/${created.id}`)).status, 404);
        await waitForEventId(page, 3);
        assert.equal(await rowCount(page, created.id), 0);
      });
    });
  });

  it('shows a write made while the page loads exactly once', async () => {
    await withHerald(async (herald) => {
      const early = await herald.createUser({ user_name: 'early', email: 'early@example.com' });
      let snapshot = null;
      let racer = null;
      let routed;
      const listRouted = new Promise((resolve, reject) => {
        routed = { resolve, reject };
      });
      const streamRequests = [];
      await withPage(herald, async (page) => {
        await listRouted;
        await page.waitForSelector(rowSelector(racer.id));
        await waitForLive(page);
        await waitForEventId(page, 2);

        // The page's list was taken before the write and did not hold it.
        assert.equal(snapshot.last_event_id, 1);
        assert.deepEqual(snapshot.items.map((u) => u.id), [early.id]);
        assert.equal(new URL(streamRequests[0]).searchParams.get('last_event_id'), '1', streamRequests[0]);

        // A later event is a barrier: everything before it has been applied.
        const later = await herald.createUser({ user_name: 'later', email: 'later@example.com' });
        await page.waitForSelector(rowSelector(later.id), { timeout: LIVE_MS });
        assert.equal(await rowCount(page, racer.id), 1);
        assert.equal(await rowCount(page, early.id), 1);
        assert.equal(await page.locator('#users-body tr[data-user-id]').count(), 3);
        assert.equal(await page.locator('#user-count').innerText(), '3');
        assert.equal(await page.locator('#event-log li[data-event-id="2"]').count(), 1);
      }, {
        beforeGoto: async (page) => {
          page.on('request', (request) => {
            if (request.url().includes('/api/sse/stream')) streamRequests.push(request.url());
          });
          await page.route('**/api/v1/users*', async (route) => {
            if (route.request().method() !== 'GET' || snapshot !== null) return route.continue();
            try {
              // The list is taken now; the write lands before the page sees it.
              const response = await route.fetch();
              snapshot = await response.json();
              racer = await herald.createUser({ user_name: 'racer', email: 'racer@example.com' });
              await route.fulfill({ response });
              routed.resolve();
            } catch (error) {
              routed.reject(error);
            }
          });
        },
      });
    });
  });

  it('catches up after the server restarts, resuming with Last-Event-ID', async (t) => {
    await withHerald(async (herald) => {
      const kept = await herald.createUser({ user_name: 'kept', email: 'kept@example.com' });
      const doomed = await herald.createUser({ user_name: 'doomed', email: 'doomed@example.com' });
      const streamRequests = [];
      await withPage(herald, async (page) => {
        await waitForLive(page);
        await waitForEventId(page, 2);
        assert.equal(streamRequests.length, 1);

        // Writes the page may not have seen yet when the server stops: the
        // stream ends at once on SIGTERM.
        const lastMinute = await herald.createUser({ user_name: 'lastminute', email: 'lastminute@example.com' });
        await herald.patchUser(kept.id, { display_name: 'Kept Before Stop' });
        await herald.stop();
        await page.waitForFunction(
          () => document.querySelector('#connection-state').textContent.trim() === 'reconnecting',
          null, { timeout: 5000 });

        await herald.start();
        const afterRestart = await herald.createUser({ user_name: 'afterwards', email: 'afterwards@example.com' });
        await herald.patchUser(kept.id, { email: 'kept.after@example.com' });
        await herald.deleteUser(doomed.id);

        // The browser reconnects on its own after the server's retry delay.
        await page.waitForSelector(rowSelector(afterRestart.id), { timeout: 15_000 });
        await page.waitForSelector(rowSelector(doomed.id), { state: 'detached', timeout: LIVE_MS });
        await waitForCell(page, kept.id, 'email', 'kept.after@example.com', LIVE_MS);
        await waitForLive(page, LIVE_MS);
        assert.equal(await cellText(page, kept.id, 'display_name'), 'Kept Before Stop');
        await page.waitForSelector(rowSelector(lastMinute.id), { timeout: LIVE_MS });
        assert.equal(await page.locator('#last-event-id').innerText(), '7');

        for (const id of [kept.id, lastMinute.id, afterRestart.id]) assert.equal(await rowCount(page, id), 1);
        assert.equal(await page.locator('#users-body tr[data-user-id]').count(), 3);
        assert.equal(await page.locator('#event-log li[data-event-id]').count(), 5);

        // The browser's reconnect carried its resume point.
        assert.ok(streamRequests.length >= 2, `stream requests: ${streamRequests.length}`);
        const resumed = streamRequests.find((r) => r.lastEventId !== undefined);
        assert.ok(resumed, 'no stream request carried Last-Event-ID');
        const resumedFrom = Number.parseInt(resumed.lastEventId, 10);
        assert.ok(resumedFrom >= 2 && resumedFrom <= 4, `resumed from ${resumed.lastEventId}`);
        assert.equal(resumed.lastEventId, (await herald.streamIds(resumedFrom)).get(resumedFrom));
        t.diagnostic(`reconnected with last-event-id ${resumedFrom} (${4 - resumedFrom} event(s) replayed from before the stop)`);
      }, {
        beforeGoto: async (page) => {
          page.on('request', async (request) => {
            if (!request.url().includes('/api/sse/stream')) return;
            const entry = { url: request.url() };
            streamRequests.push(entry);
            const headers = await request.allHeaders();
            entry.lastEventId = headers['last-event-id'];
          });
        },
      });
    });
  });

  it('reloads the list when the stream says reset', async () => {
    await withHerald(async (herald) => {
      const gone = await herald.createUser({ user_name: 'forgotten', email: 'forgotten@example.com' });
      await herald.createUser({ user_name: 'forgotten2', email: 'forgotten2@example.com' });
      await withPage(herald, async (page) => {
        await waitForLive(page);
        await page.waitForSelector(rowSelector(gone.id));

        // A new, empty database behind the same address: the page's resume
        // point (event 2) is unknown there, so the stream answers with a reset.
        await herald.stop();
        await herald.wipeDatabase();
        await herald.start();
        await page.waitForSelector('#event-log li[data-kind="reset"]', { timeout: 15_000 });
        await page.waitForSelector(rowSelector(gone.id), { state: 'detached', timeout: 5000 });
        await page.waitForSelector('#users-empty', { state: 'visible', timeout: 5000 });
        await waitForLive(page, 5000);
        assert.equal(await page.locator('#last-event-id').innerText(), '0');

        // And it follows the new database from there.
        const fresh = await herald.createUser({ user_name: 'fresh', email: 'fresh@example.com' });
        await page.waitForSelector(rowSelector(fresh.id), { timeout: LIVE_MS });
        assert.equal(await page.locator('#last-event-id').innerText(), '1');
        assert.equal(await page.locator('#users-body tr[data-user-id]').count(), 1);
      });
    });
  });
});
