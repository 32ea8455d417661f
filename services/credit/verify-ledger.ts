// VerifyLedger (SYSTEM_ADMIN): recomputes every selected line's accounts from its postings
// and compares them with the cached counters, in one consistent snapshot (REPEATABLE READ,
// read-only). Also: unbalanced entries, lines where limit ≠ available + held + used,
// parents whose held/used differ from their sub-lines', and pending holds that disagree
// with their HOLD entries.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { LineDifferenceSchema, LedgerAccount, type LineDifference } from "../../gen/fuel/credit/v1/ledger_pb.js";
import { VerifyLedgerResponseSchema, type VerifyLedgerRequest } from "../../gen/fuel/credit/v1/credit_pb.js";
import { one, withTx, type Tx } from "../../platform/db.js";
import { invalidArgument } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { money } from "./convert.js";
import { inconsistentHolds, lineBalances, unbalancedEntries } from "./ledger-store.js";

export interface LedgerReport {
  consistent: boolean;
  linesChecked: bigint;
  entriesChecked: bigint;
  differences: LineDifference[];
  unbalancedEntryIds: string[];
  inconsistentHoldIds: string[];
}

/** The check itself, inside the caller's transaction (tests and the RPC share it). */
export async function verifyLedger(tx: Tx, ids: string[] | null, bankId: string | null): Promise<LedgerReport> {
  const lines = await lineBalances(tx, ids, bankId);
  const differences: LineDifference[] = [];
  const currencyRows = await tx.query<{ line_id: string; currency: string }>(
    `SELECT line_id, currency FROM credit.lines WHERE line_id = ANY($1::uuid[])`,
    [lines.map((l) => l.line_id)],
  );
  const currency = new Map(currencyRows.rows.map((r) => [r.line_id, r.currency]));
  const diff = (lineId: string, account: LedgerAccount, cached: bigint, computed: bigint) => {
    if (cached !== computed) {
      const c = currency.get(lineId) ?? "";
      differences.push(create(LineDifferenceSchema, { creditLineId: lineId, account, cached: money(cached, c), computed: money(computed, c) }));
    }
  };
  const pendingByLine = new Set<string>();
  for (const l of lines) {
    const available = l.limit_minor - l.held - l.used;
    diff(l.line_id, LedgerAccount.LIMIT, -l.limit_minor, l.p_limit);
    diff(l.line_id, LedgerAccount.AVAILABLE, available, l.p_available);
    diff(l.line_id, LedgerAccount.HELD, l.held, l.p_held);
    diff(l.line_id, LedgerAccount.USED, l.used, l.p_used);
    // The identity on the postings themselves: LIMIT + AVAILABLE + HELD + USED = 0.
    diff(l.line_id, LedgerAccount.UNSPECIFIED, 0n, l.p_limit + l.p_available + l.p_held + l.p_used);
    // A parent's held and used are exactly its sub-lines', a program's its root lines'
    // (holds are placed on driver lines).
    if (l.kids_held !== null) diff(l.line_id, LedgerAccount.HELD, l.held, l.kids_held);
    if (l.kids_used !== null) diff(l.line_id, LedgerAccount.USED, l.used, l.kids_used!);
    // What is held is exactly what the pending holds reserve.
    if (l.held !== l.pending_held) {
      diff(l.line_id, LedgerAccount.HELD, l.held, l.pending_held);
      pendingByLine.add(l.line_id);
    }
  }
  const { unbalanced, checked } = await unbalancedEntries(tx, ids, bankId);
  const holds = await inconsistentHolds(tx, ids, bankId);
  if (pendingByLine.size > 0) {
    const r = await tx.query<{ hold_id: string }>(
      `SELECT hold_id FROM credit.holds WHERE status = 'PENDING' AND (line_id = ANY($1::uuid[]) OR parent_line_id = ANY($1::uuid[]) OR program_line_id = ANY($1::uuid[]))`,
      [[...pendingByLine]],
    );
    for (const h of r.rows) if (!holds.includes(h.hold_id)) holds.push(h.hold_id);
  }
  return {
    consistent: differences.length === 0 && unbalanced.length === 0 && holds.length === 0,
    linesChecked: BigInt(lines.length),
    entriesChecked: checked,
    differences,
    unbalancedEntryIds: unbalanced,
    inconsistentHoldIds: holds,
  };
}

export function verifyLedgerRpc(deps: ServiceDeps) {
  return async (req: VerifyLedgerRequest) => {
    if (req.creditLineIds.length > 1000) throw invalidArgument("credit_line_ids", "at most 1000 ids");
    const ids = req.creditLineIds.length ? req.creditLineIds.map((id) => v.uuid("credit_line_ids", id)) : null;
    const bankId = v.optionalUuid("bank_id", req.bankId);
    const asOf = deps.now();
    const report = await withTx(deps.pool, async (tx) => {
      await tx.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");
      await one(tx, "SELECT 1");
      return await verifyLedger(tx, ids, bankId);
    });
    return create(VerifyLedgerResponseSchema, { ...report, asOfTime: timestampFromDate(asOf) });
  };
}
