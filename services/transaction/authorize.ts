// Authorize (POS terminal): QR → station → driver → hold → AUTHORIZED | DECLINED.
//
// Order of work, for crash safety: everything that only reads (QR signature and expiry,
// station, price, driver) happens first; then ONE statement consumes the QR, records the
// transaction as PENDING with the exact hold request, and claims the idempotency key
// (step.ts runStep); only after that commits is CreditService asked for the hold (keyed
// by the transaction id), and its answer is recorded, with this call's answer kept on the
// key, in a second statement. A crash in between leaves a PENDING row that a retry with
// the same key, or the sweeper, finishes with the same hold request — CreditService
// returns the one hold of the transaction.
import { randomUUID } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, type HandlerContext } from "@connectrpc/connect";
import { FuelType } from "../../gen/fuel/common/v1/common_pb.js";
import { DeclineReason } from "../../gen/fuel/credit/v1/credit_line_pb.js";
import { HoldRequestSchema } from "../../gen/fuel/credit/v1/credit_pb.js";
import { KycOverallStatus, ProfileStatus, type Driver } from "../../gen/fuel/kyc/v1/kyc_pb.js";
import { StationStatus, type Station, type StationAvailability } from "../../gen/fuel/station/v1/station_pb.js";
import { AuthorizeResponseSchema, type AuthorizeRequest, type AuthorizeResponse } from "../../gen/fuel/transaction/v1/transaction_pb.js";
import { principalOf } from "../../platform/context.js";
import { failedPrecondition, invalidArgument, notFound, permissionDenied } from "../../platform/errors.js";
import { ticketOf } from "../../platform/pg-guard.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { amountToCover } from "../../platform/money.js";
import { moneyIn } from "./common.js";
import { txnToProto } from "./convert.js";
import * as hops from "./hops.js";
import { HopRefused } from "./hops.js";
import { verifyQr, type QrClaims } from "./qr-payload.js";
import type { TransactionSettings } from "./settings.js";
import { refuseUnlessKnown, runStep, type KeyedCall } from "./step.js";
import * as store from "./store.js";
import type { TxnRow } from "./store.js";

const respond = (row: TxnRow): AuthorizeResponse => create(AuthorizeResponseSchema, { transaction: txnToProto(row) });

export function qrRefusal(problem: "MALFORMED" | "SIGNATURE_INVALID" | "EXPIRED") {
  switch (problem) {
    case "MALFORMED":
      return invalidArgument("qr_payload", "is not a QR payload issued by this service", "QR_MALFORMED");
    case "SIGNATURE_INVALID":
      return invalidArgument("qr_payload", "signature does not verify (tampered or forged)", "QR_SIGNATURE_INVALID");
    case "EXPIRED":
      return failedPrecondition("QR_EXPIRED", "the QR code has expired; ask the driver for a new one");
  }
}

/** The driver decides nothing here but whether they may buy at all. */
function driverDecline(d: Driver | null): DeclineReason {
  if (!d || d.status !== ProfileStatus.ACTIVE) return DeclineReason.DRIVER_INACTIVE;
  if (d.kycStatus !== KycOverallStatus.VERIFIED) return DeclineReason.KYC_NOT_VERIFIED;
  return DeclineReason.UNSPECIFIED;
}

export function authorize(deps: ServiceDeps, s: TransactionSettings, qrKey: Buffer) {
  return async (req: AuthorizeRequest, ctx: HandlerContext): Promise<AuthorizeResponse> => {
    const p = principalOf(ctx);
    const now = deps.now();
    if (req.qrPayload === "") throw invalidArgument("qr_payload", "is required");
    const stationId = v.uuid("station_id", req.stationId);
    const pumpId = req.pumpId === "" ? "" : v.text("pump_id", req.pumpId, 1, 32);
    const fuelType = v.enumValue("fuel_type", req.fuelType, FuelType) as FuelType;
    const ask = askOf(req);
    const terminalReference = req.terminalReference === "" ? "" : v.text("terminal_reference", req.terminalReference, 1, 64);
    if (stationId !== p.stationId.toLowerCase()) {
      throw permissionDenied("TERMINAL_STATION_MISMATCH", "station_id is not this terminal's station");
    }

    // The reads below are independent of each other: start them together (the station, the
    // driver). Neither the QR's row nor the key is read first: the intent below consumes the
    // one and claims the other, and a refusal found here is answered only once the key
    // proves never to have run.
    const call: KeyedCall<typeof AuthorizeResponseSchema> = { ticket: ticketOf(ctx), schema: AuthorizeResponseSchema, respond, crashAt: "after-authorize-intent" };
    const verdict = verifyQr(qrKey, req.qrPayload, now);
    const claims = verdict.ok ? verdict.claims : null;
    const stationP = claims ? settled(hops.getStation(deps, stationId)) : null;
    const driverP = claims ? settled(hops.getDriver(deps, claims.driverId)) : null;

    let intent: Intent;
    try {
      intent = await decide(req, p, { stationId, ask, fuelType, verdict, stationP, driverP });
    } catch (err) {
      return await refuseUnlessKnown(deps, s, call, err);
    }
    const { qr, holdAmount, minAmount, currency, station, fuel, driver, decline } = intent;

    const transactionId = randomUUID();
    const holdAsk = create(HoldRequestSchema, {
      driverId: qr.driverId,
      transactionId,
      amount: { amountMinor: holdAmount, currency },
      allowPartial: req.allowPartialApproval,
      minAmount: req.allowPartialApproval && minAmount !== null ? { amountMinor: minAmount, currency } : undefined,
      stationId,
      merchantId: station.merchantId,
      fuelType,
      // 0: CreditService's hold window (CREDIT_HOLD_TTL_SECONDS) — the hold's lifetime is its rule.
      ttlSeconds: 0,
    });

    // One statement: consume the QR (ACTIVE and the driver's → USED), record the transaction
    // and claim the key for it — nothing is written when the QR was not so or the key is taken.
    return await runStep(deps, s, call, () => store.startTransaction(deps.pool, qr.qrCodeId, call.ticket, {
      transaction_id: transactionId,
      state: decline ? "DECLINED" : "PENDING",
      driver_id: qr.driverId,
      agency_id: driver?.agencyId || null,
      station_id: stationId,
      merchant_id: station.merchantId,
      pump_id: pumpId,
      qr_code_id: qr.qrCodeId,
      fuel_type: fuelType,
      currency,
      requested_amount: intent.askedAmount,
      requested_volume_ml: ask.volumeMl,
      decline_reason: decline,
      hold_request: Buffer.from(toBinary(HoldRequestSchema, holdAsk)),
      authorized_price: fuel.priceMinorPerLitre,
      terminal_reference: terminalReference,
      create_time: now,
      update_time: now,
      recover_after: decline ? null : new Date(now.getTime() + s.recoveryGraceMs),
    }), async () => {
      const issued = await store.getQr(deps.pool, qr.qrCodeId);
      if (!issued || issued.driver_id !== qr.driverId) return qrRefusal("MALFORMED");
      return failedPrecondition("QR_ALREADY_USED", "the QR code was already used");
    }, holdAsk);
  };
}

/** What the terminal asks for: an amount, or a volume priced when the station is read. */
type Ask =
  | { kind: "amount"; volumeMl: 0n; amount: bigint; currency: string; minAmount: bigint | null }
  | { kind: "volume"; volumeMl: bigint; minVolumeMl: bigint };

const MAX_VOLUME_ML = 1_000_000n;

function askOf(req: AuthorizeRequest): Ask {
  if (req.requestedVolumeMl !== 0n) {
    if (req.requestedAmount) throw invalidArgument("requested_amount", "must be unset with requested_volume_ml");
    if (req.minAmount) throw invalidArgument("min_amount", "must be unset with requested_volume_ml: use min_volume_ml");
    const volumeMl = req.requestedVolumeMl;
    if (volumeMl < 1n || volumeMl > MAX_VOLUME_ML) throw invalidArgument("requested_volume_ml", `must be 1–${MAX_VOLUME_ML} millilitres`);
    const minVolumeMl = req.minVolumeMl === 0n ? 1n : req.minVolumeMl;
    if (minVolumeMl < 1n || minVolumeMl > volumeMl) throw invalidArgument("min_volume_ml", "must be 1 – requested_volume_ml");
    return { kind: "volume", volumeMl, minVolumeMl };
  }
  if (req.minVolumeMl !== 0n) throw invalidArgument("min_volume_ml", "is only accepted with requested_volume_ml");
  const requested = moneyIn("requested_amount", req.requestedAmount, 1n);
  let minAmount: bigint | null = null;
  if (req.minAmount) {
    minAmount = moneyIn("min_amount", req.minAmount, 1n, requested.currency).amount;
    if (minAmount > requested.amount) throw invalidArgument("min_amount", "must be ≤ requested_amount");
  }
  return { kind: "amount", volumeMl: 0n, amount: requested.amount, currency: requested.currency, minAmount };
}

interface Reads {
  stationId: string;
  ask: Ask;
  fuelType: FuelType;
  verdict: ReturnType<typeof verifyQr>;
  stationP: Settled<Awaited<ReturnType<typeof hops.getStation>>> | null;
  driverP: Settled<Driver> | null;
}

interface Intent {
  qr: QrClaims;
  /** The amount asked for (by volume: the volume at the station's price, rounded up). */
  askedAmount: bigint;
  /** What the hold asks for: the asked amount, capped by the QR's maximum with partial approval. */
  holdAmount: bigint;
  /** The smallest acceptable approval with partial approval; null: one minor unit. */
  minAmount: bigint | null;
  currency: string;
  station: Station;
  fuel: StationAvailability["fuels"][number];
  driver: Driver | null;
  decline: DeclineReason;
}

/** Everything Authorize decides before it writes: the QR, the station, the driver, in that order. */
async function decide(req: AuthorizeRequest, p: ReturnType<typeof principalOf>, r: Reads): Promise<Intent> {
  const { stationId, ask, fuelType, verdict } = r;
  // The QR: signature, expiry, restrictions; its single use is the intent's to check.
  if (!verdict.ok) throw qrRefusal(verdict.problem);
  const qr: QrClaims = verdict.claims;
  if (qr.stationId && qr.stationId !== stationId) {
    throw permissionDenied("QR_STATION_MISMATCH", "the QR code is restricted to another station");
  }
  if (qr.fuelType !== 0 && qr.fuelType !== fuelType) {
    throw failedPrecondition("QR_FUEL_TYPE_MISMATCH", `the QR code is restricted to ${FuelType[qr.fuelType] ?? qr.fuelType}`);
  }
  // An amount is held to the QR's maximum before the station is asked anything.
  const byAmount = ask.kind === "amount" ? capToQr(req, qr, ask.amount, ask.currency, ask.minAmount) : null;
  // The station: the terminal's, open, selling this fuel; its price.
  let station;
  try {
    station = await unwrap(r.stationP!);
  } catch (err) {
    if (err instanceof HopRefused && err.code === Code.NotFound) throw notFound("station", "STATION_NOT_FOUND");
    throw err;
  }
  if (p.merchantId && station.station.merchantId !== p.merchantId) {
    throw permissionDenied("TERMINAL_STATION_MISMATCH", "the station does not belong to this terminal's merchant");
  }
  if (station.station.status !== StationStatus.ACTIVE || !station.availability.openNow) {
    throw failedPrecondition("STATION_CLOSED", "the station is closed");
  }
  const fuel = station.availability.fuels.find((f) => f.fuelType === fuelType);
  if (!fuel || !fuel.inStock || fuel.priceMinorPerLitre <= 0n) {
    throw failedPrecondition("FUEL_NOT_AVAILABLE", `the station has no ${FuelType[fuelType]} to sell now`);
  }
  const currency = fuel.currency || station.station.currency;
  let amounts: { asked: bigint; hold: bigint; min: bigint | null };
  if (ask.kind === "amount") {
    if (ask.currency !== currency) throw invalidArgument("requested_amount.currency", `must be the station's currency ${currency}`);
    amounts = byAmount!;
  } else {
    // The price of this moment, locked on the transaction: the volume is held whole.
    const asked = amountToCover(fuel.priceMinorPerLitre, ask.volumeMl);
    amounts = capToQr(req, qr, asked, currency, amountToCover(fuel.priceMinorPerLitre, ask.minVolumeMl));
  }

  // The driver: active and KYC verified, else a recorded decline.
  let driver: Driver | null = null;
  try {
    driver = await unwrap(r.driverP!);
  } catch (err) {
    if (!(err instanceof HopRefused && err.code === Code.NotFound)) throw err;
  }
  return {
    qr, askedAmount: amounts.asked, holdAmount: amounts.hold, minAmount: amounts.min, currency, station: station.station, fuel, driver,
    decline: driverDecline(driver),
  };
}

/** The amount to hold: `asked`, or the QR's maximum when above it and partial approval allows. */
function capToQr(req: AuthorizeRequest, qr: QrClaims, asked: bigint, currency: string, min: bigint | null): { asked: bigint; hold: bigint; min: bigint | null } {
  if (!qr.maxAmount) return { asked, hold: asked, min };
  if (qr.maxAmount.currency !== currency) throw invalidArgument("requested_amount.currency", `must be the QR's currency ${qr.maxAmount.currency}`);
  if (asked <= qr.maxAmount.amount) return { asked, hold: asked, min };
  if (!req.allowPartialApproval || (min ?? 1n) > qr.maxAmount.amount) {
    throw failedPrecondition("AMOUNT_EXCEEDS_QR_MAX", "the amount asked for is above the QR code's max_amount", { max_amount_minor: qr.maxAmount.amount.toString() });
  }
  return { asked, hold: qr.maxAmount.amount, min };
}

type Settled<T> = Promise<{ ok: true; value: T } | { ok: false; err: unknown }>;

/** A read started early: its failure is held (no unhandled rejection) until it is awaited. */
function settled<T>(p: Promise<T>): Settled<T> {
  return p.then((value) => ({ ok: true as const, value }), (err: unknown) => ({ ok: false as const, err }));
}

async function unwrap<T>(p: Settled<T>): Promise<T> {
  const r = await p;
  if (!r.ok) throw r.err;
  return r.value;
}
