// The loop behind every outbox (platform/outbox.ts): run a pass, and when it found less
// than a full batch, sleep until the next poll — or until `wake()`, which a writer calls
// right after committing work so it goes out now rather than at the next tick.
import { log } from "./logger.js";

export class PollingLoop {
  private stopped = true;
  private running: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private pendingWake = false;

  /** `pass` returns how many items it handled; a full batch means "run again at once". */
  constructor(
    private readonly name: string,
    private readonly pollMs: number,
    private readonly batchSize: number,
    private readonly pass: () => Promise<number>,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.running = this.loop();
  }

  /** Called after a commit that wrote work: handle it now rather than at the next poll. */
  wake(): void {
    this.pendingWake = true;
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeUp?.();
    await this.running;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let handled = 0;
      try {
        handled = await this.pass();
      } catch (err) {
        if (!this.stopped) log.warn({ err }, `${this.name}: pass failed`);
      }
      if (handled >= this.batchSize || this.stopped) continue;
      await this.idle();
    }
  }

  private idle(): Promise<void> {
    if (this.pendingWake) {
      this.pendingWake = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeUp = undefined;
        this.pendingWake = false;
        resolve();
      };
      const timer = setTimeout(done, this.pollMs);
      timer.unref?.();
      this.wakeUp = done;
    });
  }
}
