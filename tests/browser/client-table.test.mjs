// herald.js's live tables, in Node and in Chromium, against the real binary:
// a table made live with `herald watch`, written by the database's own shell,
// followed from its snapshot on (every change once, in order), a tenant's
// rows alone with `scope`, and a snapshot fetched again after a reset.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { connect, topicSegment } from '../../clients/js/herald.js';
import { clientContext, openTab } from './client-page.mjs';
import { databases, launchBrowser, withHerald } from './harness.mjs';
import { Watch } from './watch.mjs';

const FAST = { SSE_RETRY_MS: '100' };

/** An orders table, watched with its tenant as scope and its secret hidden, with three rows. */
async function ordersTable(herald) {
  await herald.sql(
    'CREATE TABLE orders (id bigint PRIMARY KEY, tenant text, customer text NOT NULL, total integer, secret text)',
  );
  await herald.cli('watch', 'orders', '--scope', 'tenant', '--hide', 'secret');
  await herald.sql(
    "INSERT INTO orders VALUES (1, 'acme', 'ada', 10, 's'), (2, 'globex', 'bob', 20, 's'), (3, 'acme', 'cy', 30, 's')",
  );
}

const row = (id, tenant, customer, total) => ({ id, tenant, customer, total });

/** The writes both runtimes follow, and the changes they make, in order. */
async function writeOrders(herald) {
  await herald.sql("INSERT INTO orders VALUES (4, 'acme', 'dee', 40, 's')");
  await herald.sql('UPDATE orders SET total = 11 WHERE id = 1');
  await herald.sql("UPDATE orders SET secret = 'hidden only' WHERE id = 1");
  await herald.sql("UPDATE orders SET tenant = 'globex' WHERE id = 3");
  await herald.sql('DELETE FROM orders WHERE id = 4');
  return [
    ['created', '4', row(4, 'acme', 'dee', 40)],
    ['updated', '1', row(1, 'acme', 'ada', 11)],
    ['deleted', '3', null],
    ['created', '3', row(3, 'globex', 'cy', 30)],
    ['deleted', '4', null],
  ];
}

for (const db of databases) {
  describe(`herald.js table() in Node on ${db.name}`, { skip: db.skip }, () => {
    it('follows a live table from its snapshot on: every change once, in order', async () => {
      await withHerald(async (herald) => {
        await ordersTable(herald);
        const watch = new Watch();
        const client = connect({ url: herald.baseUrl });
        try {
          const orders = client.table('orders');
          const changes = [];
          orders.on('change', (change) => {
            changes.push(change);
            watch.poke();
          });
          await orders.ready;
          assert.deepEqual(orders.all(), [row(1, 'acme', 'ada', 10), row(2, 'globex', 'bob', 20), row(3, 'acme', 'cy', 30)]);
          assert.deepEqual(orders.get(2), row(2, 'globex', 'bob', 20));
          assert.equal(orders.lastEventId, 3);
          const expected = await writeOrders(herald);
          await watch.until(() => changes.length >= expected.length, 'the changes', { state: () => JSON.stringify(changes) });
          assert.deepEqual(changes.map((c) => [c.type, c.key, c.row]), expected);
          assert.deepEqual(changes.map((c) => c.eventId), [4, 5, 6, 7, 8], 'the hidden-only update made no event');
          assert.deepEqual(orders.all(), [row(1, 'acme', 'ada', 11), row(2, 'globex', 'bob', 20), row(3, 'globex', 'cy', 30)]);
        } finally {
          client.close();
        }
      }, { ...db.options, env: FAST });
    });

    it("with scope, a tenant's rows alone, which leave when they move", async () => {
      await withHerald(async (herald) => {
        await ordersTable(herald);
        const watch = new Watch();
        const client = connect({ url: herald.baseUrl });
        try {
          const acme = client.table('orders', { scope: 'acme' });
          const changes = [];
          acme.on('change', (change) => {
            changes.push(change);
            watch.poke();
          });
          await acme.ready;
          assert.deepEqual(acme.all().map((r) => r.id), [1, 3]);
          await writeOrders(herald);
          await watch.until(() => changes.length >= 4, 'the changes', { state: () => JSON.stringify(changes) });
          assert.deepEqual(changes.map((c) => [c.type, c.key]), [['created', '4'], ['updated', '1'], ['deleted', '3'], ['deleted', '4']]);
          assert.deepEqual(acme.all().map((r) => r.id), [1]);
          assert.equal(topicSegment('a/b'), 'a_2Fb');
        } finally {
          client.close();
        }
      }, { ...db.options, env: FAST });
    });

    it('fetches its snapshot again after a reset', async () => {
      await withHerald(async (herald) => {
        await ordersTable(herald);
        const watch = new Watch();
        const client = connect({ url: herald.baseUrl });
        try {
          const orders = client.table('orders');
          let resets = 0;
          orders.on('reset', () => {
            resets += 1;
            watch.poke();
          });
          // The refetch may find the table watched but still empty: the row
          // then arrives as a change after the reset.
          orders.on('change', () => watch.poke());
          await orders.ready;
          await herald.stop();
          await herald.wipeDatabase();
          await herald.start();
          await herald.sql('CREATE TABLE orders (id bigint PRIMARY KEY, tenant text, customer text NOT NULL, total integer, secret text)');
          await herald.cli('watch', 'orders', '--scope', 'tenant', '--hide', 'secret');
          await herald.sql("INSERT INTO orders VALUES (9, 'acme', 'new', 1, 's')");
          await watch.until(() => resets >= 1 && orders.all().length === 1, 'the refetched snapshot', { state: () => JSON.stringify(orders.all()) });
          assert.deepEqual(orders.all(), [row(9, 'acme', 'new', 1)]);
        } finally {
          client.close();
        }
      }, { ...db.options, env: FAST });
    });
  });
}

let browser;

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

for (const db of databases) {
  describe(`herald.js table() in Chromium on ${db.name}`, { skip: db.skip }, () => {
    it('follows a live table from the module the server serves', async () => {
      await withHerald(async (herald) => {
        await ordersTable(herald);
        const context = await clientContext(browser, herald);
        try {
          const { page, errors } = await openTab(context, herald);
          await page.evaluate(async () => {
            const { connect } = await import('/herald.js');
            window.herald = connect();
            window.orders = window.herald.table('orders');
            window.changes = [];
            window.orders.on('change', (change) => window.changes.push(change));
            await window.orders.ready;
          });
          const expected = await writeOrders(herald);
          await page.waitForFunction((n) => window.changes.length >= n, expected.length, { timeout: 15_000, polling: 20 });
          const seen = await page.evaluate(() => ({ changes: window.changes, all: window.orders.all() }));
          assert.deepEqual(seen.changes.map((c) => [c.type, c.key, c.row]), expected);
          assert.deepEqual(seen.all, [row(1, 'acme', 'ada', 11), row(2, 'globex', 'bob', 20), row(3, 'globex', 'cy', 30)]);
          assert.deepEqual(errors.map(String), []);
        } finally {
          await context.close();
        }
      }, { ...db.options, env: FAST });
    });
  });
}
