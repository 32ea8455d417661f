// DecideAgencyMembership: an agency admin (or a system admin) accepts or refuses a
// driver's request to join the agency. The decision, who and when, and the driver's
// notification (outbox row) are written in one transaction; the conditional UPDATE lets
// exactly one of two concurrent decisions win. Another agency's admin learns nothing: the
// answer is the one for a request that does not exist.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import {
  DecideAgencyMembershipResponseSchema,
  MembershipDecision,
  type DecideAgencyMembershipRequest,
} from "../../gen/fuel/kyc/v1/kyc_pb.js";
import { withTx } from "../../platform/db.js";
import { failedPrecondition, notFound } from "../../platform/errors.js";
import { log } from "../../platform/logger.js";
import * as v from "../../platform/validate.js";
import { actorId, callerOf, mayDecideForAgency } from "./access.js";
import { driverToProto } from "./convert.js";
import type { KycContext } from "./context.js";
import { enqueueInApp, type InAppMessage } from "./outbox.js";
import { overallStatusOf } from "./status.js";
import * as store from "./store.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The in-app message telling the driver the agency's answer. Pure. */
export function membershipMessage(userId: string, agencyName: string, d: { status: "ACCEPTED" | "REJECTED"; reason: string }): InAppMessage {
  if (d.status === "ACCEPTED") {
    return { userId, kind: "AGENCY_MEMBERSHIP_ACCEPTED", title: "Agency membership accepted", body: `${agencyName} accepted you as one of its drivers.` };
  }
  return {
    userId,
    kind: "AGENCY_MEMBERSHIP_REJECTED",
    title: "Agency membership declined",
    body: `${agencyName} declined your request to join: ${d.reason}.`,
  };
}

export const decideAgencyMembership = (deps: KycContext) => async (req: DecideAgencyMembershipRequest, ctx: HandlerContext) => {
  const driverId = v.uuid("driver_id", req.driverId);
  const agencyId = v.uuid("agency_id", req.agencyId);
  const decision = v.enumValue("decision", req.decision, MembershipDecision);
  const reason =
    decision === MembershipDecision.REJECT ? v.text("reason", req.reason, 3, 500) : req.reason.trim() === "" ? "" : v.text("reason", req.reason, 1, 500);
  const c = callerOf(ctx);
  if (!mayDecideForAgency(c, agencyId)) throw notFound("membership request");
  const status = decision === MembershipDecision.ACCEPT ? "ACCEPTED" : "REJECTED";

  const { row, notified } = await withTx(deps.pool, async (tx) => {
    const row = await store.decideMembership(tx, { driverId, agencyId, status, decidedBy: actorId(c), reason, now: deps.now() });
    if (!row) {
      const existing = await store.getDriver(tx, driverId);
      if (!existing || existing.membership_agency_id !== agencyId) throw notFound("membership request");
      throw failedPrecondition("MEMBERSHIP_ALREADY_DECIDED", "the request has already been decided", { status: existing.membership_status ?? "" });
    }
    const agency = await store.getAgency(tx, agencyId);
    let notified = false;
    if (row.user_id && UUID.test(row.user_id)) {
      await enqueueInApp(tx, membershipMessage(row.user_id, agency?.name ?? "The agency", { status, reason }));
      notified = true;
    }
    return { row, notified };
  });
  if (notified) deps.relay.wake();
  log.info({ driver_id: driverId, agency_id: agencyId, decision: MembershipDecision[decision] }, "agency membership decided");
  const kyc = await overallStatusOf(deps.pool, { kind: "driver", id: driverId });
  return create(DecideAgencyMembershipResponseSchema, { driver: driverToProto(row, kyc.overall) });
};
