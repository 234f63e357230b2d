// Measures, in a Chromium tab following the users collection of herald.js,
// how long a write takes to reach the page's `change` callback: 1,000 writes
// one at a time, each a PATCH sent by the page itself. Prints p50/p99/max of
//   - from the event's `at` (the write's time, taken in its transaction just
//     before the commit) to the callback: commit → callback, an upper bound;
//   - from sending the request to the callback: what a user of the page waits.
// Both clocks are this machine's. A benchmark, not a test: it asserts nothing.
//
//   node bench/client-latency.mjs [writes] [--postgres]
import { heraldBin, launchBrowser, withHerald } from '../harness.mjs';
import { clientContext, followInTab, openTab } from '../client-page.mjs';

const writes = Number(process.argv.find((arg) => /^\d+$/.test(arg)) ?? 1000);
const postgres = process.argv.includes('--postgres');

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function summary(label, values) {
  const sorted = [...values].sort((a, b) => a - b);
  const ms = (v) => `${v.toFixed(2)} ms`;
  return `${label.padEnd(30)} p50 ${ms(percentile(sorted, 50))}   p99 ${ms(percentile(sorted, 99))}   max ${ms(sorted.at(-1))}`;
}

const browser = await launchBrowser();
try {
  await withHerald(async (herald) => {
    const user = await herald.createUser({ user_name: 'latency', email: 'latency@example.com' });
    const context = await clientContext(browser, herald);
    const { page } = await openTab(context, herald);
    await followInTab(page);
    const samples = await page.evaluate(async ({ id, count }) => {
      const now = () => performance.timeOrigin + performance.now();
      const results = [];
      for (let n = 1; n <= count; n += 1) {
        let resolveChange;
        const changed = new Promise((resolve) => {
          resolveChange = resolve;
        });
        const off = window.users.on('change', (change) => {
          if (change.id === id && change.user.display_name === `Take ${n}`) resolveChange(now());
        });
        const sent = now();
        const response = await fetch(`/api/v1/users/${id}`, {
          method: 'PATCH',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ display_name: `Take ${n}` }),
        });
        if (!response.ok) throw new Error(`PATCH answered ${response.status}`);
        const answered = now();
        // `updated_at` has microseconds, which Date.parse drops.
        const stamp = (await response.json()).updated_at;
        const at = Date.parse(stamp) + Number(`0.${(/\.\d{3}(\d*)Z$/.exec(stamp)?.[1] ?? '') || '0'}`);
        const received = await changed;
        off();
        results.push({ fromCommit: received - at, fromRequest: received - sent, answered: answered - sent });
      }
      return results;
    }, { id: user.id, count: writes });
    await context.close();
    console.log(`herald.js: a write → its change callback in Chromium, ${writes} writes one at a time, ${postgres ? 'PostgreSQL' : 'SQLite'}, ${heraldBin}`);
    console.log(summary('write time (at) → callback', samples.map((s) => s.fromCommit)));
    console.log(summary('request sent → callback', samples.map((s) => s.fromRequest)));
    console.log(summary('request sent → response', samples.map((s) => s.answered)));
  }, { postgres });
} finally {
  await browser.close();
}
