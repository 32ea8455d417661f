// Reads what the dev provider received: OTP SMS, e-mails, pushes. Polls the inbox
// every 25 ms until a message for `to` on `channel` arrives (optionally only messages
// received at or after `after`), or fails after `timeoutMs` (default 5 s).
import type { DevInbox, DevInboxMessage } from "../../dev/inbox.js";

export interface InboxFilter {
  channel: DevInboxMessage["channel"];
  to: string;
}

export async function waitForMessage(
  inbox: DevInbox,
  filter: InboxFilter,
  opts: { timeoutMs?: number; after?: Date } = {},
): Promise<DevInboxMessage> {
  const deadline = Date.now() + (opts.timeoutMs ?? 5_000);
  const after = opts.after?.getTime() ?? -Infinity;
  for (;;) {
    const found = inbox
      .messages({ channel: filter.channel, to: filter.to })
      .filter((m) => m.receivedAt.getTime() >= after);
    // The newest matching message is the one a test is waiting for.
    if (found.length > 0) return found[found.length - 1]!;
    if (Date.now() >= deadline) {
      throw new Error(`no ${filter.channel} message arrived in the dev inbox within ${opts.timeoutMs ?? 5_000} ms`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}
