// VerifyDocument (`/kyc/documents/{id}/verify`): a reviewer approves or rejects a PENDING
// document. The decision, who and when, and the owner's notification (outbox row) are
// written in one transaction; the conditional UPDATE lets exactly one of two concurrent
// reviews win.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { Decision, DocumentType, VerifyDocumentResponseSchema, type VerifyDocumentRequest } from "../../gen/fuel/kyc/v1/kyc_pb.js";
import { withTx } from "../../platform/db.js";
import { failedPrecondition, notFound } from "../../platform/errors.js";
import { log } from "../../platform/logger.js";
import * as v from "../../platform/validate.js";
import { actorId, callerOf } from "./access.js";
import { documentToProto } from "./convert.js";
import type { KycContext } from "./context.js";
import { enqueueInApp, type InAppMessage } from "./outbox.js";
import { overallStatusOf } from "./status.js";
import * as store from "./store.js";

const TYPE_LABEL: Record<number, string> = {
  [DocumentType.NATIONAL_ID]: "national ID",
  [DocumentType.DRIVER_LICENSE]: "driving licence",
  [DocumentType.VEHICLE_REGISTRATION]: "vehicle registration",
  [DocumentType.BUSINESS_REGISTRATION]: "business registration",
  [DocumentType.TAX_CERTIFICATE]: "tax certificate",
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The in-app message telling the owner about a decision. Pure. */
export function decisionMessage(userId: string, doc: Pick<store.DocumentRow, "document_type" | "status" | "review_reason">): InAppMessage {
  const label = TYPE_LABEL[doc.document_type] ?? "KYC";
  if (doc.status === "APPROVED") {
    return { userId, kind: "KYC_DOCUMENT_APPROVED", title: "Document approved", body: `Your ${label} document was approved.` };
  }
  return {
    userId,
    kind: "KYC_DOCUMENT_REJECTED",
    title: "Document rejected",
    body: `Your ${label} document was rejected: ${doc.review_reason}. Please upload a new one.`,
  };
}

export const verifyDocument = (deps: KycContext) => async (req: VerifyDocumentRequest, ctx: HandlerContext) => {
  const documentId = v.uuid("document_id", req.documentId);
  const decision = v.enumValue("decision", req.decision, Decision);
  const reason =
    decision === Decision.REJECT ? v.text("reason", req.reason, 3, 500) : req.reason.trim() === "" ? "" : v.text("reason", req.reason, 1, 500);
  const reviewer = actorId(callerOf(ctx));

  const { doc, overall, notified } = await withTx(deps.pool, async (tx) => {
    const doc = await store.decideDocument(tx, documentId, decision === Decision.APPROVE ? "APPROVED" : "REJECTED", reviewer, reason, deps.now());
    if (!doc) {
      const existing = await store.getDocument(tx, documentId);
      if (!existing) throw notFound("document");
      throw failedPrecondition("DOCUMENT_ALREADY_REVIEWED", "the document has already been reviewed", { status: existing.status });
    }
    // Driver documents notify the driver's user; agency documents the admin who uploaded.
    const recipient = doc.driver_id ? await store.driverUserId(tx, doc.driver_id) : doc.uploaded_by;
    let notified = false;
    if (recipient && UUID.test(recipient)) {
      await enqueueInApp(tx, decisionMessage(recipient, doc));
      notified = true;
    }
    const owner: store.OwnerRef = doc.driver_id ? { kind: "driver", id: doc.driver_id } : { kind: "agency", id: doc.agency_id! };
    return { doc, overall: await overallStatusOf(tx, owner), notified };
  });
  if (notified) deps.relay.wake();
  log.info({ document_id: documentId, decision: Decision[decision] }, "kyc document reviewed");
  return create(VerifyDocumentResponseSchema, { document: documentToProto(doc), overall: overall.overall });
};
