// A driver's or agency's credit picture: profile and KYC, the latest risk assessment
// (score and its reasons), the credit line (open one, or change its limit with the
// version read, a conflict shown as such), the line's holds (CreditService.ListHolds), loans
// and repayments.
import { CreditLineStatus, CreditLineStatusSchema, LimitDecreasePolicy, LimitSourceSchema, RiskCategorySchema, type CreditLine } from "../../../gen/fuel/credit/v1/credit_line_pb.js";
import { HoldStatusSchema } from "../../../gen/fuel/credit/v1/ledger_pb.js";
import { CreditService } from "../../../gen/fuel/credit/v1/credit_pb.js";
import { KycOverallStatusSchema } from "../../../gen/fuel/kyc/v1/kyc_pb.js";
import { LoanStatusSchema } from "../../../gen/fuel/loan/v1/loan_pb.js";
import { PaymentStatusSchema } from "../../../gen/fuel/payment/v1/payment_pb.js";
import { credit, kyc, loans, may, payments } from "../api.js";
import { dl, emptyNote, field, form, h, panel, replace, table } from "../dom.js";
import { describeError, errorBox, InputError } from "../errors.js";
import { money, named, parseAmount, shortId, when } from "../format.js";

type Kind = "driver" | "agency";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const LIST = 20;

const subject = (kind: Kind, id: string) => (kind === "driver" ? { driverId: id } : { agencyId: id });
const oneof = (kind: Kind, id: string) => ({ case: kind === "driver" ? ("driverId" as const) : ("agencyId" as const), value: id });

function picker(main: HTMLElement): HTMLElement {
  const kind = h("select", { name: "kind" }, h("option", { value: "driver" }, "Driver"), h("option", { value: "agency" }, "Agency"));
  const id = h("input", { name: "id", required: true, placeholder: "id (UUID)", size: 38 });
  const recent = h("div", { class: "recent" });
  void panel(recent, () => kyc.listDrivers({ pageSize: LIST }), (r) =>
    r.drivers.length === 0
      ? emptyNote("No drivers yet.")
      : h("ul", { class: "chips", "aria-label": "Newest drivers" }, r.drivers.map((d) => h("li", null, h("a", { href: `#/credit/driver/${d.driverId}` }, d.fullName)))),
  );
  return h(
    "section",
    { class: "card" },
    form({ class: "inline", "aria-label": "Find a borrower" }, [field("Borrower", kind), field("Id", id)], "Show", async (d) => {
      const v = String(d.get("id") ?? "").trim();
      if (!UUID.test(v)) throw new InputError("Enter the borrower's id (a UUID).");
      location.hash = `#/credit/${d.get("kind")}/${v}`;
    }),
    h("h2", { class: "small" }, "Newest drivers"),
    recent,
  );
}

function profile(kind: Kind, id: string): HTMLElement {
  const el = h("section", { class: "card" });
  void panel(el, async () => (kind === "driver" ? (await kyc.getDriver({ driverId: id })).driver! : (await kyc.getAgency({ agencyId: id })).agency!), (p) =>
    [
      h("h2", null, "fullName" in p ? p.fullName : p.name),
      dl([
        ["Kind", kind === "driver" ? "Driver" : "Agency"],
        ["KYC", named(KycOverallStatusSchema, p.kycStatus)],
        ["Phone", "phoneMasked" in p ? p.phoneMasked : p.contactPhoneMasked],
        ["Id", h("code", null, id)],
      ]),
    ],
  );
  return el;
}

function risk(kind: Kind, id: string): HTMLElement {
  const el = h("section", { class: "card", "aria-label": "Risk" });
  const body = h("div");
  const load = () =>
    panel(body, () => credit.listRiskAssessments({ subject: oneof(kind, id), pageSize: 1 }), (r) => {
      const a = r.assessments[0];
      if (!a) return emptyNote("Never assessed. An assessment runs when a line is opened, or now:");
      return [
        h("p", { class: "score" }, h("span", { class: "big" }, String(a.score)), " ", h("span", { class: `badge cat-${a.category}` }, named(RiskCategorySchema, a.category)), h("small", { class: "muted" }, ` assessed ${when(a.assessTime)} · scorecard ${a.scorecardVersion}`)),
        table(["Reason", "Points"], a.reasons.map((x) => [x.description, x.points > 0 ? `+${x.points}` : String(x.points)]), "Why this score"),
      ];
    });
  replace(el, h("h2", null, "Risk"), body);
  if (may(CreditService.method.assessRisk)) {
    el.appendChild(form({ class: "inline", "aria-label": "Assess now" }, [], "Assess now", async () => {
      await credit.assessRisk({ subject: oneof(kind, id) });
      await load();
    }));
  }
  void load();
  return el;
}

function lineCard(line: CreditLine, reload: () => void): HTMLElement {
  const ccy = line.currency;
  const facts = dl([
    ["Status", named(CreditLineStatusSchema, line.status)],
    ["Limit", money(line.limit)],
    ["Held", money(line.held)],
    ["Used", money(line.used)],
    ["Available", h("strong", null, money(line.available))],
    ["Limit from", named(LimitSourceSchema, line.limitSource)],
    ["Risk category", named(RiskCategorySchema, line.riskCategory)],
    ["Version", String(line.version)],
  ]);
  const card = h("article", { class: "card line", "data-line": line.creditLineId }, h("h3", null, `Credit line ${shortId(line.creditLineId)}`), facts);
  if (may(CreditService.method.updateCreditLimit)) {
    const limit = h("input", { name: "limit", inputmode: "decimal", required: true, placeholder: "e.g. 150000" });
    const reason = h("input", { name: "reason", required: true, maxlength: 500 });
    const policy = h(
      "select",
      { name: "policy" },
      h("option", { value: String(LimitDecreasePolicy.REJECT) }, "Refuse if below what is held and used"),
      h("option", { value: String(LimitDecreasePolicy.CLAMP_TO_EXPOSURE) }, "Lower only to what is held and used"),
      h("option", { value: String(LimitDecreasePolicy.ALLOW_OVER_LIMIT) }, "Allow the line over its limit"),
    );
    const conflict = h("div", { "aria-live": "polite" });
    card.appendChild(
      h(
        "details",
        null,
        h("summary", null, "Change the limit"),
        form({ "aria-label": "Change the limit" }, [field(`New limit (${ccy})`, limit), field("Reason", reason), field("If below exposure", policy)], "Save the limit", async (d) => {
          const minor = parseAmount(String(d.get("limit") ?? ""), ccy);
          if (minor === null) throw new InputError(`Enter the limit as an amount in ${ccy}, e.g. 150000.00.`);
          replace(conflict);
          try {
            await credit.updateCreditLimit({
              creditLineId: line.creditLineId,
              expectedVersion: line.version,
              limit: { amountMinor: minor, currency: ccy },
              decreasePolicy: Number(d.get("policy")) as LimitDecreasePolicy,
              reason: String(d.get("reason") ?? "").trim(),
            });
          } catch (err) {
            if (describeError(err).reason !== "VERSION_MISMATCH") throw err;
            replace(
              conflict,
              h("div", { class: "conflict", role: "alert", "data-testid": "version-conflict" },
                h("strong", null, `Version conflict: this line changed after you loaded version ${line.version}.`),
                h("p", null, "Your limit was not saved. Reload to see the line as it is now, then decide again."),
                h("button", { type: "button", onclick: reload }, "Reload the line")),
            );
            return;
          }
          reload();
        }),
        conflict,
      ),
    );
  }
  card.appendChild(holds(line));
  return card;
}

function holds(line: CreditLine): HTMLElement {
  const el = h("div", { class: "holds" });
  void panel(el, () => credit.listHolds({ creditLineId: line.creditLineId, pageSize: 10 }), (r) => [
    h("h4", null, "Recent holds"),
    r.holds.length === 0
      ? emptyNote("No holds on this line.")
      : table(["When", "Status", "Reserved", "Captured", "Transaction"], r.holds.map((x) => [
          when(x.createTime),
          named(HoldStatusSchema, x.status),
          money(x.amount),
          x.capturedAmount && x.capturedAmount.amountMinor > 0n ? money(x.capturedAmount) : "—",
          shortId(x.transactionId),
        ])),
  ]);
  return el;
}

/** `opened`: a new line brings a new assessment with it, so the whole picture is read again. */
function lines(kind: Kind, id: string, opened: () => void): HTMLElement {
  const el = h("section", { "aria-label": "Credit line" });
  const load = () =>
    void panel(el, () => credit.listCreditLines({ ...subject(kind, id), pageSize: 10 }), (r) => {
      const open = r.creditLines.filter((l) => l.status !== CreditLineStatus.CLOSED);
      const out: HTMLElement[] = [h("h2", null, "Credit line")];
      if (open.length === 0) out.push(emptyNote("No open credit line."), openLine(kind, id, opened));
      for (const l of r.creditLines) out.push(lineCard(l, load));
      return out;
    });
  load();
  return el;
}

function openLine(kind: Kind, id: string, reload: () => void): HTMLElement {
  if (!may(CreditService.method.createCreditLine)) return h("p", { class: "muted" }, "Lines are opened by the lending bank's officers.");
  const currency = h("input", { name: "currency", value: "NGN", required: true, maxlength: 3, size: 4 });
  const override = h("input", { name: "override", inputmode: "decimal", placeholder: "policy maximum" });
  const reason = h("input", { name: "reason", maxlength: 500, placeholder: "required with a limit" });
  return h(
    "div",
    { class: "card" },
    h("h3", null, "Open a line"),
    h("p", { class: "muted" }, "The limit is your bank's policy maximum for the borrower's risk category, unless you choose a lower one."),
    form({ "aria-label": "Open a line" }, [field("Currency", currency), field("Limit (optional)", override), field("Reason for the limit", reason)], "Open the line", async (d) => {
      const ccy = String(d.get("currency") ?? "").trim().toUpperCase();
      const o = String(d.get("override") ?? "").trim();
      const minor = o ? parseAmount(o, ccy) : null;
      if (o && minor === null) throw new InputError(`Enter the limit as an amount in ${ccy}.`);
      await credit.createCreditLine({
        owner: oneof(kind, id),
        currency: ccy,
        ...(minor !== null ? { limitOverride: { amountMinor: minor, currency: ccy }, overrideReason: String(d.get("reason") ?? "").trim() } : {}),
      });
      reload();
    }),
  );
}

function loanList(kind: Kind, id: string): HTMLElement {
  const el = h("section", { class: "card", "aria-label": "Loans" });
  void panel(el, () => loans.listLoans({ ...subject(kind, id), pageSize: LIST }), (r) => [
    h("h2", null, "Loans"),
    r.loans.length === 0
      ? emptyNote("No loans.")
      : table(["Disbursed", "Status", "Principal", "Outstanding", "Repaid", "Due", "Days past due"], r.loans.map((l) => [when(l.disburseTime), named(LoanStatusSchema, l.status), money(l.principal), money(l.totalOutstanding), money(l.totalRepaid), when(l.dueTime), String(l.daysPastDue)])),
  ]);
  return el;
}

function repayments(kind: Kind, id: string): HTMLElement {
  const el = h("section", { class: "card", "aria-label": "Repayments" });
  void panel(el, () => payments.listPayments({ ...subject(kind, id), pageSize: LIST }), (r) => [
    h("h2", null, "Repayments"),
    r.payments.length === 0
      ? emptyNote("No payments.")
      : table(["Created", "Status", "Amount", "Received"], r.payments.map((p) => [when(p.createTime), named(PaymentStatusSchema, p.status), money(p.amount), money(p.amountReceived)])),
  ]);
  return el;
}

export function renderCredit(main: HTMLElement, args: string[]): void {
  const [kind, id] = args;
  replace(main, h("h1", null, "Credit picture"), picker(main));
  if ((kind !== "driver" && kind !== "agency") || !id || !UUID.test(id)) return;
  main.append(h("div", { class: "grid" }, profile(kind, id), risk(kind, id)), lines(kind, id, () => renderCredit(main, args)), loanList(kind, id), repayments(kind, id));
}

export const probeCredit = () => credit.listRiskAssessments({ subject: { case: "driverId", value: "00000000-0000-4000-8000-000000000000" }, pageSize: 1 });
