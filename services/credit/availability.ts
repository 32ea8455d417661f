// GetAvailableCredit and CheckAvailability: what a driver can spend now — the smallest of
// their own line, the agency's parent line, the bank's program and the spending controls
// (and, at a station, how many litres of each fuel that buys) — and whether a purchase
// would be approved. Reserve nothing.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext } from "@connectrpc/connect";
import { FuelType } from "../../gen/fuel/common/v1/common_pb.js";
import { DeclineReason } from "../../gen/fuel/credit/v1/credit_line_pb.js";
import {
  CheckAvailabilityResponseSchema,
  GetAvailableCreditResponseSchema,
  type CheckAvailabilityRequest,
  type FuelAllowance,
  type GetAvailableCreditRequest,
} from "../../gen/fuel/credit/v1/credit_pb.js";
import { failedPrecondition, invalidArgument } from "../../platform/errors.js";
import { adviceFor } from "../../platform/decline-advice.js";
import { volumeFor } from "../../platform/money.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { lineVisible, lineNotFound, viewerOf, type Viewer } from "./access.js";
import { moneyIn } from "./common.js";
import { LINE_STATUS, money } from "./convert.js";
import { fuelAllowances, spendingScope, stationOffer } from "./fuel-allowance.js";
import { decideHold, spendable } from "./hold-rule.js";
import { lineState } from "./line-state.js";
import * as store from "./store.js";

function driverOf(viewer: Viewer, requested: string): string {
  if (viewer.kind === "driver") {
    if (requested === "") return viewer.driverId;
    const id = v.uuid("driver_id", requested);
    if (id !== viewer.driverId) throw lineNotFound();
    return id;
  }
  return v.uuid("driver_id", requested);
}

async function linesOf(deps: ServiceDeps, viewer: Viewer, driverId: string) {
  const found = await store.driverLineWithParent(deps.pool, driverId);
  if (found && !lineVisible(viewer, found.line)) throw lineNotFound();
  // A bank or an agency sees only drivers on its own lines: "no line at all" must read
  // like "a line of someone else's", or the answer tells who borrows elsewhere.
  if (!found && viewer.kind !== "all" && viewer.kind !== "driver") throw lineNotFound();
  return found;
}

export function getAvailableCredit(deps: ServiceDeps) {
  return async (req: GetAvailableCreditRequest, ctx: HandlerContext) => {
    const viewer = viewerOf(ctx);
    const driverId = driverOf(viewer, req.driverId);
    if (req.priceMinorPerLitre < 0n) throw invalidArgument("price_minor_per_litre", "must be ≥ 0");
    const stationId = v.optionalUuid("station_id", req.stationId);
    // Asked of StationService while the lines are read; its failure waits to be awaited.
    const offer = stationId ? stationOffer(deps, stationId).then((o) => ({ o }), (err: unknown) => ({ err })) : null;
    const found = await linesOf(deps, viewer, driverId);
    if (!found) throw failedPrecondition("NO_CREDIT_LINE", "the driver has no open credit line");
    const now = deps.now();
    const line = await lineState(deps.pool, found.line, false, now);
    const parent = found.parent ? await lineState(deps.pool, found.parent, true, now) : null;
    const program = found.program ? await lineState(deps.pool, found.program, false, now) : null;
    const s = spendable(line, parent, program);
    const c = found.line.currency;
    const price = req.priceMinorPerLitre;
    let fuels: FuelAllowance[] = [];
    if (offer) {
      const got = await offer;
      if ("err" in got) throw got.err;
      fuels = fuelAllowances(s.amount, c, [line.controls, parent?.controls ?? null], got.o, now);
    }
    const scope = spendingScope([line.controls, parent?.controls ?? null], now);
    return create(GetAvailableCreditResponseSchema, {
      creditLineId: found.line.line_id,
      allowedFuelTypes: scope.fuelTypes,
      stationScopes: scope.stations,
      withinAllowedHours: scope.withinHours,
      spendable: money(s.amount, c),
      limitingFactor: s.factor,
      lineAvailable: money(line.available, c),
      parentAvailable: parent ? money(parent.available, c) : undefined,
      perTransactionMax: s.perTransactionMax === null ? undefined : money(s.perTransactionMax, c),
      dailyRemaining: s.dailyRemaining === null ? undefined : money(s.dailyRemaining, c),
      // Rounded down: never promise more fuel than the money buys.
      spendableVolumeMl: volumeFor(s.amount, price),
      lineStatus: found.parent && found.parent.status !== "ACTIVE" && found.line.status === "ACTIVE" ? LINE_STATUS[found.parent.status] : LINE_STATUS[found.line.status],
      asOfTime: timestampFromDate(now),
      fuels,
    });
  };
}

export function checkAvailability(deps: ServiceDeps) {
  return async (req: CheckAvailabilityRequest, ctx: HandlerContext) => {
    const viewer = viewerOf(ctx);
    const driverId = driverOf(viewer, req.driverId);
    const amount = moneyIn("amount", req.amount, { min: 1n });
    const stationId = v.uuid("station_id", req.stationId);
    const merchantId = v.optionalUuid("merchant_id", req.merchantId) ?? "";
    const fuelType = v.enumValue("fuel_type", req.fuelType, FuelType) as FuelType;
    const found = await linesOf(deps, viewer, driverId);
    if (!found) {
      return create(CheckAvailabilityResponseSchema, {
        approved: false, approvableAmount: money(0n, amount.currency), declineReason: DeclineReason.NO_CREDIT_LINE,
        declineAdvice: adviceFor(DeclineReason.NO_CREDIT_LINE), spendable: money(0n, amount.currency),
      });
    }
    const now = deps.now();
    const line = await lineState(deps.pool, found.line, false, now);
    const parent = found.parent ? await lineState(deps.pool, found.parent, true, now) : null;
    const program = found.program ? await lineState(deps.pool, found.program, false, now) : null;
    const d = decideHold(
      { amount: amount.amount, currency: amount.currency, allowPartial: req.allowPartial, minAmount: req.allowPartial ? 1n : amount.amount, purchase: { fuelType, stationId, merchantId, at: now } },
      line,
      parent,
      program,
    );
    const c = found.line.currency;
    return create(CheckAvailabilityResponseSchema, {
      approved: d.approved,
      approvableAmount: money(d.amount, c),
      declineReason: d.reason,
      declineAdvice: adviceFor(d.reason),
      spendable: money(spendable(line, parent, program).amount, c),
    });
  };
}
