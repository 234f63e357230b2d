// Waiting for what a test observes, without polling or sleeping: whatever
// records an observation calls `poke()`, and each pending `until` checks its
// condition again then.

export class Watch {
  #waiters = new Set();

  poke() {
    for (const check of [...this.#waiters]) check();
  }

  /** Resolves once `condition()` holds; rejects after `timeout` ms, saying `what` and `state()`. */
  until(condition, what, { timeout = 15_000, state = () => '' } = {}) {
    return new Promise((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      const check = () => {
        let held;
        try {
          held = condition();
        } catch (error) {
          finish();
          reject(error);
          return;
        }
        if (held) {
          finish();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeout} ms waiting for ${what} ${state()}`.trim()));
      }, timeout);
      this.#waiters.add(check);
      check();
    });
  }
}

/** Whether `ids` are exactly `from`, `from + 1`, …, `to`: no gap, no repeat, in order. */
export function consecutive(ids, from, to) {
  return ids.length === to - from + 1 && ids.every((id, index) => id === from + index);
}
