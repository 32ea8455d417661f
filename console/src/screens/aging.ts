// Loan aging: the open loans the role may see in buckets of days past due, with the count
// and what is outstanding per currency (LoanService.GetAgingReport, computed by the
// service as of now).
import type { AgingBucket } from "../../../gen/fuel/loan/v1/loan_pb.js";
import { loans } from "../api.js";
import { emptyNote, h, panel, replace, table } from "../dom.js";
import { minorAmount, when } from "../format.js";

function label(b: AgingBucket): string {
  if (b.maxDaysPastDue === 0) return "Current";
  if (b.maxDaysPastDue < 0) return `Over ${b.minDaysPastDue - 1} days`;
  return `${b.minDaysPastDue}–${b.maxDaysPastDue} days`;
}

function buckets(all: AgingBucket[]): HTMLElement {
  const currencies = [...new Set(all.flatMap((b) => b.outstanding.map((m) => m.currency)))].sort();
  const total = all.reduce((n, b) => n + b.loanCount, 0n);
  const rows = all.map((b) => {
    const bar = h("span", { class: "bar", "aria-hidden": "true" });
    bar.style.width = `${total > 0n ? Number((b.loanCount * 100n) / total) : 0}%`;
    const sums = currencies.map((c) => minorAmount(b.outstanding.find((m) => m.currency === c)?.amountMinor ?? 0n, c));
    return [label(b), String(b.loanCount), ...sums, h("span", { class: "bar-track" }, bar)];
  });
  return table(["Days past due", "Loans", ...currencies.map((c) => `Outstanding (${c})`), "Share of loans"], rows, "Open loans by days past due");
}

export function renderAging(main: HTMLElement): void {
  const body = h("div");
  replace(main, h("h1", null, "Loan aging"), h("p", { class: "muted" }, "Open loans your role may see, by days past due as of now."), body);
  void panel(body, () => loans.getAgingReport({}), (r) => [
    r.buckets.every((b) => b.loanCount === 0n) ? emptyNote("No open loans.") : buckets(r.buckets),
    h("p", { class: "muted" }, `As of ${when(r.asOfTime)}.`),
  ]);
}
