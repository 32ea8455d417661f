// Loan aging: open loans (active, overdue, defaulted) in buckets of days past due, with
// the count and what is outstanding per currency. LoanService has no aging report RPC,
// so the buckets are summed here from ListLoans, a bounded number of pages.
import { LoanStatus, type Loan } from "../../../gen/fuel/loan/v1/loan_pb.js";
import { loans } from "../api.js";
import { emptyNote, h, panel, replace, table } from "../dom.js";
import { minorAmount } from "../format.js";

const PAGE = 200;
const MAX_PAGES = 10;

const BUCKETS: Array<{ label: string; test: (dpd: number) => boolean }> = [
  { label: "Current", test: (d) => d === 0 },
  { label: "1–30 days", test: (d) => d >= 1 && d <= 30 },
  { label: "31–60 days", test: (d) => d >= 31 && d <= 60 },
  { label: "61–90 days", test: (d) => d >= 61 && d <= 90 },
  { label: "Over 90 days", test: (d) => d > 90 },
];

async function openLoans(): Promise<{ all: Loan[]; truncated: boolean }> {
  const all: Loan[] = [];
  let token = "";
  for (let i = 0; i < MAX_PAGES; i++) {
    const r = await loans.listLoans({ statuses: [LoanStatus.ACTIVE, LoanStatus.OVERDUE, LoanStatus.DEFAULTED], pageSize: PAGE, pageToken: token });
    all.push(...r.loans);
    token = r.nextPageToken;
    if (!token) return { all, truncated: false };
  }
  return { all, truncated: true };
}

function buckets(all: Loan[]): HTMLElement {
  const currencies = [...new Set(all.map((l) => l.currency))].sort();
  const rows = BUCKETS.map((b) => {
    const inB = all.filter((l) => b.test(l.daysPastDue));
    const sums = currencies.map((c) => inB.filter((l) => l.currency === c).reduce((s, l) => s + (l.totalOutstanding?.amountMinor ?? 0n), 0n));
    const bar = h("span", { class: "bar", "aria-hidden": "true" });
    bar.style.width = `${all.length ? Math.round((inB.length / all.length) * 100) : 0}%`;
    return [b.label, String(inB.length), ...sums.map((s, i) => minorAmount(s, currencies[i]!)), h("span", { class: "bar-track" }, bar)];
  });
  return table(["Days past due", "Loans", ...currencies.map((c) => `Outstanding (${c})`), "Share of loans"], rows, "Open loans by days past due");
}

export function renderAging(main: HTMLElement): void {
  const body = h("div");
  replace(main, h("h1", null, "Loan aging"), h("p", { class: "muted" }, "Open loans your role may see, by days past due as of the last aging run."), body);
  void panel(body, openLoans, ({ all, truncated }) => [
    all.length === 0 ? emptyNote("No open loans.") : buckets(all),
    truncated ? h("p", { class: "muted" }, `Only the newest ${PAGE * MAX_PAGES} open loans were read.`) : null,
  ]);
}

