// Credit programs: CreateCreditProgram, GetCreditProgram, ListCreditPrograms,
// UpdateCreditProgram. A program's counters are its ledger line's (owner_kind PROGRAM):
// its cap is the line's limit, set and changed by LIMIT_CHANGE entries; holds, captures,
// releases and repayments on its lines move it with them (hold.ts, resolve.ts, restore.ts).
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { HandlerContext } from "@connectrpc/connect";
import { CreditProgramSchema, CreditProgramStatus, LimitSource, type CreditProgram } from "../../gen/fuel/credit/v1/credit_line_pb.js";
import {
  CreateCreditProgramResponseSchema,
  GetCreditProgramResponseSchema,
  ListCreditProgramsResponseSchema,
  UpdateCreditProgramResponseSchema,
  type CreateCreditProgramRequest,
  type GetCreditProgramRequest,
  type ListCreditProgramsRequest,
  type UpdateCreditProgramRequest,
} from "../../gen/fuel/credit/v1/credit_pb.js";
import { JournalEntryKind } from "../../gen/fuel/credit/v1/ledger_pb.js";
import { invalidArgument, failedPrecondition } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { programNotFound, viewerOf, type Viewer } from "./access.js";
import { guardedTx, moneyIn, reasonText, versionMismatch } from "./common.js";
import { money } from "./convert.js";
import { writeMovement } from "./ledger-store.js";
import { limitChangePostings } from "./postings.js";
import * as programs from "./program-store.js";
import * as store from "./store.js";

function toProto(p: programs.ProgramRow): CreditProgram {
  const m = (x: bigint) => money(x, p.currency);
  return create(CreditProgramSchema, {
    creditProgramId: p.program_id,
    bankId: p.bank_id,
    name: p.name,
    currency: p.currency,
    cap: m(p.limit_minor),
    held: m(p.held),
    used: m(p.used),
    available: m(p.limit_minor - p.held - p.used),
    status: p.status === "ACTIVE" ? CreditProgramStatus.ACTIVE : CreditProgramStatus.CLOSED,
    version: p.version,
    createTime: timestampFromDate(p.create_time),
    updateTime: timestampFromDate(p.update_time),
  });
}

/** The program if the caller may see it: a bank its own, a system admin any. */
function visible(viewer: Viewer, p: programs.ProgramRow | undefined): programs.ProgramRow {
  if (!p) throw programNotFound();
  if (viewer.kind === "all") return p;
  if (viewer.kind === "bank" && viewer.bankId === p.bank_id) return p;
  throw programNotFound();
}

function bankOf(viewer: Viewer): string {
  // The method's policy admits banks only; any other caller has no bank to lend for.
  if (viewer.kind !== "bank") throw programNotFound();
  return viewer.bankId;
}

export function createCreditProgram(deps: ServiceDeps) {
  return async (req: CreateCreditProgramRequest, ctx: HandlerContext) => {
    const viewer = viewerOf(ctx);
    const name = v.text("name", req.name.trim(), 1, 120);
    const cap = moneyIn("cap", req.cap, { min: 1n });
    const bankId = bankOf(viewer);
    const now = deps.now();
    return await guardedTx(deps, ctx, CreateCreditProgramResponseSchema, async (tx) => {
      const id = randomUUID();
      const line = await store.insertLine(tx, {
        line_id: id, bank_id: bankId, owner_kind: "PROGRAM", owner_id: id, parent_id: null, parent_agency_id: null, program_id: null,
        currency: cap.currency, status: "ACTIVE", limit_minor: 0n, sub_limit: null, limit_source: LimitSource.OVERRIDE,
        risk_assessment_id: null, risk_category: 0, override_reason: "", controls: null, daily_controls: false, create_time: now,
      });
      await programs.insertProgram(tx, { program_id: line.line_id, bank_id: bankId, name, created_by: viewer.actorId, create_time: now });
      await writeMovement(tx, [{
        entryId: randomUUID(), kind: JournalEntryKind.LIMIT_CHANGE, currency: cap.currency,
        description: `program "${name}" opened with cap ${cap.amount}`, actorId: viewer.actorId,
        postings: limitChangePostings([line.line_id], cap.amount),
      }], now);
      const saved = await programs.getProgram(tx, line.line_id);
      return create(CreateCreditProgramResponseSchema, { creditProgram: toProto(saved!) });
    });
  };
}

export function getCreditProgram(deps: ServiceDeps) {
  return async (req: GetCreditProgramRequest, ctx: HandlerContext) => {
    const id = v.uuid("credit_program_id", req.creditProgramId);
    const p = visible(viewerOf(ctx), await programs.getProgram(deps.pool, id));
    return create(GetCreditProgramResponseSchema, { creditProgram: toProto(p) });
  };
}

export function listCreditPrograms(deps: ServiceDeps) {
  return async (req: ListCreditProgramsRequest, ctx: HandlerContext) => {
    const viewer = viewerOf(ctx);
    const limit = v.pageSize(req.pageSize);
    let bankId = v.optionalUuid("bank_id", req.bankId);
    if (viewer.kind === "bank") {
      if (bankId && bankId !== viewer.bankId) return create(ListCreditProgramsResponseSchema, {});
      bankId = viewer.bankId;
    } else if (viewer.kind !== "all") {
      return create(ListCreditProgramsResponseSchema, {});
    }
    const token = v.decodePageToken(req.pageToken, ["t", "id"]);
    let after: { time: Date; id: string } | null = null;
    if (token) {
      const time = new Date(token.t);
      if (Number.isNaN(time.getTime())) throw invalidArgument("page_token", "is not a token from a previous response");
      after = { time, id: v.uuid("page_token", token.id) };
    }
    const rows = await programs.listPrograms(deps.pool, bankId, after, limit);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return create(ListCreditProgramsResponseSchema, {
      creditPrograms: page.map(toProto),
      nextPageToken: rows.length > limit && last ? v.encodePageToken({ t: last.create_time.toISOString(), id: last.program_id }) : "",
    });
  };
}

export function updateCreditProgram(deps: ServiceDeps) {
  return async (req: UpdateCreditProgramRequest, ctx: HandlerContext) => {
    const viewer = viewerOf(ctx);
    const id = v.uuid("credit_program_id", req.creditProgramId);
    if (!req.cap && !req.close) throw invalidArgument("cap", "is required unless close is set");
    const reason = reasonText("reason", req.reason);
    const bankId = bankOf(viewer);
    const found = await programs.getProgram(deps.pool, id);
    if (!found || found.bank_id !== bankId) throw programNotFound();
    const cap = req.cap ? moneyIn("cap", req.cap, { currency: found.currency, min: 1n }).amount : null;
    const now = deps.now();
    return await guardedTx(deps, ctx, UpdateCreditProgramResponseSchema, async (tx) => {
      const cur = (await store.lockLines(tx, [id])).get(id)!;
      if (cur.version !== req.expectedVersion) throw versionMismatch(cur.version);
      if (cur.status !== "ACTIVE") throw failedPrecondition("PROGRAM_CLOSED", "the credit program is closed");
      if (cap !== null && cap !== cur.limit_minor) {
        await writeMovement(tx, [{
          entryId: randomUUID(), kind: JournalEntryKind.LIMIT_CHANGE, currency: cur.currency,
          description: `program cap ${cur.limit_minor} → ${cap}: ${reason}`, actorId: viewer.actorId,
          postings: limitChangePostings([id], cap - cur.limit_minor),
        }], now);
      }
      if (req.close || cap === cur.limit_minor) {
        // A change with no money moved still moves the version, so a stale copy is refused.
        await tx.query(
          `UPDATE credit.lines SET version = version + 1, update_time = $2, status = CASE WHEN $3 THEN 'CLOSED' ELSE status END,
                  close_time = CASE WHEN $3 THEN $2 ELSE close_time END, status_reason = CASE WHEN $3 THEN $4 ELSE status_reason END
            WHERE line_id = $1`,
          [id, now, req.close, reason],
        );
      }
      const saved = await programs.getProgram(tx, id);
      return create(UpdateCreditProgramResponseSchema, { creditProgram: toProto(saved!) });
    });
  };
}
