// A relay between a client under test and a herald server: it passes every
// request and response through unchanged, so that a test can see what the
// client sent (URL, headers) and when, and, with `{ tagIds }`, it puts a tag
// of its own in place of the server's in the stream's ids (`<n>.<TAG>`), to
// check that a client sends an id back exactly as it came, reading nothing
// into the tag.
import http from 'node:http';
import { once } from 'node:events';
import { Transform } from 'node:stream';

export const TAG = '9f3a01bc';

/** Rewrites `id: <n>.<tag>` lines to `id: <n>.<TAG>`, across chunk boundaries. */
function tagIdLines() {
  let partial = '';
  return new Transform({
    transform(chunk, _encoding, done) {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop();
      done(null, lines.map((line) => line.replace(/^(id: \d+)\.[0-9a-f]{8}$/, `$1.${TAG}`)).join('\n') + (lines.length ? '\n' : ''));
    },
    flush(done) {
      done(null, partial);
    },
  });
}

export class Relay {
  /**
   * Starts relaying to `herald` (on its port, whether or not it is running
   * at the moment). `onRequest(entry)` is called as each request arrives;
   * `beforeResponse(entry)`, awaited, before each response head is passed on.
   */
  static async start(herald, { tagIds = false, onRequest = () => {}, beforeResponse = async () => {} } = {}) {
    const relay = new Relay();
    relay.server = http.createServer((req, res) => relay.#pass(herald, req, res, { tagIds, onRequest, beforeResponse }));
    relay.server.listen(0, '127.0.0.1');
    await once(relay.server, 'listening');
    relay.url = `http://127.0.0.1:${relay.server.address().port}`;
    return relay;
  }

  constructor() {
    /** Every request: {method, url, headers, at (ms, performance.now()), status}. */
    this.requests = [];
  }

  /** The stream requests so far. */
  get streams() {
    return this.requests.filter((r) => r.url.startsWith('/api/sse/stream'));
  }

  #pass(herald, req, res, { tagIds, onRequest, beforeResponse }) {
    const entry = { method: req.method, url: req.url, headers: { ...req.headers }, at: performance.now(), status: null };
    this.requests.push(entry);
    onRequest(entry);
    const headers = { ...req.headers, host: `127.0.0.1:${herald.port}` };
    const resumeFrom = headers['last-event-id'];
    if (tagIds && resumeFrom !== undefined) {
      // The server knows its own tags only: it gets the number, which it trusts.
      entry.tagged = resumeFrom.endsWith(`.${TAG}`);
      headers['last-event-id'] = resumeFrom.split('.')[0];
    }
    const upstream = http.request({ host: '127.0.0.1', port: herald.port, method: req.method, path: req.url, headers }, async (response) => {
      entry.status = response.statusCode;
      try {
        await beforeResponse(entry);
      } catch (error) {
        entry.error = error;
      }
      res.writeHead(response.statusCode, response.headers);
      const stream = tagIds && /event-stream/.test(response.headers['content-type'] || '');
      (stream ? response.pipe(tagIdLines()) : response).pipe(res);
      response.on('error', () => res.destroy());
    });
    // Herald is down or went away: the client sees its connection fail.
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  }

  async close() {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}
