// The platform's administration: banks, merchants and staff users (list and create), the
// ledger audit (CreditService.VerifyLedger), and the outboxes (GetOutboxStatus of each
// service that owns one).
import { Role } from "../../../gen/fuel/common/v1/common_pb.js";
import { LedgerAccountSchema } from "../../../gen/fuel/credit/v1/ledger_pb.js";
import { auth, credit, kyc, loans, notifications, payments, transactions } from "../api.js";
import { dl, emptyNote, field, form, h, panel, replace, table } from "../dom.js";
import { InputError } from "../errors.js";
import { money, named, when } from "../format.js";
import { roleName } from "../roles.js";

const PAGE = 50;

function section(title: string, id: string): [HTMLElement, HTMLElement] {
  const body = h("div");
  return [h("section", { class: "card", id, "aria-labelledby": `${id}-h` }, h("h2", { id: `${id}-h` }, title), body), body];
}

function banks(): HTMLElement {
  const [el, body] = section("Banks", "banks");
  const list = h("div");
  const load = () => void panel(list, () => kyc.listBanks({ pageSize: PAGE }), (r) => (r.banks.length === 0 ? emptyNote("No banks yet.") : table(["Name", "Code", "Currency", "Id", "Created"], r.banks.map((b) => [b.name, b.code, b.currency, h("code", null, b.bankId), when(b.createTime)]))));
  replace(
    body,
    list,
    h("details", null, h("summary", null, "Add a bank"), form({ "aria-label": "Add a bank" }, [field("Name", h("input", { name: "name", required: true, maxlength: 100 })), field("Code", h("input", { name: "code", required: true, maxlength: 16, placeholder: "e.g. GTBNG" })), field("Currency", h("input", { name: "currency", required: true, value: "NGN", maxlength: 3 }))], "Add the bank", async (d) => {
      await kyc.createBank({ name: String(d.get("name")).trim(), code: String(d.get("code")).trim().toUpperCase(), currency: String(d.get("currency")).trim().toUpperCase() });
      load();
    })),
  );
  load();
  return el;
}

function merchants(): HTMLElement {
  const [el, body] = section("Merchants", "merchants");
  const list = h("div");
  const load = () => void panel(list, () => kyc.listMerchants({ pageSize: PAGE }), (r) => (r.merchants.length === 0 ? emptyNote("No merchants yet.") : table(["Name", "Registration", "Contact", "Id"], r.merchants.map((m) => [m.name, m.registrationNumber, m.contactEmail, h("code", null, m.merchantId)]))));
  replace(
    body,
    list,
    h("details", null, h("summary", null, "Add a merchant"), form({ "aria-label": "Add a merchant" }, [field("Name", h("input", { name: "name", required: true, maxlength: 100 })), field("Registration number", h("input", { name: "reg", required: true, maxlength: 32 })), field("Contact e-mail", h("input", { name: "email", type: "email", required: true }))], "Add the merchant", async (d) => {
      await kyc.createMerchant({ name: String(d.get("name")).trim(), registrationNumber: String(d.get("reg")).trim(), contactEmail: String(d.get("email")).trim() });
      load();
    })),
  );
  load();
  return el;
}

const STAFF_ROLES = [Role.BANK_ADMIN, Role.MERCHANT_ADMIN, Role.AGENCY_ADMIN, Role.SYSTEM_ADMIN];

function users(): HTMLElement {
  const [el, body] = section("Users", "users");
  const list = h("div");
  const load = () => void panel(list, () => auth.listUsers({ pageSize: PAGE }), (r) => (r.users.length === 0 ? emptyNote("No users yet.") : table(["Name", "Phone", "Role", "Organisation", "Active", "Created"], r.users.map((u) => {
    const p = u.principal;
    return [u.displayName, u.phoneMasked, p ? roleName(p.role) : "—", (p?.bankId || p?.merchantId || p?.agencyId || p?.driverId || "").slice(0, 8) || "—", u.active ? "Yes" : "No", when(u.createTime)];
  }))));
  const role = h("select", { name: "role" }, STAFF_ROLES.map((r) => h("option", { value: String(r) }, roleName(r))));
  replace(
    body,
    list,
    h("details", null, h("summary", null, "Add a staff user"), form({ "aria-label": "Add a staff user" }, [
      field("Phone", h("input", { name: "phone", type: "tel", required: true, placeholder: "+2348012345678" })),
      field("Name", h("input", { name: "name", required: true, maxlength: 100 })),
      field("Role", role),
      field("Organisation id", h("input", { name: "org", maxlength: 36 }), "The bank, merchant or agency; empty for a system admin"),
    ], "Add the user", async (d) => {
      const r = Number(d.get("role")) as Role;
      const org = String(d.get("org") ?? "").trim();
      if (r !== Role.SYSTEM_ADMIN && !org) throw new InputError(`A ${roleName(r)} belongs to an organisation: enter its id.`);
      await auth.createUser({ phone: String(d.get("phone")).trim(), displayName: String(d.get("name")).trim(), role: r, organizationId: org });
      load();
    })),
  );
  load();
  return el;
}

function ledger(): HTMLElement {
  const [el, body] = section("Ledger audit", "ledger");
  const result = h("div", { "aria-live": "polite" });
  replace(
    body,
    h("p", { class: "muted" }, "Recomputes every credit line from its postings and compares with the cached counters. Reads a snapshot; changes nothing."),
    form({ class: "inline", "aria-label": "Run the ledger audit" }, [], "Run the audit", async () => {
      await panel(result, () => credit.verifyLedger({}), (r) => [
        h("p", { class: r.consistent ? "ok big-line" : "bad big-line", "data-testid": "ledger-result" }, r.consistent ? "Consistent" : "Differences found"),
        dl([
          ["Lines checked", String(r.linesChecked)],
          ["Entries checked", String(r.entriesChecked)],
          ["As of", when(r.asOfTime)],
          ["Unbalanced entries", String(r.unbalancedEntryIds.length)],
          ["Holds that disagree", String(r.inconsistentHoldIds.length)],
        ]),
        r.differences.length ? table(["Line", "Account", "Cached", "From postings"], r.differences.map((x) => [x.creditLineId.slice(0, 8), named(LedgerAccountSchema, x.account), money(x.cached), money(x.computed)])) : null,
      ]);
    }),
    result,
  );
  return el;
}

/** Each service's outbox, read by its own GetOutboxStatus (one call each, side by side). */
const OUTBOX_READS = [
  () => kyc.getOutboxStatus({}),
  () => loans.getOutboxStatus({}),
  () => payments.getOutboxStatus({}),
  () => notifications.getOutboxStatus({}),
  () => transactions.getOutboxStatus({}),
];

/** "4 min" for an age in whole seconds; "—" when nothing waits. */
function age(seconds: bigint): string {
  const s = Number(seconds);
  if (s === 0) return "—";
  if (s < 120) return `${s} s`;
  if (s < 7_200) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3_600)} h`;
}

function outboxes(): HTMLElement {
  const [el, body] = section("Outboxes", "outboxes");
  const list = h("div", { "aria-live": "polite" });
  const load = () => void panel(list, async () => (await Promise.all(OUTBOX_READS.map((read) => read()))).map((r) => r.status!), (all) => [
    table(["Outbox", "Waiting", "Oldest waiting", "Given up"], all.map((s) => [
      s.outbox,
      String(s.backlog),
      age(s.oldestAgeSeconds),
      h("span", { class: s.givenUp > 0n ? "bad" : "", "data-testid": `given-up-${s.outbox}` }, String(s.givenUp)),
    ])),
    all.some((s) => s.givenUp > 0n) ? h("p", { class: "bad" }, "Rows given up on need a person: the owning service's logs name each row and its last error.") : null,
  ]);
  replace(
    body,
    h("p", { class: "muted" }, "Work each service has decided and recorded but not yet delivered: notices, credit restores, repayments. Every replica of a service reads the same table."),
    form({ class: "inline", "aria-label": "Read the outboxes again" }, [], "Refresh", async () => load()),
    list,
  );
  load();
  return el;
}

export function renderAdmin(main: HTMLElement): void {
  replace(
    main,
    h("h1", null, "Administration"),
    banks(),
    merchants(),
    users(),
    ledger(),
    outboxes(),
  );
}

export const probeAdmin = () => kyc.listBanks({ pageSize: 1 });
