// The borrower notices LoanService sends (in-app, through the outbox).
import { decimalString, moneyText } from "../../platform/money-text.js";
import type { Notice } from "./aging-rule.js";
import type { NotifyPayload } from "./outbox.js";
import type { LoanRow } from "./store.js";

export function noticeFor(kind: Notice | "OPENED" | "PAID_OFF", loan: LoanRow, totalOutstanding: bigint): NotifyPayload {
  // The due instant to the minute, in UTC and saying so: the loan service does not know
  // the borrower's time zone, and a bare date would be a day off for part of the day.
  const due = `${loan.due_time.toISOString().slice(0, 16).replace("T", " ")} UTC`;
  const amount = (minor: bigint) => moneyText(minor, loan.currency);
  switch (kind) {
    case "OPENED": {
      // The borrower's copy of the terms, sent with the loan: what was bought on credit,
      // what it costs, and by when it is due.
      const rate = `${decimalString(BigInt(loan.daily_interest_bps), 2)}%`;
      return {
        driverId: loan.driver_id,
        kind: "LOAN_OPENED",
        title: "Fuel bought on credit",
        body: `Your fuel purchase of ${amount(loan.principal)} is now a loan. Fee ${amount(loan.fee)}; interest ${rate} a day on the principal outstanding; due on ${due}. Outstanding now: ${amount(totalOutstanding)}.`,
      };
    }
    case "DUE_REMINDER":
      return { driverId: loan.driver_id, kind: "LOAN_DUE_REMINDER", title: "Fuel loan due soon", body: `Your fuel loan of ${amount(loan.principal)} is due on ${due}. Outstanding: ${amount(totalOutstanding)}.` };
    case "OVERDUE":
      return { driverId: loan.driver_id, kind: "LOAN_OVERDUE", title: "Fuel loan overdue", body: `Your fuel loan was due on ${due} and is overdue. Outstanding: ${amount(totalOutstanding)}. Interest keeps accruing until it is repaid.` };
    case "DEFAULTED":
      return { driverId: loan.driver_id, kind: "LOAN_DEFAULTED", title: "Fuel loan in default", body: `Your fuel loan due on ${due} is now in default. Outstanding: ${amount(totalOutstanding)}. Please repay or contact your bank.` };
    case "PAID_OFF":
      return { driverId: loan.driver_id, kind: "LOAN_PAID_OFF", title: "Fuel loan repaid", body: `Your fuel loan of ${amount(loan.principal)} is fully repaid. Thank you.` };
  }
}
