// RestoreCredit (internal, LoanService on a repayment): repaid principal goes back to the
// driver's line, its parent and its program (used → available) in one REPAYMENT entry, once per
// repayment_id (a unique index is the final guard; a repeat returns the first entry).
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { RestoreCreditResponseSchema, type RestoreCreditRequest } from "../../gen/fuel/credit/v1/credit_pb.js";
import { JournalEntryKind } from "../../gen/fuel/credit/v1/ledger_pb.js";
import { one, sqlState, UNIQUE_VIOLATION, type Pool, type Tx } from "../../platform/db.js";
import { failedPrecondition, invalidArgument } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { lineNotFound, viewerOf } from "./access.js";
import { guardedTx, moneyIn } from "./common.js";
import { lineToProto } from "./convert.js";
import { writeMovement } from "./ledger-store.js";
import { repaymentPostings } from "./postings.js";
import * as store from "./store.js";

async function earlier(db: Pool | Tx, repaymentId: string) {
  const e = await one<{ entry_id: string; line_id: string }>(
    db,
    `SELECT e.entry_id, (SELECT p.line_id FROM credit.postings p JOIN credit.lines l ON l.line_id = p.line_id
                          WHERE p.entry_id = e.entry_id AND l.owner_kind = 'DRIVER' LIMIT 1) AS line_id
       FROM credit.journal_entries e WHERE e.repayment_id = $1`,
    [repaymentId],
  );
  if (!e) return null;
  const line = (await store.getLine(db, e.line_id))!;
  return create(RestoreCreditResponseSchema, { creditLine: lineToProto(line), journalEntryId: e.entry_id });
}

export function restoreCredit(deps: ServiceDeps) {
  return async (req: RestoreCreditRequest, ctx: HandlerContext) => {
    const lineId = v.uuid("credit_line_id", req.creditLineId);
    const amount = moneyIn("amount", req.amount, { min: 1n });
    const loanId = v.uuid("loan_id", req.loanId);
    const repaymentId = v.uuid("repayment_id", req.repaymentId);
    const actorId = viewerOf(ctx).actorId;
    try {
      return await guardedTx(deps, ctx, RestoreCreditResponseSchema, async (tx) => {
        const prior = await earlier(tx, repaymentId);
        if (prior) return prior;
        const line = await store.getLine(tx, lineId);
        if (!line) throw lineNotFound();
        if (line.currency !== amount.currency) throw invalidArgument("amount.currency", `must be the line's currency ${line.currency}`);
        // Every level the purchase used: its program, the agency's line, the driver's.
        const ids = [line.program_id, line.parent_id, line.line_id].filter((id): id is string => id !== null);
        const locked = await store.lockLines(tx, ids);
        for (const l of locked.values()) {
          if (l.used < amount.amount) {
            throw failedPrecondition("AMOUNT_EXCEEDS_USED", `restore ${amount.amount} exceeds what is used (${l.used})`, { used: l.used.toString() });
          }
        }
        const entryId = randomUUID();
        const changed = await writeMovement(tx, [{
          entryId, kind: JournalEntryKind.REPAYMENT, currency: line.currency, loanId, repaymentId,
          description: `repayment of loan principal ${amount.amount}`, actorId, postings: repaymentPostings(ids, amount.amount),
        }], deps.now());
        return create(RestoreCreditResponseSchema, { creditLine: lineToProto(changed.get(line.line_id)!), journalEntryId: entryId });
      });
    } catch (err) {
      if (sqlState(err) === UNIQUE_VIOLATION) {
        const prior = await earlier(deps.pool, repaymentId);
        if (prior) return prior;
      }
      throw err;
    }
  };
}
