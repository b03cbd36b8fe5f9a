// What the test drivers' WebSocket clients (tests/chaos/worker.mjs,
// tests/failover/failover.mjs) share: the frames of one connection in the
// order they came, its end, and a wait for whichever comes next.

export class Inbox {
  constructor() {
    this.queue = []; // frames not taken yet
    this.waiter = null;
    this.closeEvent = null; // {closed: true, code} once the connection closed
  }

  /** A frame came. */
  push(frame) {
    this.queue.push(frame);
    this.wake();
  }

  /** The connection closed with `code`. */
  finish(code) {
    this.closeEvent = { closed: true, code };
    this.wake();
  }

  wake() {
    const w = this.waiter;
    this.waiter = null;
    if (w) w();
  }

  /** The next frame, {closed, code} once closed, or {timeout} after ms. */
  async next(ms) {
    if (this.queue.length === 0 && !this.closeEvent) {
      let timer;
      await new Promise((resolve) => {
        this.waiter = resolve;
        timer = setTimeout(resolve, ms);
      });
      clearTimeout(timer);
      this.waiter = null;
    }
    if (this.queue.length > 0) return this.queue.shift();
    return this.closeEvent || { timeout: true };
  }
}
