// herald.js in Node, against the real binary: the users collection follows
// every write once and in order from its snapshot on, across restarts and
// resets; tokens travel in a header and are renewed; refusals are waited out.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { connect } from '../../clients/js/herald.js';
import { databases, issueToken, withHerald } from './harness.mjs';
import { Relay, TAG } from './relay.mjs';
import { Watch, consecutive } from './watch.mjs';

/** A short `retry:`, so that reconnects in these tests take milliseconds. */
const FAST = { SSE_RETRY_MS: '100' };
const SECRET = 'client-test-secret-0123456789-abcdefghijkl';

/** A client on `url` following the users collection, with what it reported. */
function follow(url, watch, options = {}) {
  const client = connect({ url, ...options });
  const seen = { client, statuses: [], changes: [], resets: 0, errors: [] };
  client.on('status', (status) => {
    seen.statuses.push(status);
    watch.poke();
  });
  client.on('error', (error) => seen.errors.push(error));
  seen.users = client.users();
  seen.users.on('change', (change) => {
    seen.changes.push(change);
    watch.poke();
  });
  seen.users.on('reset', () => {
    seen.resets += 1;
    watch.poke();
  });
  seen.ids = () => seen.changes.map((c) => c.eventId);
  seen.state = () => `(status ${client.status}, event ids ${JSON.stringify(seen.ids())})`;
  return seen;
}

/** A relay in front of `herald` whose requests poke `watch`, noting the client's last event id at each. */
async function relayTo(herald, watch, seen, options = {}) {
  return Relay.start(herald, {
    ...options,
    onRequest: (entry) => {
      entry.lastSeen = seen()?.users.lastEventId;
      watch.poke();
    },
    beforeResponse: async (entry) => {
      await options.beforeResponse?.(entry);
      watch.poke();
    },
  });
}

for (const db of databases) {
  describe(`herald.js in Node on ${db.name}`, { skip: db.skip }, () => {
    it('follows 100 writes from its snapshot on: every change once, in order', async () => {
      await withHerald(async (herald) => {
        const before = [];
        for (const n of [1, 2, 3]) before.push(await herald.createUser({ user_name: `before${n}`, email: `before${n}@example.com` }));
        const watch = new Watch();
        const f = follow(herald.baseUrl, watch);
        try {
          await f.users.ready;
          assert.equal(f.client.status, 'live');
          assert.deepEqual(f.users.all(), before);
          assert.equal(f.users.get(before[1].id).user_name, 'before2');
          assert.equal(f.users.lastEventId, 3);

          const expected = [];
          const present = [...before];
          for (let i = 0; i < 100; i += 1) {
            if (i % 5 === 4) {
              const gone = present.shift();
              await herald.deleteUser(gone.id);
              expected.push(['deleted', gone.id, null]);
            } else if (i % 2) {
              const target = present[i % present.length];
              const updated = await herald.patchUser(target.id, { display_name: `Take ${i}` });
              expected.push(['updated', target.id, updated.version]);
            } else {
              const created = await herald.createUser({ user_name: `user${i}`, email: `user${i}@example.com` });
              present.push(created);
              expected.push(['created', created.id, 1]);
            }
          }
          // One more write is a barrier: nothing before it is still on its way.
          const last = await herald.createUser({ user_name: 'barrier', email: 'barrier@example.com' });
          expected.push(['created', last.id, 1]);
          await watch.until(() => f.changes.length >= 101, '101 changes', { state: f.state });

          assert.ok(consecutive(f.ids(), 4, 104), f.state());
          assert.deepEqual(f.changes.map((c) => [c.type, c.id, c.user?.version ?? null]), expected);
          assert.deepEqual(f.users.all(), (await herald.listUsers()).items);
          assert.equal(f.users.lastEventId, 104);
          assert.deepEqual(f.statuses, ['live']);
          assert.equal(f.resets, 0);
        } finally {
          f.client.close();
        }
        assert.equal(f.client.status, 'closed');
      }, { ...db.options, env: FAST });
    });

    it('resumes from its last id after the server restarts: nothing lost, nothing twice', async () => {
      await withHerald(async (herald) => {
        const watch = new Watch();
        let f = null;
        const relay = await relayTo(herald, watch, () => f);
        const ada = await herald.createUser({ user_name: 'ada', email: 'ada@example.com' });
        f = follow(relay.url, watch, { shareAcrossTabs: false });
        try {
          await f.users.ready;
          for (const n of [1, 2, 3]) await herald.patchUser(ada.id, { display_name: `Ada ${n}` });
          await watch.until(() => f.users.lastEventId === 4, 'event 4', { state: f.state });
          // Written right before SIGTERM: it comes live, or from the log after the restart.
          await herald.createUser({ user_name: 'lastminute', email: 'lastminute@example.com' });
          await herald.stop();
          await watch.until(() => f.client.status === 'reconnecting', 'the client to notice', { state: f.state });
          await herald.start();
          await herald.patchUser(ada.id, { email: 'ada.after@example.com' });
          await herald.deleteUser(ada.id);
          await herald.createUser({ user_name: 'afterwards', email: 'afterwards@example.com' });
          await watch.until(() => f.users.lastEventId === 8 && f.client.status === 'live', 'event 8', { state: f.state });

          assert.ok(consecutive(f.ids(), 2, 8), f.state());
          assert.deepEqual(f.users.all(), (await herald.listUsers()).items);
          assert.equal(f.resets, 0);
          const [first, ...resumed] = relay.streams;
          assert.equal(new URL(first.url, relay.url).searchParams.get('last_event_id'), '1');
          assert.equal(first.headers['last-event-id'], undefined);
          assert.ok(resumed.length >= 1, 'no reconnect');
          const sent = await herald.streamIds(8);
          for (const request of resumed) {
            assert.ok(sent.has(request.lastSeen), `resumed having seen event ${request.lastSeen}`);
            assert.equal(request.headers['last-event-id'], sent.get(request.lastSeen));
          }
        } finally {
          f.client.close();
          await relay.close();
        }
      }, { ...db.options, env: FAST });
    });

    it('refetches its snapshot when the server comes back with an empty database', async () => {
      await withHerald(async (herald) => {
        const watch = new Watch();
        await herald.createUser({ user_name: 'forgotten', email: 'forgotten@example.com' });
        await herald.createUser({ user_name: 'forgotten2', email: 'forgotten2@example.com' });
        const f = follow(herald.baseUrl, watch);
        const pushed = [];
        try {
          await f.users.ready;
          assert.equal(f.users.all().length, 2);
          // A subscription on the same stream has no snapshot: it is told, and goes on from the reset's id.
          f.client.subscribe(['broadcast'], (data, name) => {
            pushed.push(name === 'reset' ? ['reset', data.reason, data.last_id] : [name, data.id, data.data]);
            watch.poke();
          });
          await herald.publish({ topic: 'broadcast', data: 'before' });
          await watch.until(() => pushed.length === 1, 'the first notification', { state: () => JSON.stringify(pushed) });
          await herald.stop();
          await herald.wipeDatabase();
          await herald.start();
          // Its id 2 is unknown there: `reset`, a new snapshot, then on from 0.
          await watch.until(() => f.resets === 1 && f.client.status === 'live', 'the reset', { state: f.state });
          assert.deepEqual(f.users.all(), []);
          assert.equal(f.users.lastEventId, 0);
          const fresh = await herald.createUser({ user_name: 'fresh', email: 'fresh@example.com' });
          await watch.until(() => f.changes.length === 1, 'the new database\'s first event', { state: f.state });
          assert.deepEqual(f.changes.map((c) => [c.type, c.id, c.eventId]), [['created', fresh.id, 1]]);
          assert.deepEqual(f.users.all(), [fresh]);
          await herald.publish({ topic: 'broadcast', data: 'after' });
          await watch.until(() => pushed.length === 3, 'the notification after the reset', { state: () => JSON.stringify(pushed) });
          assert.deepEqual(pushed, [['message', 3, 'before'], ['reset', 'unknown', 0], ['message', 2, 'after']]);
        } finally {
          f.client.close();
        }
      }, { ...db.options, env: FAST });
    });
  });
}

describe('herald.js in Node', () => {
  it('streams from exactly the snapshot\'s last_event_id: a write between the two shows once', async () => {
    await withHerald(async (herald) => {
      const watch = new Watch();
      const early = await herald.createUser({ user_name: 'early', email: 'early@example.com' });
      let racer = null;
      let f = null;
      const relay = await relayTo(herald, watch, () => f, {
        beforeResponse: async (entry) => {
          if (entry.method === 'GET' && entry.url.startsWith('/api/v1/users') && racer === null) {
            // The list is taken; this write lands before the client sees it.
            racer = await herald.createUser({ user_name: 'racer', email: 'racer@example.com' });
          }
        },
      });
      f = follow(relay.url, watch);
      try {
        await f.users.ready;
        await watch.until(() => f.changes.length === 1, 'the racer', { state: f.state });
        const later = await herald.createUser({ user_name: 'later', email: 'later@example.com' });
        await watch.until(() => f.changes.length === 2, 'the later write', { state: f.state });
        assert.deepEqual(f.changes.map((c) => [c.type, c.id, c.eventId]), [['created', racer.id, 2], ['created', later.id, 3]]);
        assert.deepEqual(f.users.all().map((u) => u.id), [early.id, racer.id, later.id]);
        assert.equal(relay.streams.length, 1);
        assert.equal(new URL(relay.streams[0].url, relay.url).searchParams.get('last_event_id'), '1');
      } finally {
        f.client.close();
        await relay.close();
      }
    });
  });

  it('sends a stream id back exactly as it came (`<n>.<tag>`), and counts by its number', async () => {
    await withHerald(async (herald) => {
      const watch = new Watch();
      let f = null;
      const relay = await relayTo(herald, watch, () => f, { tagIds: true });
      const ada = await herald.createUser({ user_name: 'ada', email: 'ada@example.com' });
      f = follow(relay.url, watch);
      try {
        await f.users.ready;
        await herald.patchUser(ada.id, { display_name: 'Ada' });
        await watch.until(() => f.users.lastEventId === 2, 'event 2', { state: f.state });
        await herald.restart();
        await herald.patchUser(ada.id, { display_name: 'Ada Again' });
        await watch.until(() => f.users.lastEventId === 3 && f.client.status === 'live', 'event 3', { state: f.state });
        assert.deepEqual(f.ids(), [2, 3]);
        const resumed = relay.streams.slice(1);
        assert.ok(resumed.length >= 1, 'no reconnect');
        for (const request of resumed) {
          assert.equal(request.headers['last-event-id'], `${request.lastSeen}.${TAG}`);
          assert.equal(request.tagged, true);
        }
      } finally {
        f.client.close();
        await relay.close();
      }
    }, { env: FAST });
  });

  it('renews a token that expires mid-stream and goes on without a gap', async () => {
    const admin = await issueToken(SECRET, { sub: 'admin', scope: 'users:read users:write', topics: '*' });
    await withHerald(async (herald) => {
      const watch = new Watch();
      const issued = [];
      // The snapshot's and the first stream's tokens live one second (and
      // the leeway); the stream then ends with `auth_expired`.
      const token = async () => {
        const ttl = issued.length < 2 ? '1s' : '1h';
        issued.push(await issueToken(SECRET, { sub: 'reader', scope: 'users:read', topics: 'users/*', ttl }));
        watch.poke();
        return issued.at(-1);
      };
      let f = null;
      const relay = await relayTo(herald, watch, () => f);
      const ada = await herald.createUser({ user_name: 'ada', email: 'ada@example.com' });
      f = follow(relay.url, watch, { token });
      try {
        await f.users.ready;
        // Writes back to back until the stream has been renewed, then one more.
        let writes = 0;
        let renewed = false;
        const writer = (async () => {
          while (!renewed) await herald.patchUser(ada.id, { display_name: `Take ${(writes += 1)}` });
        })();
        try {
          await watch.until(() => relay.streams.length === 2 && relay.streams[1].status === 200, 'the renewed stream', {
            timeout: 20_000,
            state: f.state,
          });
        } finally {
          renewed = true;
          await writer;
        }
        await herald.patchUser(ada.id, { display_name: 'Last' });
        await watch.until(() => f.users.lastEventId === writes + 2, `event ${writes + 2}`, { state: f.state });

        assert.ok(consecutive(f.ids(), 2, writes + 2), f.state());
        assert.equal(issued.length, 3);
        const [first, second] = relay.streams;
        assert.equal(first.headers.authorization, `Bearer ${issued[1]}`);
        assert.equal(second.headers.authorization, `Bearer ${issued[2]}`);
        assert.equal(second.headers['last-event-id'], (await herald.streamIds(second.lastSeen)).get(second.lastSeen));
        assert.ok(!f.statuses.includes('unauthorized'), f.state());
        for (const request of relay.requests) {
          assert.ok(!request.url.includes('access_token') && issued.every((t) => !request.url.includes(t)), request.url);
        }
      } finally {
        f.client.close();
        await relay.close();
      }
    }, { env: { ...FAST, JWT_SECRET: SECRET }, token: admin });
  });

  it('stops as unauthorized when the renewed token is refused too, or token() fails', async () => {
    await withHerald(async (herald) => {
      const watch = new Watch();
      const relay = await relayTo(herald, watch, () => null);
      let calls = 0;
      const forged = async () => {
        calls += 1;
        return issueToken('some-other-secret-0123456789-abcdefghijkl', { sub: 'mallory', topics: 'broadcast' });
      };
      const client = connect({ url: relay.url, token: forged });
      client.on('status', () => watch.poke());
      try {
        client.subscribe(['broadcast'], () => {});
        await watch.until(() => client.status === 'unauthorized', 'unauthorized', { state: () => client.status });
        assert.equal(calls, 2, 'token() is asked again once after a 401');
        assert.deepEqual(relay.streams.map((r) => r.status), [401, 401]);
      } finally {
        client.close();
      }

      const failing = connect({ url: relay.url, token: async () => { throw new Error('no token today'); } });
      try {
        await assert.rejects(failing.users().ready, /unauthorized/);
        assert.equal(failing.status, 'unauthorized');
      } finally {
        failing.close();
        await relay.close();
      }
      // Neither client tried again.
      assert.equal(relay.streams.length, 2);
    }, { env: { ...FAST, JWT_SECRET: SECRET } });
  });

  it('waits the Retry-After of a refused stream before trying again', async () => {
    await withHerald(async (herald) => {
      const alice = await issueToken(SECRET, { sub: 'alice', topics: 'broadcast' });
      // Alice's one allowed stream is taken: hers is refused with 429 and Retry-After: 5.
      const hold = new AbortController();
      const held = await fetch(herald.url('/api/sse/stream'), { headers: { Authorization: `Bearer ${alice}` }, signal: hold.signal });
      assert.equal(held.status, 200);
      const watch = new Watch();
      const relay = await relayTo(herald, watch, () => null);
      const client = connect({ url: relay.url, token: async () => alice });
      client.on('status', () => watch.poke());
      try {
        client.subscribe(['broadcast'], () => {});
        await watch.until(() => relay.streams[0]?.status === 429, 'the refusal');
        hold.abort();
        await watch.until(() => client.status === 'live', 'the stream', { timeout: 20_000 });
        const [refused, admitted] = relay.streams;
        // Without Retry-After the client would retry after its own backoff, 0.5 to 1 s.
        const waited = admitted.at - refused.at;
        assert.ok(waited >= 5000 - 25, `retried after ${waited} ms`);
        assert.equal(admitted.status, 200);
        assert.equal(relay.streams.length, 2);
      } finally {
        client.close();
        await relay.close();
      }
    }, { env: { ...FAST, JWT_SECRET: SECRET, MAX_STREAMS_PER_SUBJECT: '1' } });
  });

  it('follows more topics than a stream may name (32) through one stream of every topic', async () => {
    await withHerald(async (herald) => {
      const watch = new Watch();
      const relay = await relayTo(herald, watch, () => null);
      const client = connect({ url: relay.url });
      client.on('status', () => watch.poke());
      const got = [];
      try {
        for (let n = 0; n < 33; n += 1) {
          client.subscribe([`rooms/${n}`], (envelope) => {
            got.push([n, envelope.topic]);
            watch.poke();
          });
        }
        await watch.until(() => client.status === 'live', 'the stream');
        await herald.publish({ topic: 'rooms/40', data: 0 });
        await herald.publish({ topic: 'rooms/32', data: 1 });
        await herald.publish({ topic: 'rooms/3', data: 2 });
        await watch.until(() => got.length === 2, 'two events', { state: () => JSON.stringify(got) });
        assert.deepEqual(got, [[32, 'rooms/32'], [3, 'rooms/3']]);
        const last = relay.streams.at(-1);
        assert.equal(last.status, 200);
        assert.equal(new URL(last.url, relay.url).searchParams.getAll('topic').length, 0);
      } finally {
        client.close();
        await relay.close();
      }
    }, { env: FAST });
  });

  it('subscribes to topics: their events only, by name, and resumes after lastEventId', async () => {
    await withHerald(async (herald) => {
      const watch = new Watch();
      const client = connect({ url: herald.baseUrl });
      client.on('status', () => watch.poke());
      try {
        assert.throws(() => client.subscribe(['news/'], () => {}), TypeError);
        const got = [];
        const sub = client.subscribe(['inbox/alice', 'news/*'], (envelope, name) => {
          got.push([envelope.id, envelope.topic, name]);
          watch.poke();
        });
        await watch.until(() => client.status === 'live', 'the stream');
        await herald.publish({ topic: 'inbox/bob', event: 'psh', data: 1 });
        await herald.publish({ topic: 'inbox/alice', event: 'psh', data: 2 });
        await herald.publish({ topic: 'news/sports', data: 3 });
        await herald.publish({ topic: 'broadcast', data: 4 });
        await herald.publish({ topic: 'news', data: 5 });
        await herald.publish({ topic: 'news/sports/cycling', event: 'psh', data: 6 });
        await watch.until(() => got.length === 3, 'three events', { state: () => JSON.stringify(got) });
        assert.deepEqual(got, [[2, 'inbox/alice', 'psh'], [3, 'news/sports', 'message'], [6, 'news/sports/cycling', 'psh']]);
        sub.close();

        const again = [];
        client.subscribe(['broadcast', 'inbox/alice'], (envelope, name) => {
          again.push([envelope.id, envelope.data, name]);
          watch.poke();
        }, { lastEventId: 1 });
        await herald.publish({ topic: 'broadcast', data: 7 });
        await watch.until(() => again.length === 3, 'the replay and event 7', { state: () => JSON.stringify(again) });
        assert.deepEqual(again, [[2, 2, 'psh'], [4, 4, 'message'], [7, 7, 'message']]);
        assert.deepEqual(got.length, 3, 'a closed subscription gets nothing more');

        // A subscription from further back reopens the stream from there; the
        // one already following sees nothing twice.
        const history = [];
        client.subscribe(['broadcast'], (envelope) => {
          history.push(envelope.id);
          watch.poke();
        }, { lastEventId: 0 });
        await herald.publish({ topic: 'broadcast', data: 8 });
        await watch.until(() => history.length === 3 && again.length === 4, 'event 8 on both', {
          state: () => JSON.stringify({ again, history }),
        });
        assert.deepEqual(history, [4, 7, 8]);
        assert.deepEqual(again.map(([id]) => id), [2, 4, 7, 8]);
      } finally {
        client.close();
      }
    }, { env: FAST });
  });
});
