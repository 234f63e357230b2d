// A second, independent client: Node's `eventsource` package on the stream,
// across a restart of the server on the same port and database.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { it } from 'node:test';

import { EventSource } from 'eventsource';

import { withHerald } from './harness.mjs';

/** Resolves when `predicate()` holds (checked every 10 ms), or rejects after `timeout`. */
function until(predicate, description, timeout = 10_000) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const check = () => {
      if (predicate()) {
        clearInterval(timer);
        resolve();
      } else if (Date.now() - started > timeout) {
        clearInterval(timer);
        reject(new Error(`timed out after ${timeout} ms waiting for ${description}`));
      }
    };
    const timer = setInterval(check, 10);
    check();
  });
}

it('an EventSource client receives every event exactly once across a restart', async (t) => {
  await withHerald(async (herald) => {
    const received = [];
    /** Each event's SSE id, `<id>.<tag>`, by its envelope's id. */
    const sseIds = new Map();
    const resets = [];
    const requests = [];
    let opens = 0;
    let errors = 0;
    const source = new EventSource(herald.url('/api/sse/stream'), {
      fetch: (input, init) => {
        requests.push({ lastEventId: new Headers(init?.headers).get('last-event-id') });
        return fetch(input, init);
      },
    });
    source.onopen = () => {
      opens += 1;
    };
    source.onerror = () => {
      errors += 1;
    };
    source.onmessage = (message) => {
      const event = JSON.parse(message.data);
      // The tag: the first 32 bits of the SHA-256 of the envelope, in hex.
      const tag = createHash('sha256').update(message.data).digest('hex').slice(0, 8);
      assert.equal(message.lastEventId, `${event.id}.${tag}`);
      sseIds.set(event.id, message.lastEventId);
      received.push(event);
    };
    source.addEventListener('reset', (message) => resets.push(message.data));

    try {
      await until(() => opens === 1, 'the stream to open');

      // Events 1-4 arrive live.
      const user = await herald.createUser({ user_name: 'streamed', email: 'streamed@example.com' });
      for (let n = 2; n <= 4; n += 1) await herald.patchUser(user.id, { display_name: `Take ${n}` });
      await until(() => received.length === 4, 'events 1-4');

      // Event 5 is written right before SIGTERM: it comes live or, if the
      // stream ended first, from the log after reconnecting.
      const other = await herald.createUser({ user_name: 'second', email: 'second@example.com' });
      await herald.stop();
      await until(() => errors >= 1 && source.readyState === EventSource.CONNECTING, 'the client to notice the stop');

      await herald.start();
      await herald.patchUser(other.id, { display_name: 'After Restart' });
      await herald.patchUser(user.id, { email: 'streamed.after@example.com' });
      await herald.deleteUser(user.id);
      const third = await herald.createUser({ user_name: 'third', email: 'third@example.com' });
      await herald.patchUser(third.id, { display_name: 'Third' });

      await until(() => received.length >= 10, 'events 6-10', 15_000);
      // One more event as a barrier: nothing is still on its way twice.
      await herald.deleteUser(third.id);
      await until(() => received.length >= 11, 'event 11');

      assert.deepEqual(received.map((e) => e.id), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      assert.deepEqual(received.map((e) => e.event), [
        'user_created', 'user_updated', 'user_updated', 'user_updated', 'user_created',
        'user_updated', 'user_updated', 'user_deleted', 'user_created', 'user_updated', 'user_deleted',
      ]);
      assert.equal(received[5].data.user.display_name, 'After Restart');
      assert.equal(received[7].data.user, null);
      assert.equal(received[7].data.user_id, user.id);
      assert.deepEqual(resets, []);
      assert.equal(opens, 2);

      // The reconnect carried the last id the client had.
      assert.equal(requests[0].lastEventId, null);
      const resumed = requests.slice(1).map((r) => r.lastEventId);
      assert.ok(resumed.every((id) => id === sseIds.get(4) || id === sseIds.get(5)), `resumed with ${JSON.stringify(resumed)}`);
      t.diagnostic(`reconnected with Last-Event-ID ${resumed.at(-1)} after ${requests.length - 1} attempt(s)`);
    } finally {
      source.close();
    }
  });
});
