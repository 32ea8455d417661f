// Loaded before every test file (npm test). uvu's reporter prints `err.details` as a
// string; ConnectError.details is an array, so a test failing with a ConnectError made
// the reporter throw and abort its whole suite silently. Give the array a `split` that
// renders it, so such failures are printed like any other.
import { ConnectError } from "@connectrpc/connect";

class PrintableDetails extends Array<unknown> {
  split(sep: string): string[] {
    const text = `${this.length} error detail(s): ${this.map((d) => {
      const x = d as { desc?: { typeName: string }; type?: string; debug?: unknown; value?: unknown };
      return `${x.desc?.typeName ?? x.type}${x.debug ? ` ${JSON.stringify(x.debug)}` : ""}`;
    }).join("; ")}`;
    return text.split(sep);
  }
}

const store = new WeakMap<object, unknown[]>();
Object.defineProperty(ConnectError.prototype, "details", {
  configurable: true,
  get(this: object) {
    return store.get(this);
  },
  set(this: object, v: unknown[]) {
    const arr = new PrintableDetails();
    arr.push(...v);
    store.set(this, arr);
  },
});
