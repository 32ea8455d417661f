// GetKycStatus (`/kyc/status`) and the overall-status look-ups the profiles embed.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { GetKycStatusResponseSchema, KycOverallStatus, type GetKycStatusRequest } from "../../gen/fuel/kyc/v1/kyc_pb.js";
import type { Pool, Tx } from "../../platform/db.js";
import { notFound } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import { agencyVisible, callerOf, driverScope, driverVisible, type Caller } from "./access.js";
import { DOC_STATUS } from "./convert.js";
import { overallStatus, requiredFor, type DocFact, type OverallResult } from "./kyc-status-rule.js";
import * as store from "./store.js";
import { owner as parseOwner } from "./validation.js";

const docFact = (r: store.DocFact): DocFact => ({ type: r.document_type, status: DOC_STATUS[r.status], seq: r.seq, reviewTime: r.review_time });

function facts(rows: store.DocFactRow[]): Map<string, DocFact[]> {
  const by = new Map<string, DocFact[]>();
  for (const r of rows) {
    const list = by.get(r.owner_id) ?? [];
    list.push(docFact(r));
    by.set(r.owner_id, list);
  }
  return by;
}

/** Overall KYC status of several owners of one kind, in one query. */
export async function overallOf(db: Pool | Tx, kind: store.OwnerRef["kind"], ids: string[]): Promise<Map<string, OverallResult>> {
  const by = facts(await store.latestDocFacts(db, kind, ids));
  const out = new Map<string, OverallResult>();
  for (const id of ids) out.set(id, overallStatus(requiredFor(kind), by.get(id) ?? []));
  return out;
}

/** Overall KYC status of one owner from its latest documents (already read). */
export function overallFromFacts(kind: store.OwnerRef["kind"], rows: store.DocFact[]): OverallResult {
  return overallStatus(requiredFor(kind), rows.map(docFact));
}

export async function overallStatusOf(db: Pool | Tx, owner: store.OwnerRef): Promise<OverallResult> {
  return (await overallOf(db, owner.kind, [owner.id])).get(owner.id)!;
}

/** Throws NOT_FOUND unless the owner exists and the caller may see it. */
export async function assertOwnerVisible(db: Pool | Tx, c: Caller, owner: store.OwnerRef): Promise<store.DriverRow | store.AgencyRow> {
  if (owner.kind === "driver") {
    const d = await store.getDriver(db, owner.id);
    if (!d || !driverVisible(driverScope(c), d)) throw notFound("driver");
    return d;
  }
  const a = agencyVisible(c, owner.id) ? await store.getAgency(db, owner.id) : undefined;
  if (!a) throw notFound("agency");
  return a;
}

export const getKycStatus = (deps: ServiceDeps) => async (req: GetKycStatusRequest, ctx: HandlerContext) => {
  const owner = parseOwner("owner", req.owner);
  await assertOwnerVisible(deps.pool, callerOf(ctx), owner);
  const [counts, result] = await Promise.all([store.countByStatus(deps.pool, owner), overallStatusOf(deps.pool, owner)]);
  return create(GetKycStatusResponseSchema, {
    overall: result.overall,
    pendingCount: counts.PENDING,
    approvedCount: counts.APPROVED,
    rejectedCount: counts.REJECTED,
    missingTypes: result.missing,
    verifiedTime: result.overall === KycOverallStatus.VERIFIED && result.verifiedTime ? timestampFromDate(result.verifiedTime) : undefined,
  });
};
