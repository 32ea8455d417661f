// KYC review: who is waiting (drivers and agencies whose KYC is PENDING), their pending
// documents with the images inline, and approve or reject with a reason.
// KycService has no cross-owner "pending documents" list, so the queue is read from
// ListDrivers and ListAgencies (their kyc_status), a bounded number of pages.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Decision, DocumentStatus, DocumentTypeSchema, KycOverallStatus, KycOverallStatusSchema, KycService, type KycDocument, type Owner } from "../../../gen/fuel/kyc/v1/kyc_pb.js";
import { kyc, may } from "../api.js";
import { emptyNote, field, form, h, panel, replace } from "../dom.js";
import { describeError, errorBox, InputError } from "../errors.js";
import { named, when } from "../format.js";

const PAGE = 200;
/** At most this many pages of drivers (and of agencies) are read to build the queue. */
const MAX_PAGES = 5;
const MAX_IMAGE_BYTES = 10 * 1024 * 1024;

interface Waiting {
  owner: Owner["owner"];
  name: string;
  since?: Date;
}

async function queue(): Promise<{ items: Waiting[]; truncated: boolean }> {
  const items: Waiting[] = [];
  let truncated = false;
  let token = "";
  for (let i = 0; i < MAX_PAGES; i++) {
    const r = await kyc.listDrivers({ pageSize: PAGE, pageToken: token });
    for (const d of r.drivers) {
      if (d.kycStatus === KycOverallStatus.PENDING) items.push({ owner: { case: "driverId", value: d.driverId }, name: `${d.fullName} (driver, ${d.phoneMasked})`, since: d.createTime && timestampDate(d.createTime) });
    }
    token = r.nextPageToken;
    if (!token) break;
    if (i === MAX_PAGES - 1) truncated = true;
  }
  token = "";
  for (let i = 0; i < MAX_PAGES; i++) {
    const r = await kyc.listAgencies({ pageSize: PAGE, pageToken: token });
    for (const a of r.agencies) {
      if (a.kycStatus === KycOverallStatus.PENDING) items.push({ owner: { case: "agencyId", value: a.agencyId }, name: `${a.name} (agency)`, since: a.createTime && timestampDate(a.createTime) });
    }
    token = r.nextPageToken;
    if (!token) break;
    if (i === MAX_PAGES - 1) truncated = true;
  }
  return { items, truncated };
}

/** The document's bytes as an image, or a download link for a PDF. */
function preview(doc: KycDocument): HTMLElement {
  const box = h("div", { class: "preview" });
  if (doc.sizeBytes > BigInt(MAX_IMAGE_BYTES)) return h("p", { class: "muted" }, "Too large to preview.");
  void panel(box, () => kyc.getDocumentContent({ documentId: doc.documentId }), (r) => {
    const blob = new Blob([r.content as BlobPart], { type: doc.contentType });
    const url = URL.createObjectURL(blob);
    const label = `${named(DocumentTypeSchema, doc.documentType)} of the applicant`;
    if (doc.contentType === "image/png" || doc.contentType === "image/jpeg") return h("img", { src: url, alt: label });
    return h("a", { href: url, download: doc.fileName || "document.pdf" }, `Download the PDF (${doc.fileName || "document"})`);
  });
  return box;
}

function documentCard(doc: KycDocument, onDecided: (overall: KycOverallStatus) => void): HTMLElement {
  const state = h("p", { class: "state" }, "Pending review");
  const reason = h("input", { name: "reason", maxlength: 500, placeholder: "Required to reject; optional to approve" });
  const actions = h("div", { class: "decide" });
  const decide = (decision: Decision) => async (d: FormData) => {
    const why = String(d.get("reason") ?? "").trim();
    if (decision === Decision.REJECT && why.length < 3) throw new InputError("Give a reason (at least 3 characters) to reject.");
    const r = await kyc.verifyDocument({ documentId: doc.documentId, decision, reason: why });
    replace(state, decision === Decision.APPROVE ? "Approved" : `Rejected: ${why}`);
    state.className = `state ${decision === Decision.APPROVE ? "ok" : "bad"}`;
    replace(actions);
    onDecided(r.overall);
  };
  if (may(KycService.method.verifyDocument)) {
    const f = form({ class: "inline", "aria-label": `Decision on ${named(DocumentTypeSchema, doc.documentType)}` }, [field("Reason", reason)], "Approve", decide(Decision.APPROVE));
    const reject = h("button", { type: "button", class: "danger" }, "Reject");
    reject.addEventListener("click", () => {
      const status = f.querySelector(".form-status")!;
      reject.disabled = true;
      decide(Decision.REJECT)(new FormData(f))
        .catch((err) => replace(status, errorBox(describeError(err))))
        .finally(() => (reject.disabled = false));
    });
    f.querySelector(".actions")!.appendChild(reject);
    actions.appendChild(f);
  }
  return h(
    "article",
    { class: "card doc", "data-document": doc.documentId },
    h("h3", null, named(DocumentTypeSchema, doc.documentType)),
    h("p", { class: "muted" }, `${doc.fileName || "unnamed"} · ${doc.contentType} · uploaded ${when(doc.uploadTime)}`),
    preview(doc),
    state,
    actions,
  );
}

function reviewOwner(el: HTMLElement, who: Waiting): void {
  const status = h("p", { class: "overall", "aria-live": "polite" });
  const docs = h("div", { class: "docs" });
  replace(el, h("h2", null, who.name), status, docs);
  void panel(docs, () => kyc.listDocuments({ owner: { owner: who.owner }, status: DocumentStatus.PENDING, pageSize: 50 }), (r) =>
    r.documents.length === 0
      ? emptyNote("No documents are waiting for review.")
      : r.documents.map((d) =>
          documentCard(d, (overall) => {
            replace(status, `KYC now: ${named(KycOverallStatusSchema, overall)}`);
            if (overall === KycOverallStatus.VERIFIED && who.owner.case) {
              status.appendChild(h("a", { href: `#/credit/${who.owner.case === "driverId" ? "driver" : "agency"}/${who.owner.value}` }, " Open the credit picture →"));
            }
          }),
        ),
  );
}

export function renderKyc(main: HTMLElement): void {
  const list = h("div", { class: "queue" });
  const detail = h("section", { class: "detail", "aria-label": "Documents" }, emptyNote("Choose someone from the queue."));
  replace(main, h("h1", null, "KYC review"), h("div", { class: "split" }, h("section", { "aria-label": "Queue" }, h("h2", null, "Waiting for review"), list), detail));
  void panel(list, queue, ({ items, truncated }) => [
    items.length === 0
      ? emptyNote("No one is waiting for review.")
      : h(
          "ul",
          { class: "picklist" },
          items.map((w) =>
            h("li", null, h("button", { type: "button", onclick: (e: Event) => {
              for (const b of list.querySelectorAll("button[aria-pressed]")) b.setAttribute("aria-pressed", "false");
              (e.currentTarget as HTMLElement).setAttribute("aria-pressed", "true");
              reviewOwner(detail, w);
            }, "aria-pressed": "false" }, h("span", null, w.name), w.since ? h("small", { class: "muted" }, ` since ${w.since.toLocaleDateString("en-GB")}`) : null)),
          ),
        ),
    truncated ? h("p", { class: "muted" }, `Only the newest ${MAX_PAGES * PAGE} drivers and agencies were read.`) : null,
  ]);
}

export const probeKyc = () => kyc.listDrivers({ pageSize: 1 });
