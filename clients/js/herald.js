// herald.js: Herald's client. Live collections (users, and any table `herald
// watch` makes live) and topic subscriptions over one Server-Sent Events stream, read with fetch so that a token travels
// in a header, and shared by the tabs of an origin through a leader tab.
// One dependency-free ES module for browsers and Node >= 20; Herald serves
// this very file at /herald.js.

const STREAM = '/api/sse/stream';
const USERS = '/api/v1/users';
const TABLES = '/api/v1/tables/';
const MAX_DELAY = 30000;
// A stream that stayed open this long starts the backoff over.
const STAYED_UP = 10000;
// Frames the leader keeps, so that a consumer joining a little behind the
// stream (a new tab's snapshot, a reloaded one) is served without reopening it.
const RING = 256;
const TOPIC = /^(\*|[\w.:-]+(\/[\w.:-]+)*(\/\*)?)$/;

function emitter() {
  const sets = new Map();
  return {
    on(type, fn) {
      if (!sets.has(type)) sets.set(type, new Set());
      sets.get(type).add(fn);
      return () => sets.get(type).delete(fn);
    },
    emit(type, value) {
      for (const fn of [...(sets.get(type) || [])]) {
        try {
          fn(value);
        } catch (error) {
          // A listener's bug must neither break the stream nor go unseen.
          queueMicrotask(() => {
            throw error;
          });
        }
      }
    },
  };
}

/** Whether a topic pattern (`*`, `news/*`, `users`, `inbox/alice`) takes `topic`. */
const covers = (pattern, topic) =>
  pattern === '*' ||
  pattern === topic ||
  (pattern === 'users' ? topic.startsWith('users/') : pattern.endsWith('/*') && topic.startsWith(pattern.slice(0, -1)));

/**
 * One topic segment of any value, as Herald writes a live table's topics:
 * letters, digits, `-`, `.` and `:` as themselves, every other UTF-8 byte as
 * `_` and two upper-case hex digits, `''` as `_`, `null` as `_null`.
 */
export function topicSegment(value) {
  if (value === null || value === undefined) return '_null';
  const text = String(value);
  if (!text) return '_';
  let segment = '';
  for (const byte of new TextEncoder().encode(text)) {
    const c = String.fromCharCode(byte);
    segment += /[A-Za-z0-9.:-]/.test(c) ? c : `_${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return segment;
}

/** Keys in order: as numbers when both are, else as strings. */
const byKey = (a, b) => {
  const [x, y] = [Number(a), Number(b)];
  if (a !== '' && b !== '' && Number.isFinite(x) && Number.isFinite(y) && x !== y) return x - y;
  return a < b ? -1 : a > b ? 1 : 0;
};

/** The numeric part of an event id: `60` of `60` or of `60.9f3a01bc`. */
const seq = (id) => parseInt(id, 10);

/** A `Retry-After` in seconds, as milliseconds (0 when absent or a date). */
const retryAfter = (res) => (+res.headers.get('retry-after') || 0) * 1000;

export function connect({ url, token, shareAcrossTabs = true } = {}) {
  const origin = String(url || globalThis.location?.origin || '').replace(/\/+$/, '');
  if (!origin) throw new TypeError('herald: connect() needs { url } outside a browser');
  const name = `herald ${origin}`;
  const shared = shareAcrossTabs && globalThis.navigator?.locks && globalThis.BroadcastChannel;
  const tab = Math.random().toString(36).slice(2);
  const events = emitter();
  /** This tab's consumers: its users collection and subscriptions. */
  const mine = new Set();
  const sleeps = new Set();
  let status = 'connecting';
  let closed = false;
  let leading = !shared;
  let leader = null;
  let channel = null;
  let release = null;
  let bearer = null;
  let asked = 0;
  const collections = new Map();
  const readyChecks = new Set();
  const readyCheck = () => readyChecks.forEach((check) => check());

  // Where the stream stands, kept by every tab: the last frame's SSE id
  // (opaque: sent back as it came, as Last-Event-ID), or a number from a
  // snapshot or a reset (sent as ?last_event_id=).
  let pos = null;

  // The leader's stream.
  const topicsOf = new Map();
  let running = null;
  let ring = [];
  let base = null;
  let gen = 0;
  let abort = null;
  let timer = null;
  let fails = 0;
  let retry = 1000;
  let everLive = false;
  let authFailed = false;

  const post = (message) => channel?.postMessage({ ...message, by: tab });

  function sleep(ms) {
    return new Promise((resolve) => {
      const t = setTimeout(() => sleeps.delete(t) && resolve(), ms);
      sleeps.add(t);
    });
  }

  function setStatus(next) {
    if (status === next || closed) return;
    status = next;
    if (leading && next !== 'closed') post({ k: 'status', s: next });
    events.emit('status', next);
    readyCheck();
  }

  /** Headers that authenticate a request: a fresh token when asked to. */
  async function credentials(fresh) {
    if (!token) return {};
    if (fresh || bearer === null) bearer = await token();
    return { Authorization: `Bearer ${bearer}` };
  }

  // ------------------------------------------------------------ consumers

  /** Passes a frame to this tab's attached consumers, each once, in order. */
  function deliver(frame) {
    for (const c of mine) {
      if (!c.attached || frame.n <= c.last) continue;
      // The stream covers every topic of an attached consumer, so a frame of
      // another topic still proves that nothing before it is on its way.
      c.last = frame.n;
      if (c.topics.some((p) => covers(p, frame.data.topic))) c.frame(frame);
    }
  }

  function onReset(data) {
    pos = data.last_id;
    // Ids may have gone backwards (another database, or a rewound one):
    // every consumer goes on from the reset's id.
    for (const c of mine) {
      c.last = data.last_id;
      c.reset(data);
    }
  }

  /** Tells the leader what this tab follows, and from where its new consumers need events. */
  function need() {
    const all = [...mine];
    const froms = all.map((c) => c.last).filter((n) => n !== undefined);
    const message = {
      k: 'need',
      tab,
      topics: [...new Set(all.flatMap((c) => c.topics))],
      from: froms.length ? Math.min(...froms) : undefined,
      q: ++asked,
      fresh: all.some((c) => !c.attached),
    };
    for (const c of all) if (!c.attached) c.q = asked;
    // Every tab keeps what the others follow, for when it leads.
    post(message);
    if (leading) serve(message);
  }

  function attach(q) {
    for (const c of mine) if (!c.attached && c.q <= q) c.attached = true;
    readyCheck();
  }

  function detachAll() {
    for (const c of mine) c.attached = false;
    if (mine.size) need();
  }

  function add(c) {
    if (closed) throw new Error('herald: this connection is closed');
    mine.add(c);
    need();
  }

  // --------------------------------------------------------------- leader

  /** Serves a tab's new consumers: from the ring when the stream covers them, else by reopening it. */
  function serve({ tab: asker, topics, from, q, fresh }) {
    if (topics.length) topicsOf.set(asker, topics);
    else topicsOf.delete(asker);
    const wanted = [...new Set([...topicsOf.values()].flat())].sort();
    if (!wanted.length) return stop('connecting');
    if (!fresh) return;
    const ack = () => (asker === tab ? attach(q) : post({ k: 'ok', to: asker, q }));
    if (running && topics.every((t) => running.includes(t)) && base !== null && !(from < base)) {
      ack();
      if (from !== undefined) for (const frame of ring) if (frame.n > from) send(frame, asker);
      return post({ k: 'status', s: status });
    }
    const at = pos === null ? null : seq(pos);
    // Never start after a point that a consumer still needs.
    restart(wanted, from !== undefined && (at === null || from < at) ? from : pos);
    ack();
  }

  function restart(topics, start) {
    running = topics;
    pos = start;
    ring = [];
    base = start === null ? null : seq(start);
    authFailed = false;
    setStatus(everLive ? 'reconnecting' : 'connecting');
    reconnect(0);
  }

  function stop(next) {
    gen++;
    abort?.abort();
    clearTimeout(timer);
    running = null;
    setStatus(next);
  }

  function reconnect(delay) {
    abort?.abort();
    clearTimeout(timer);
    const g = ++gen;
    // Not a timer when there is no wait: a background tab's timers are throttled.
    if (delay) timer = setTimeout(() => run(g), delay);
    else queueMicrotask(() => run(g));
  }

  function backoff(atLeast = 0) {
    const d = Math.min(MAX_DELAY, retry * 2 ** fails++);
    setStatus(everLive ? 'reconnecting' : 'connecting');
    reconnect(Math.max(atLeast, d / 2 + (Math.random() * d) / 2));
  }

  /** Passes a frame on: to one tab (a replay), or to every tab. */
  function send(frame, to) {
    if (!to || to === tab) deliver(frame);
    if (to !== tab) post({ k: 'f', frame, to });
  }

  async function run(g) {
    if (g !== gen) return;
    let auth;
    try {
      auth = await credentials(true);
    } catch (error) {
      if (g !== gen) return;
      events.emit('error', { error });
      return stop('unauthorized');
    }
    if (g !== gen) return;
    const controller = (abort = new AbortController());
    const headers = { Accept: 'text/event-stream', ...auth };
    // Past the 32 topics a stream may name, it takes every topic the token
    // grants: each consumer still keeps to its own.
    const query = running.length > 32 ? [] : running.map((t) => `topic=${encodeURIComponent(t)}`);
    if (typeof pos === 'number') query.push(`last_event_id=${pos}`);
    else if (pos !== null) headers['Last-Event-ID'] = pos;
    let res;
    try {
      res = await fetch(`${origin}${STREAM}?${query.join('&')}`, { headers, signal: controller.signal, cache: 'no-store' });
      if (!res.ok) {
        const problem = await res.json().catch(() => ({}));
        if (g !== gen) return;
        events.emit('error', { status: res.status, ...problem.error });
        if (res.status === 401 && token && !authFailed) {
          // Asks token() again, once.
          authFailed = true;
          return reconnect(0);
        }
        if (res.status === 401 || res.status === 403) return stop('unauthorized');
        return backoff(retryAfter(res));
      }
    } catch (error) {
      if (g !== gen) return;
      events.emit('error', { error });
      return backoff();
    }
    const opened = Date.now();
    authFailed = false;
    everLive = true;
    setStatus('live');
    try {
      await read(res.body, g);
    } catch {
      // the connection broke: resume below
    }
    if (g !== gen) return;
    if (Date.now() - opened >= STAYED_UP) fails = 0;
    if (authFailed) return reconnect(0);
    backoff();
  }

  /** Reads `text/event-stream` until it ends, handling each event. */
  async function read(body, g) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let rest = '';
    let data = '';
    let type = '';
    let id = '';
    for (;;) {
      const { value: chunk, done } = await reader.read();
      if (done || g !== gen) return reader.cancel().catch(() => {});
      // A CR that ends a chunk may be the first half of a CRLF.
      const lines = (rest + chunk).split(/\r\n|\r(?!$)|\n/);
      rest = lines.pop();
      for (const line of lines) {
        if (g !== gen) return;
        if (!line) {
          if (data) handle(type || 'message', data.slice(0, -1), id);
          data = type = '';
          continue;
        }
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + (line[colon + 1] === ' ' ? 2 : 1));
        if (field === 'data') data += `${value}\n`;
        else if (field === 'event') type = value;
        else if (field === 'id' && !value.includes('\0')) id = value;
        else if (field === 'retry' && /^\d+$/.test(value)) retry = +value;
      }
    }
  }

  function handle(type, text, id) {
    // The stream ends after it; the next connection asks token() again.
    if (type === 'auth_expired') return (authFailed = true);
    let data;
    try {
      data = JSON.parse(text);
    } catch {
      return;
    }
    if (type === 'reset') {
      ring = [];
      base = data.last_id;
      post({ k: 'reset', data });
      return onReset(data);
    }
    const n = Number.isSafeInteger(data.id) ? data.id : seq(id);
    const frame = { id: id || String(n), n, name: type, data };
    pos = frame.id;
    if (base === null) base = n - 1;
    ring.push(frame);
    if (ring.length > RING) base = ring.shift().n;
    send(frame);
  }

  // ------------------------------------------------------------- sharing

  function onMessage({ data: m }) {
    if (closed) return;
    if (m.k === 'need') {
      if (leading) serve(m);
      else if (m.topics.length) topicsOf.set(m.tab, m.topics);
      else topicsOf.delete(m.tab);
      return;
    }
    if (m.k === 'lead') {
      // Frames from the new leader may not cover this tab's topics until it
      // has served them.
      leader = m.by;
      return detachAll();
    }
    // A tab that just stepped down may still have messages on their way.
    if (leading || (leader ??= m.by) !== m.by) return;
    if (m.k === 'ok' && m.to === tab) attach(m.q);
    else if (m.k === 'f' && (!m.to || m.to === tab)) {
      if (!m.to) pos = m.frame.id;
      deliver(m.frame);
    } else if (m.k === 'reset') onReset(m.data);
    else if (m.k === 'status') setStatus(m.s);
  }

  if (shared) {
    channel = new BroadcastChannel(name);
    channel.onmessage = onMessage;
    navigator.locks.request(name, () => {
      if (closed) return;
      leading = true;
      post({ k: 'lead' });
      detachAll();
      return new Promise((resolve) => (release = resolve));
    });
  }

  // ------------------------------------------------------- the collection

  /** A GET with this connection's credentials, retried until it answers 200. */
  async function getJson(path) {
    let renewed = false;
    for (let tries = 0; !closed; tries++) {
      let auth;
      try {
        auth = await credentials(renewed);
      } catch (error) {
        stop('unauthorized');
        throw error;
      }
      let res;
      try {
        res = await fetch(origin + path, { headers: { Accept: 'application/json', ...auth }, cache: 'no-store' });
      } catch {
        await sleep(Math.min(MAX_DELAY, retry * 2 ** tries));
        continue;
      }
      if (res.ok) return res.json();
      if (res.status === 401 && token && !renewed) {
        renewed = true;
        continue;
      }
      if (res.status === 401 || res.status === 403) {
        stop('unauthorized');
        throw new Error(`herald: ${res.status} for ${path}`);
      }
      await sleep(Math.max(retryAfter(res), Math.min(MAX_DELAY, retry * 2 ** tries)));
    }
    throw new Error('herald: closed');
  }

  /**
   * A live collection: a snapshot paged from `path`, then the events of
   * `topics` from the snapshot's `last_event_id`, each applied by `apply`
   * (which returns the change to tell, or nothing); refetched after a reset.
   * `page(body, put)` puts a snapshot page's items by their keys.
   */
  function collection(id, { path, topics, page, apply, order }) {
    if (collections.has(id)) return collections.get(id);
    const own = emitter();
    let items = new Map();
    let loads = 0;
    let settle;
    let fail;
    const ready = new Promise((resolve, reject) => {
      settle = resolve;
      fail = reject;
    });
    // Awaiting it is optional: a rejection nobody awaits is not an error.
    ready.catch(() => {});
    const c = {
      topics,
      attached: false,
      last: undefined,
      frame(frame) {
        const change = apply(items, frame);
        if (change) own.emit('change', { ...change, eventId: frame.n });
      },
      reset: () => load(),
    };
    readyChecks.add(() => {
      if (c.attached && status === 'live') settle();
      if (status === 'unauthorized' || status === 'closed') fail(new Error(`herald: ${status}`));
    });

    async function load() {
      const current = ++loads;
      c.attached = false;
      try {
        const snapshot = new Map();
        let from;
        let cursor = '';
        do {
          const separator = path.includes('?') ? '&' : '?';
          const body = await getJson(`${path}${separator}limit=200${cursor && `&cursor=${encodeURIComponent(cursor)}`}`);
          // The first page's id: later pages being newer only means that
          // some changes replayed after it are already there.
          from ??= body.last_event_id;
          page(body, (key, item) => snapshot.set(key, item));
          cursor = body.next_cursor;
        } while (cursor);
        if (current !== loads || closed) return;
        items = snapshot;
        c.last = from;
        if (!mine.has(c)) return add(c);
        need();
        own.emit('reset');
      } catch (error) {
        fail(error);
        events.emit('error', { error });
      }
    }
    load();

    const live = {
      ready,
      all: () => [...items.entries()].sort(([a], [b]) => order(a, b)).map(([, item]) => item),
      get: (key) => items.get(String(key)),
      on: own.on,
      /** The newest event id this collection reflects. */
      get lastEventId() {
        return c.last;
      },
    };
    collections.set(id, live);
    return live;
  }

  function users() {
    return collection('users', {
      path: USERS,
      topics: ['users'],
      page: (body, put) => body.items.forEach((user) => put(user.id, user)),
      apply(items, { data: { event, data } }) {
        const type = event.replace(/^user_/, '');
        const id = data.user_id;
        const held = items.get(id);
        if (type === 'deleted') {
          if (!items.delete(id)) return;
        } else if (!data.user || (held && held.version >= data.user.version)) return;
        else items.set(id, data.user);
        return { type, id, user: data.user || null };
      },
      order: (a, b) => (a < b ? -1 : a > b ? 1 : 0),
    });
  }

  function table(name, { scope } = {}) {
    if (typeof name !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new TypeError(`herald: not a table name: ${name}`);
    }
    const segment = scope === undefined ? undefined : topicSegment(scope);
    return collection(`table ${name} ${segment ?? ''}`, {
      path: `${TABLES}${name}${segment === undefined ? '' : `?scope=${encodeURIComponent(segment)}`}`,
      topics: [segment === undefined ? `${name}/*` : `${name}/${segment}/*`],
      page: (body, put) => body.items.forEach((row, i) => put(body.keys[i], row)),
      apply(items, { data: { event, data } }) {
        if (data.table !== name) return;
        const type = event.replace(/^row_/, '');
        if (type === 'deleted') {
          if (!items.delete(data.key)) return;
        } else items.set(data.key, data.row);
        return { type, key: data.key, row: data.row };
      },
      order: byKey,
    });
  }

  function subscribe(topics, callback, { lastEventId } = {}) {
    topics = [].concat(topics);
    for (const t of topics) {
      if (typeof t !== 'string' || t.length > 200 || !TOPIC.test(t)) throw new TypeError(`herald: not a topic: ${t}`);
    }
    // Without a resume point: after what this tab has seen so far.
    const after = lastEventId ?? pos;
    const c = {
      topics,
      attached: false,
      last: after === null ? undefined : seq(after) || 0,
      frame: (frame) => callback(frame.data, frame.name),
      reset: (data) => callback(data, 'reset'),
    };
    add(c);
    return {
      close() {
        if (mine.delete(c) && !closed) need();
      },
    };
  }

  function close() {
    if (closed) return;
    mine.clear();
    need();
    stop('closed');
    closed = true;
    for (const t of sleeps) clearTimeout(t);
    release?.();
    channel?.close();
  }

  return {
    get status() {
      return status;
    },
    on: events.on,
    users,
    table,
    subscribe,
    close,
  };
}
