// The world a sale needs (a station selling petrol and its terminal, a bank lending with a
// loan product, a driver with a line), the requests of a sale, how a terminal retries, and
// the money facts of a sale read from the services' own tables: shared by the suites that
// crash, cut or load the sale path.
import { randomUUID } from "node:crypto";
import type { Client } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import pg from "pg";
import { FuelType, Role } from "../../gen/fuel/common/v1/common_pb.js";
import { JournalEntryKind } from "../../gen/fuel/credit/v1/ledger_pb.js";
import { KycService } from "../../gen/fuel/kyc/v1/kyc_pb.js";
import { LoanService } from "../../gen/fuel/loan/v1/loan_pb.js";
import { StationService } from "../../gen/fuel/station/v1/station_pb.js";
import { TransactionService } from "../../gen/fuel/transaction/v1/transaction_pb.js";
import { clientAs, Fixtures, ngn } from "../credit-fixtures.js";
import { connectJson, GrpcJsClient } from "./clients.js";
import { mintAccessToken, principal, type TokenSource } from "./tokens.js";

/** What a sale needs: a station selling petrol and its terminal, a bank lending with a loan product, a driver with a line. */
export interface SaleWorld {
  stationId: string;
  pos: GrpcJsClient<typeof TransactionService>;
  driverId: string;
  app: Client<typeof TransactionService>;
  /** The station's merchant admin (prices, stock). */
  stations?: Client<typeof StationService>;
  /** The driver's access token. */
  driverToken?: string;
}

export const PETROL_PRICE = 65_000n;

export async function saleWorld(sys: TokenSource & { gatewayUrl: string }, fx: Fixtures): Promise<SaleWorld> {
  const kyc = clientAs(KycService, sys.cfg.urls.kyc, fx.adminToken);
  const m = await kyc.createMerchant({ name: "Crash Fuel", registrationNumber: `RC-${randomUUID().slice(0, 8)}`, contactEmail: "ops@crash.example" });
  const merchantId = m.merchant!.merchantId;
  const stations = clientAs(StationService, sys.cfg.urls.station, await mintAccessToken(sys, principal(Role.MERCHANT_ADMIN, { merchantId })));
  const st = await stations.createStation({
    name: "Crash Station", address: { line1: "2 Wharf Road", city: "Lagos", countryCode: "NG" }, location: { latitude: 6.45, longitude: 3.39 },
    currency: "NGN", openingHours: { timeZone: "Africa/Lagos", alwaysOpen: true }, pumps: [{ label: "1", fuelTypes: [FuelType.PETROL] }],
  });
  const stationId = st.station!.stationId;
  await stations.updateFuelAvailability({ stationId, updates: [{ fuelType: FuelType.PETROL, inStock: true, priceMinorPerLitre: PETROL_PRICE, currency: "NGN" }] });
  const pos = new GrpcJsClient(TransactionService, sys.gatewayUrl, await mintAccessToken(sys, principal(Role.POS_TERMINAL, { stationId, merchantId })));

  const bank = await fx.bank(1_000_000_000n);
  await clientAs(LoanService, sys.cfg.urls.loan, bank.token).createLoanProduct({ name: "Fuel 30", currency: "NGN", termDays: 30, isDefault: true });
  const d = await fx.driver();
  await bank.credit.createCreditLine({ owner: { case: "driverId", value: d.driverId }, currency: "NGN" });
  return { stationId, pos, driverId: d.driverId, app: connectJson(TransactionService, sys.gatewayUrl, d.token), stations, driverToken: d.token };
}

/** A fresh QR of the world's driver (GenerateQrCode runs in the child). */
export async function qrPayload(w: SaleWorld): Promise<{ payload: string; qrCodeId: string }> {
  const qr = (await w.app.generateQrCode({ fuelType: FuelType.PETROL }, { headers: { "idempotency-key": randomUUID() } })).qrCode!;
  return { payload: qr.payload, qrCodeId: qr.qrCodeId };
}

export const authorizeRequest = (w: SaleWorld, payload: string, amountMinor: bigint) =>
  ({ qrPayload: payload, stationId: w.stationId, fuelType: FuelType.PETROL, requestedAmount: ngn(amountMinor) });

export const settleRequest = (transactionId: string, volumeMl: bigint) =>
  ({ transactionId, dispensed: { case: "metered" as const, value: { volumeMl, priceMinorPerLitre: PETROL_PRICE } } });

/** Codes a terminal retries with the same key. */
export const RETRYABLE = new Set([grpc.status.ABORTED, grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.RESOURCE_EXHAUSTED]);

/** Retries a call as a terminal does (same key, every `everyMs`) until it answers or `maxMs` passes. */
export async function asTerminal<T>(fn: () => Promise<T>, everyMs = 100, maxMs = 60_000): Promise<{ value: T; attempts: number }> {
  const started = performance.now();
  for (let attempts = 1; ; attempts++) {
    try {
      return { value: await fn(), attempts };
    } catch (err) {
      const code = (err as grpc.ServiceError).code;
      if (!RETRYABLE.has(code) || performance.now() - started > maxMs) throw err;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }
}

/** The money facts of one sale, from the services' own tables. */
export interface SaleFacts {
  state: string;
  holds: number;
  holdStatus: string | null;
  captures: number;
  loans: number;
  loanId: string | null;
  recoverAfter: Date | null;
}

export async function saleFacts(db: pg.Client, transactionId: string): Promise<SaleFacts> {
  const r = await db.query(
    `SELECT t.state, t.loan_id::text AS loan_id, t.recover_after,
            (SELECT count(*)::int FROM credit.holds h WHERE h.transaction_id = t.transaction_id) AS holds,
            (SELECT max(h.status) FROM credit.holds h WHERE h.transaction_id = t.transaction_id) AS hold_status,
            (SELECT count(*)::int FROM credit.journal_entries j WHERE j.transaction_id = t.transaction_id AND j.kind = $2) AS captures,
            (SELECT count(*)::int FROM loan.loans l WHERE l.transaction_id = t.transaction_id) AS loans
       FROM transaction.transactions t WHERE t.transaction_id = $1`,
    [transactionId, JournalEntryKind.CAPTURE],
  );
  const row = r.rows[0];
  if (!row) throw new Error(`no transaction ${transactionId}`);
  return {
    state: row.state, holds: row.holds, holdStatus: row.hold_status, captures: row.captures, loans: row.loans,
    loanId: row.loan_id, recoverAfter: row.recover_after,
  };
}

/** The transaction a QR started, if its Authorize got as far as recording one. */
export async function transactionOfQr(db: pg.Client, qrCodeId: string): Promise<string | null> {
  const r = await db.query(`SELECT transaction_id::text AS id FROM transaction.transactions WHERE qr_code_id = $1`, [qrCodeId]);
  return r.rows[0]?.id ?? null;
}
