// Starts the real herald binary for a test: a free loopback port, a fresh
// SQLite file (or, with `{ postgres: true }`, a fresh PostgreSQL database),
// and stop/restart on the same port and database; with `{ tls: true }` it
// serves HTTPS (HTTP/2 and HTTP/1.1) with a self-signed certificate made for
// the test.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const heraldBin = process.env.HERALD_BIN || path.join(repoRoot, 'target', 'debug', 'herald');
export const artifactsDir = path.join(repoRoot, 'target', 'browser');

/** An admin URL of PostgreSQL, in which each test creates its own database. */
export const postgresAdminUrl = process.env.TEST_DATABASE_URL || null;

/**
 * The databases a test that concerns the database runs on: `options` for
 * `withHerald`, and `skip` (a reason) where the variant cannot run.
 */
export const databases = [
  { name: 'SQLite', options: {} },
  {
    name: 'PostgreSQL',
    options: { postgres: true },
    skip: postgresAdminUrl ? false : 'TEST_DATABASE_URL is not set, so the PostgreSQL variant does not run',
  },
];

/** Runs one SQL statement with `psql` on the admin database. */
function adminStatement(sql) {
  return new Promise((resolve, reject) => {
    execFile('psql', [postgresAdminUrl, '-qAtc', sql], { timeout: 30_000 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`psql ${sql}: ${error.message}\n${stderr}`));
      else resolve();
    });
  });
}

/** `postgresAdminUrl` with its database name replaced by `name`. */
function withDatabase(name) {
  const url = new URL(postgresAdminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 15_000;
const LOG_LINES_KEPT = 200;

/** A port nothing listens on right now. */
export async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * Writes a self-signed certificate for `localhost` and 127.0.0.1 (valid for a
 * day) and its key into `dir`; returns their paths.
 */
export async function makeCertificate(dir) {
  const certPath = path.join(dir, 'cert.pem');
  const keyPath = path.join(dir, 'key.pem');
  await new Promise((resolve, reject) => {
    execFile('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
      '-keyout', keyPath, '-out', certPath, '-days', '1',
      '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ], { timeout: 30_000 }, (error, _stdout, stderr) => {
      if (error) reject(new Error(`openssl could not make a certificate: ${error.message}\n${stderr}`));
      else resolve();
    });
  });
  return { certPath, keyPath };
}

export class Herald {
  /** Starts a server on a new port with a new database. */
  static async start(options = {}) {
    const herald = new Herald(options);
    herald.dir = await mkdtemp(path.join(os.tmpdir(), 'herald-browser-'));
    herald.dbPath = path.join(herald.dir, 'herald.db');
    herald.port = await freePort();
    try {
      if (herald.postgres) {
        herald.pgName = `herald_js_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
        await adminStatement(`create database ${herald.pgName}`);
      }
      if (herald.tls) {
        const { certPath, keyPath } = await makeCertificate(herald.dir);
        herald.certPath = certPath;
        herald.keyPath = keyPath;
        herald.ca = await readFile(certPath, 'utf8');
        // No keep-alive: a pooled socket would outlive a restart.
        herald.agent = new https.Agent({ ca: herald.ca, keepAlive: false });
      }
      await herald.start();
    } catch (error) {
      await herald.dispose();
      throw error;
    }
    return herald;
  }

  constructor({ env = {}, tls = false, token = null, postgres = false } = {}) {
    if (postgres && !postgresAdminUrl) throw new Error('a PostgreSQL server needs TEST_DATABASE_URL');
    this.extraEnv = env;
    /** On a database of its own in PostgreSQL (`pgName`), not on SQLite. */
    this.postgres = Boolean(postgres);
    this.pgName = null;
    /** The bearer token of this harness's own API calls (a secured server). */
    this.token = token;
    /** HTTPS with a self-signed certificate (`certPath`, `keyPath`, `ca`). */
    this.tls = Boolean(tls);
    this.certPath = null;
    this.keyPath = null;
    this.ca = null;
    this.agent = null;
    this.child = null;
    this.exited = null;
    this.logLines = [];
    this.starts = 0;
  }

  get baseUrl() {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  /** The database this server runs on, as DATABASE_URL names it. */
  get databaseUrl() {
    return this.postgres ? withDatabase(this.pgName) : `sqlite://${this.dbPath}?mode=rwc`;
  }

  /** Runs SQL in the database's own shell (`sqlite3`, `psql`), as an operator would. */
  sql(statements) {
    const [program, args] = this.postgres
      ? ['psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', withDatabase(this.pgName), '-c', statements]]
      : ['sqlite3', ['-bail', '-cmd', '.timeout 20000', this.dbPath, statements]];
    return new Promise((resolve, reject) => {
      execFile(program, args, { timeout: 30_000 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`${program} ${statements}: ${error.message}\n${stderr}`));
        else resolve(stdout);
      });
    });
  }

  /** Runs a `herald` command (`watch orders`, say) on this server's database. */
  cli(...args) {
    return new Promise((resolve, reject) => {
      execFile(heraldBin, args, { env: { ...process.env, DATABASE_URL: this.databaseUrl }, timeout: 30_000 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`herald ${args.join(' ')}: ${error.message}\n${stderr}`));
        else resolve(stdout);
      });
    });
  }

  url(pathAndQuery) {
    return new URL(pathAndQuery, this.baseUrl).toString();
  }

  get running() {
    return this.child !== null;
  }

  /** Starts (or starts again) on this server's port and database file. */
  async start() {
    if (this.child) throw new Error('herald is already running');
    this.starts += 1;
    const child = spawn(heraldBin, [], {
      cwd: this.dir,
      env: {
        ...process.env,
        DATABASE_URL: this.databaseUrl,
        BIND_ADDR: `127.0.0.1:${this.port}`,
        SSE_KEEP_ALIVE_SECS: '15',
        ...(this.tls ? { TLS_CERT_PATH: this.certPath, TLS_KEY_PATH: this.keyPath } : {}),
        ...this.extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    const keep = (stream, label) => {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop();
        for (const line of lines) this.#remember(`[${label}#${this.starts}] ${line.replace(/\x1b\[[0-9;]*m/g, '')}`);
      });
    };
    keep(child.stdout, 'out');
    keep(child.stderr, 'err');
    if (process.env.HERALD_TEST_LOG) {
      child.stdout.on('data', (chunk) => process.stderr.write(chunk));
      child.stderr.on('data', (chunk) => process.stderr.write(chunk));
    }
    const spawned = new Promise((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    try {
      await spawned;
      await this.#waitUntilReady();
    } catch (error) {
      await this.stop({ expectClean: false }).catch(() => {});
      throw new Error(`herald did not start: ${error.message}\n${this.logTail()}`);
    }
  }

  async #waitUntilReady() {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let exited = false;
    this.exited.then(() => {
      exited = true;
    });
    for (;;) {
      if (exited) throw new Error('the process exited during start-up');
      try {
        const response = await this.fetch('/readyz', { timeout: 2000 });
        if (response.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`no answer on ${this.baseUrl} within ${READY_TIMEOUT_MS} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** SIGTERM, then waits for the exit; returns {code, signal}. */
  async stop({ expectClean = true } = {}) {
    const child = this.child;
    if (!child) return null;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => resolve(null), STOP_TIMEOUT_MS);
    });
    let result = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (result === null) {
      child.kill('SIGKILL');
      result = await this.exited;
      this.child = null;
      throw new Error(`herald did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM\n${this.logTail()}`);
    }
    this.child = null;
    if (expectClean && (result.code !== 0 || result.signal !== null)) {
      throw new Error(`herald exited with ${JSON.stringify(result)} after SIGTERM\n${this.logTail()}`);
    }
    return result;
  }

  /** Empties the database of a stopped server: a new SQLite file, or a new PostgreSQL database. */
  async wipeDatabase() {
    if (this.child) throw new Error('stop herald before wiping its database');
    if (this.postgres) {
      await adminStatement(`drop database ${this.pgName} with (force)`);
      await adminStatement(`create database ${this.pgName}`);
      return;
    }
    for (const suffix of ['', '-wal', '-shm', '-journal']) await rm(this.dbPath + suffix, { force: true });
  }

  async restart() {
    await this.stop();
    await this.start();
  }

  /** Stops the server if needed and removes its database. */
  async dispose() {
    try {
      await this.stop({ expectClean: false });
    } finally {
      if (this.dir) await rm(this.dir, { recursive: true, force: true });
      if (this.pgName) await adminStatement(`drop database if exists ${this.pgName} with (force)`);
    }
  }

  #remember(line) {
    this.logLines.push(line);
    if (this.logLines.length > LOG_LINES_KEPT) this.logLines.shift();
  }

  logTail(lines = 40) {
    return `--- herald output (last ${lines} lines) ---\n${this.logLines.slice(-lines).join('\n')}`;
  }

  // ------------------------------------------------------------- the API

  /**
   * One request, read to the end: {status, headers (a Headers), text}. Over
   * HTTPS it goes through `node:https` trusting only this server's
   * certificate (HTTP/1.1: it offers no ALPN protocol); otherwise through
   * `fetch`. `timeout` (ms) bounds the whole request if given.
   */
  async fetch(pathAndQuery, { method = 'GET', headers = {}, body, timeout } = {}) {
    const url = this.url(pathAndQuery);
    if (this.token && !headers.Authorization) headers = { ...headers, Authorization: `Bearer ${this.token}` };
    if (!this.tls) {
      const signal = timeout === undefined ? undefined : AbortSignal.timeout(timeout);
      const response = await fetch(url, { method, headers, body, signal });
      return { status: response.status, headers: response.headers, text: await response.text() };
    }
    return new Promise((resolve, reject) => {
      const request = https.request(url, { method, headers, agent: this.agent }, (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const responseHeaders = new Headers();
          for (const [name, value] of Object.entries(response.headers)) {
            for (const one of Array.isArray(value) ? value : [value]) responseHeaders.append(name, one);
          }
          resolve({ status: response.statusCode, headers: responseHeaders, text: Buffer.concat(chunks).toString('utf8') });
        });
      });
      if (timeout !== undefined) {
        const timer = setTimeout(() => request.destroy(new Error(`${method} ${url}: no answer within ${timeout} ms`)), timeout);
        request.once('close', () => clearTimeout(timer));
      }
      request.on('error', reject);
      request.end(body);
    });
  }

  /**
   * The SSE ids (`<n>.<tag>`) that a stream from the start of the log gives
   * events 1 to `through` (those of the topics this harness's token grants):
   * a Map from each event's number to its id, to compare with the id a
   * client sent back.
   */
  streamIds(through, timeout = 10_000) {
    const headers = { Accept: 'text/event-stream', ...(this.token && { Authorization: `Bearer ${this.token}` }) };
    const ids = new Map();
    const complete = () => Math.max(0, ...ids.keys()) >= through;
    return new Promise((resolve, reject) => {
      const request = (this.tls ? https : http).get(this.url('/api/sse/stream?last_event_id=0'), { headers, agent: this.agent ?? undefined }, (response) => {
        if (response.statusCode !== 200) {
          request.destroy(new Error(`the stream answered ${response.statusCode}`));
          return;
        }
        let partial = '';
        response.setEncoding('utf8');
        response.on('data', (chunk) => {
          const lines = (partial + chunk).split('\n');
          partial = lines.pop();
          for (const line of lines) {
            if (!line.startsWith('id: ')) continue;
            const id = line.slice('id: '.length);
            ids.set(Number.parseInt(id, 10), id);
          }
          if (complete()) request.destroy();
        });
        response.on('error', () => {});
      });
      const timer = setTimeout(() => request.destroy(new Error(`no event ${through} on the stream within ${timeout} ms`)), timeout);
      let failure = null;
      request.on('error', (error) => {
        failure = error;
      });
      request.once('close', () => {
        clearTimeout(timer);
        if (complete()) resolve(ids);
        else reject(new Error(`the stream ended before event ${through} (${failure?.message ?? 'closed'}), having given ${JSON.stringify([...ids])}`));
      });
    });
  }

  /** The server's `sse_subscribers` gauge: the streams it holds. */
  async subscribers() {
    const { status, text } = await this.fetch('/metrics', { timeout: 5000 });
    const match = /^sse_subscribers (\d+)$/m.exec(text);
    if (status !== 200 || !match) throw new Error(`/metrics answered ${status} without sse_subscribers`);
    return Number(match[1]);
  }

  /**
   * Polls the gauge (a number only /metrics tells) until it reads `wanted`;
   * returns how long that took (ms).
   */
  async waitForSubscribers(wanted, timeout) {
    const started = Date.now();
    for (;;) {
      const seen = await this.subscribers();
      if (seen === wanted) return Date.now() - started;
      if (Date.now() - started > timeout) throw new Error(`sse_subscribers is ${seen}, not ${wanted}, after ${timeout} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async request(method, pathAndQuery, body) {
    const { status, headers, text } = await this.fetch(pathAndQuery, {
      method,
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status, headers, body: text ? JSON.parse(text) : null };
  }

  async #expect(status, method, pathAndQuery, body) {
    const response = await this.request(method, pathAndQuery, body);
    if (response.status !== status) {
      throw new Error(`${method} ${pathAndQuery} answered ${response.status}, not ${status}: ${JSON.stringify(response.body)}`);
    }
    return response.body;
  }

  createUser(user) {
    return this.#expect(201, 'POST', '/api/v1/users', user);
  }

  patchUser(id, patch) {
    return this.#expect(200, 'PATCH', `/api/v1/users/${id}`, patch);
  }

  deleteUser(id) {
    return this.#expect(204, 'DELETE', `/api/v1/users/${id}`);
  }

  listUsers(limit = 200) {
    return this.#expect(200, 'GET', `/api/v1/users?limit=${limit}`);
  }

  publish(notification) {
    return this.#expect(202, 'POST', '/api/v1/notifications', notification);
  }
}

/**
 * A token signed with `secret` by the `herald token` command itself:
 * `{sub, scope, topics, ttl}` as its options take them.
 */
export async function issueToken(secret, { sub, scope = '', topics = '', ttl = '1h' }) {
  return new Promise((resolve, reject) => {
    execFile(heraldBin, ['token', '--sub', sub, '--scope', scope, '--topics', topics, '--ttl', ttl], {
      env: { ...process.env, JWT_SECRET: secret },
      timeout: 10_000,
    }, (error, stdout, stderr) => {
      if (error) reject(new Error(`herald token failed: ${error.message}\n${stderr}`));
      else resolve(stdout.trim());
    });
  });
}

/**
 * Runs `fn` with a fresh server, adding the server's output to a failure and
 * removing the server and its database afterwards.
 */
export async function withHerald(fn, options) {
  const herald = await Herald.start(options);
  try {
    return await fn(herald);
  } catch (error) {
    if (error && typeof error === 'object' && typeof error.message === 'string') {
      error.message += `\n${herald.logTail()}`;
    }
    throw error;
  } finally {
    await herald.dispose();
  }
}

export async function ensureArtifactsDir() {
  await mkdir(artifactsDir, { recursive: true });
  return artifactsDir;
}

// ------------------------------------------------------------- the browser

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches Chromium; playwright-core gives it a fresh temporary profile. */
export async function launchBrowser() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

/**
 * A new browser context for `herald`; over HTTPS it accepts the server's
 * self-signed certificate.
 */
export async function newContext(browser, herald, { viewport = { width: 1280, height: 860 } } = {}) {
  return browser.newContext({ viewport, baseURL: herald.baseUrl, ignoreHTTPSErrors: herald.tls });
}

/**
 * A new page on `herald`'s page, collecting script errors so a test can
 * assert there were none: in a new context, or as another tab of `context`
 * (which the caller then closes).
 */
export async function openPage(browser, herald, { viewport, beforeGoto, context } = {}) {
  context ??= await newContext(browser, herald, { viewport });
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/Failed to load resource|net::ERR_|EventSource/.test(message.text())) {
      pageErrors.push(new Error(`console: ${message.text()}`));
    }
  });
  if (beforeGoto) await beforeGoto(page);
  await page.goto(herald.baseUrl + '/');
  return { page, context, pageErrors };
}

/** Waits for a live stream on the page. */
export async function waitForLive(page, timeout = 10_000) {
  await page.waitForFunction(
    () => document.querySelector('#connection-state')?.textContent.trim() === 'live',
    null,
    { timeout, polling: 'raf' },
  );
}

/** Waits until the page has applied events up to `id`. */
export async function waitForEventId(page, id, timeout = 10_000) {
  await page.waitForFunction(
    (wanted) => Number(document.querySelector('#last-event-id')?.textContent) >= wanted,
    id,
    { timeout, polling: 'raf' },
  );
}

export function rowSelector(id) {
  return `#users-body tr[data-user-id="${id}"]`;
}

export async function cellText(page, id, field) {
  return page.locator(`${rowSelector(id)} [data-field="${field}"]`).innerText();
}

/** Waits until a cell of a user's row reads `text`. */
export async function waitForCell(page, id, field, text, timeout = 10_000) {
  await page.waitForFunction(
    ([selector, wanted]) => document.querySelector(selector)?.textContent.trim() === wanted,
    [`${rowSelector(id)} [data-field="${field}"]`, text],
    { timeout, polling: 'raf' },
  );
}

export async function rowCount(page, id) {
  return page.locator(rowSelector(id)).count();
}
