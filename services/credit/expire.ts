// ExpireHolds (internal) and the background sweeper: holds not captured within their
// window expire and release themselves, each exactly once (claimed with a conditional
// update under SKIP LOCKED, so concurrent sweeps split the work and never share a hold).
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { ExpireHoldsResponseSchema, type ExpireHoldsRequest } from "../../gen/fuel/credit/v1/credit_pb.js";
import { withTx } from "../../platform/db.js";
import { log } from "../../platform/logger.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { viewerOf } from "./access.js";
import { guardedTx, type CreditSettings } from "./common.js";
import { holdToProto } from "./convert.js";
import { holdsExpired } from "./metrics.js";
import { expireDue } from "./resolve.js";
import { moreExpired } from "./store.js";

export function expireHolds(deps: ServiceDeps) {
  return async (req: ExpireHoldsRequest, ctx: HandlerContext) => {
    if (req.maxHolds !== 0) v.intRange("max_holds", req.maxHolds, 1, 5000);
    const max = req.maxHolds || 500;
    const actorId = viewerOf(ctx).actorId;
    return await guardedTx(deps, ctx, ExpireHoldsResponseSchema, async (tx) => {
      const now = deps.now();
      const rows = await expireDue(tx, now, max, actorId);
      return create(ExpireHoldsResponseSchema, { expiredHolds: rows.map(holdToProto), moreRemaining: await moreExpired(tx, now) });
    });
  };
}

/** Runs the sweep every `expirySweepMs`; returns the stopper (waits for a running sweep). */
export function startExpirySweeper(deps: ServiceDeps, settings: CreditSettings): () => Promise<void> {
  let running: Promise<void> | null = null;
  let stopped = false;
  const sweep = async () => {
    for (let round = 0; round < 100 && !stopped; round++) {
      const n = await withTx(deps.pool, async (tx) => (await expireDue(tx, deps.now(), settings.expiryBatch, "credit-sweeper")).length);
      holdsExpired.inc(n);
      if (n > 0) log.info({ expired: n }, "credit holds expired");
      if (n < settings.expiryBatch) break;
    }
  };
  const timer = setInterval(() => {
    if (running || stopped) return;
    running = sweep()
      .catch((err) => log.warn({ err }, "credit expiry sweep failed"))
      .finally(() => (running = null));
  }, settings.expirySweepMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}
