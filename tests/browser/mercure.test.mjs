// Herald as a Mercure hub, spoken to by the clients Mercure users have:
// Symfony's own Mercure component publishes (unchanged, as Debian packages
// it), and a plain EventSource in Chromium subscribes, anonymously for
// public updates and with a subscriber token in the `authorization` query
// parameter for private ones.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import { databases, launchBrowser, openPage, withHerald } from './harness.mjs';

const KEY = 'a-mercure-hub-key-of-at-least-32-bytes';
const HUB = {
  MERCURE_PUBLISHER_JWT_KEY: KEY,
  MERCURE_ANONYMOUS: '1',
};
const PUBLISH_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'mercure', 'symfony-publish.php');
const RECEIVED_MS = 10_000;

/**
 * Why the Symfony publisher cannot run here, or false. `.ci/run` installs
 * it and sets HERALD_REQUIRE_FAULT_TOOLS, which makes a missing one fail.
 */
function symfonyMissing() {
  const missing = (() => {
    try {
      execFileSync('php', ['--version'], { stdio: 'ignore' });
    } catch {
      return 'php is not installed (apt-get install php-cli)';
    }
    return existsSync('/usr/share/php/Symfony/Component/Mercure/autoload.php')
      ? false
      : "Symfony's Mercure component is not installed (apt-get install php-symfony-mercure)";
  })();
  if (missing && process.env.HERALD_REQUIRE_FAULT_TOOLS) throw new Error(missing);
  return missing;
}
const SYMFONY_MISSING = symfonyMissing();

/** An HS256 JWT with the `mercure` claim, signed with the hub's key. */
function mercureToken(claim) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part({ mercure: claim })}`;
  return `${unsigned}.${createHmac('sha256', KEY).update(unsigned).digest('base64url')}`;
}

/** Publishes through Symfony's component; the id the hub answered. */
function symfonyPublish(hubUrl, { topic, data, id = '', isPrivate = false }) {
  const jwt = mercureToken({ publish: ['*'] });
  const args = [PUBLISH_SCRIPT, hubUrl, jwt, topic, data, id, isPrivate ? '1' : '0'];
  return new Promise((resolve, reject) => {
    execFile('php', args, { timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`symfony publish failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
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

describe('Herald as a Mercure hub', () => {
  for (const database of databases) {
    it(`takes Symfony's publishes to plain EventSources (${database.name})`, { skip: database.skip || SYMFONY_MISSING }, async () => {
      await withHerald(async (herald) => {
        const { page, context } = await openPage(browser, herald);
        try {
          const selector = 'https://example.com/books/{id}';
          const subscriber = mercureToken({ subscribe: [selector] });
          // Two EventSources, as a front-end opens them: no credential, and
          // a subscriber token in the query string (EventSource cannot send
          // headers). Both report what they receive, and when they are open.
          await page.evaluate(async ({ selector, subscriber }) => {
            const open = (name, query) => new Promise((resolve, reject) => {
              const source = new EventSource(`/.well-known/mercure?${query}`);
              window.received ??= {};
              window.received[name] = [];
              source.onmessage = (event) => {
                window.received[name].push({ id: event.lastEventId, data: event.data, type: event.type });
              };
              source.onopen = () => resolve();
              source.onerror = () => reject(new Error(`${name} failed to open`));
            });
            const topic = `topic=${encodeURIComponent(selector)}`;
            await open('anonymous', topic);
            await open('authorized', `${topic}&authorization=${encodeURIComponent(subscriber)}`);
          }, { selector, subscriber });

          const hubUrl = herald.url('/.well-known/mercure');
          const publicId = await symfonyPublish(hubUrl, {
            topic: 'https://example.com/books/1',
            data: '{"title":"Dune"}\n{"second":"line"}',
            id: 'urn:example:public-1',
          });
          assert.equal(publicId, 'urn:example:public-1', 'the hub answers the id the publisher chose');
          const privateId = await symfonyPublish(hubUrl, {
            topic: 'https://example.com/books/2',
            data: 'for subscribers only',
            isPrivate: true,
          });
          assert.match(privateId, /^urn:uuid:[0-9a-f-]{36}$/, 'an id is made when the publisher gives none');
          // A last public update: once the anonymous EventSource has it, it
          // would have had the private one before it, had it leaked.
          await symfonyPublish(hubUrl, { topic: 'https://example.com/books/3', data: 'last', id: 'last' });

          await page.waitForFunction(
            () => window.received.authorized.length === 3 && window.received.anonymous.length === 2,
            null,
            { timeout: RECEIVED_MS },
          );
          const received = await page.evaluate(() => window.received);
          assert.deepEqual(received.authorized, [
            { id: 'urn:example:public-1', data: '{"title":"Dune"}\n{"second":"line"}', type: 'message' },
            { id: privateId, data: 'for subscribers only', type: 'message' },
            { id: 'last', data: 'last', type: 'message' },
          ]);
          assert.deepEqual(received.anonymous.map((update) => update.id), ['urn:example:public-1', 'last']);
        } finally {
          await context.close();
        }
      }, { ...database.options, env: HUB });
    });
  }
});
