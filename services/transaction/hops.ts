// Calls to other services, each with its failure mapping. A hop that fails for a reason
// that is not a business answer becomes UNAVAILABLE (DEPENDENCY_UNAVAILABLE): the caller
// retries with the same idempotency key, and the persisted state lets the retry finish
// the job. Nothing from another service's internals leaks to our callers.
import { create, fromBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { MoneySchema } from "../../gen/fuel/common/v1/common_pb.js";
import {
  CreditService,
  HoldRequestSchema,
  type CaptureResponse,
  type HoldRequest,
  type HoldResponse,
  type VoidResponse,
} from "../../gen/fuel/credit/v1/credit_pb.js";
import type { Hold } from "../../gen/fuel/credit/v1/ledger_pb.js";
import { KycService, type Driver } from "../../gen/fuel/kyc/v1/kyc_pb.js";
import { LoanService, type Loan } from "../../gen/fuel/loan/v1/loan_pb.js";
import { StationService, type Station, type StationAvailability } from "../../gen/fuel/station/v1/station_pb.js";
import { reasonOf, rpcError } from "../../platform/errors.js";
import { LogThrottle } from "../../platform/log-throttle.js";
import { log } from "../../platform/logger.js";
import type { ServiceDeps } from "../../platform/service.js";

export class HopRefused extends Error {
  constructor(readonly code: Code, readonly reason: string, readonly original: ConnectError) {
    super(`${Code[code]} ${reason}`);
  }
}

/** A peer that is down fails every sale's hop: one line per peer and code per period. */
const hopFailures = new LogThrottle(5_000);

const unavailable = (what: string) =>
  rpcError(Code.Unavailable, "DEPENDENCY_UNAVAILABLE", `${what} is unavailable; retry with the same idempotency-key`);

/**
 * Runs a hop. Business answers (`expected` codes) come back as HopRefused for the caller to
 * map; anything else is logged and becomes UNAVAILABLE.
 */
async function hop<T>(what: string, fn: () => Promise<T>, expected: Code[] = [Code.NotFound, Code.FailedPrecondition, Code.AlreadyExists]): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const ce = ConnectError.from(err);
    if (expected.includes(ce.code)) throw new HopRefused(ce.code, reasonOf(ce) ?? "", ce);
    const passed = hopFailures.pass(`${what}:${Code[ce.code]}`);
    if (passed) log.warn({ err: ce, what, suppressed: passed.suppressed }, "hop failed");
    throw unavailable(what);
  }
}

const keyed = (key: string) => ({ headers: { "idempotency-key": key } });

export async function getStation(deps: ServiceDeps, stationId: string): Promise<{ station: Station; availability: StationAvailability }> {
  const s = await hop("StationService", () => deps.mesh.client(StationService).getStation({ stationId, includeAvailability: true }));
  return { station: s.station!, availability: s.availability! };
}

export async function getDriver(deps: ServiceDeps, driverId: string): Promise<Driver> {
  const r = await hop("KycService", () => deps.mesh.client(KycService).getDriver({ driverId }));
  return r.driver!;
}

/**
 * Places (or, on a retry, finds) the one hold of a transaction: the stored request, byte for
 * byte — or, on the first attempt, the very message those bytes were made of.
 */
export async function placeHold(deps: ServiceDeps, holdRequest: HoldRequest | Uint8Array, key: string): Promise<HoldResponse> {
  const req = holdRequest instanceof Uint8Array ? fromBinary(HoldRequestSchema, holdRequest) : holdRequest;
  return await hop("CreditService", () => deps.mesh.client(CreditService).hold(req, keyed(key)));
}

export async function getHoldOfTransaction(deps: ServiceDeps, transactionId: string): Promise<Hold | null> {
  try {
    const r = await hop("CreditService", () => deps.mesh.client(CreditService).getHold({ key: { case: "transactionId", value: transactionId } }));
    return r.hold ?? null;
  } catch (err) {
    if (err instanceof HopRefused && err.code === Code.NotFound) return null;
    throw err;
  }
}

export async function capture(deps: ServiceDeps, holdId: string, amount: bigint, currency: string, key: string): Promise<CaptureResponse> {
  return await hop("CreditService", () =>
    deps.mesh.client(CreditService).capture({ holdId, amount: create(MoneySchema, { amountMinor: amount, currency }) }, keyed(key)));
}

export async function voidHold(deps: ServiceDeps, holdId: string, reason: string, key: string): Promise<VoidResponse> {
  return await hop("CreditService", () => deps.mesh.client(CreditService).void({ holdId, reason }, keyed(key)));
}

/**
 * The bank of a line, asked of CreditService: only for a Hold reply stored before Hold
 * named its line's bank (HoldResponse.bank_id), so rare enough to need no cache.
 */
export async function bankOfLine(deps: ServiceDeps, creditLineId: string): Promise<string> {
  const r = await hop("CreditService", () => deps.mesh.client(CreditService).getCreditLine({ creditLineId }));
  return r.creditLine?.bankId ?? "";
}

/** The driver's open line, or null when they have none (NO_CREDIT_LINE). */
export async function driverHasLine(deps: ServiceDeps, driverId: string): Promise<boolean> {
  try {
    await hop("CreditService", () => deps.mesh.client(CreditService).getAvailableCredit({ driverId }));
    return true;
  } catch (err) {
    if (err instanceof HopRefused && (err.reason === "NO_CREDIT_LINE" || err.code === Code.NotFound)) return false;
    throw err;
  }
}

export interface LoanAsk {
  transactionId: string;
  driverId: string;
  agencyId: string;
  bankId: string;
  creditLineId: string;
  principal: bigint;
  currency: string;
  settleTime: Date;
}

export async function createLoan(deps: ServiceDeps, a: LoanAsk, key: string): Promise<Loan> {
  const r = await hop("LoanService", () =>
    deps.mesh.client(LoanService).createLoanFromSettlement(
      {
        transactionId: a.transactionId,
        driverId: a.driverId,
        agencyId: a.agencyId,
        bankId: a.bankId,
        creditLineId: a.creditLineId,
        principal: create(MoneySchema, { amountMinor: a.principal, currency: a.currency }),
        settleTime: timestampFromDate(a.settleTime),
      },
      keyed(key),
    ));
  return r.loan!;
}
