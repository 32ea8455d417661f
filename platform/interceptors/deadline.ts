// Deadlines: every call gets one. The client's timeout is honoured up to the server's
// cap; a call without one gets the default. The resulting absolute deadline goes into
// the call info, and mesh hops pass on only what remains of it.
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

export function deadlineFromHeaders(headers: Headers, defaultMs: number, maxMs: number): number {
  const raw = headers.get("grpc-timeout") ?? headers.get("connect-timeout-ms");
  let ms = defaultMs;
  if (raw) {
    const parsed = parseTimeout(raw, headers.has("grpc-timeout"));
    if (parsed !== undefined) ms = parsed;
  }
  return Math.min(ms, maxMs);
}

function parseTimeout(raw: string, grpc: boolean): number | undefined {
  if (!grpc) {
    const n = Number(raw);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  }
  const m = /^(\d{1,8})([HMSmun])$/.exec(raw);
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };
  return n * unit[m[2]!]!;
}

/** Races the handler against the call's deadline so no call outlives its cap. */
export function enforceDeadline(getDeadlineAt: (req: { contextValues: unknown }) => number): Interceptor {
  return (next) => async (req) => {
    if (req.stream) return await next(req);
    const remaining = getDeadlineAt(req) - Date.now();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ConnectError("deadline exceeded", Code.DeadlineExceeded)), Math.max(0, remaining));
    });
    try {
      return await Promise.race([next(req), expired]);
    } finally {
      clearTimeout(timer);
    }
  };
}
