// Rows → protobuf messages.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Money } from "../../gen/fuel/common/v1/common_pb.js";
import { MoneySchema } from "../../gen/fuel/common/v1/common_pb.js";
import {
  FuelTransactionSchema,
  QrCodeSchema,
  QrCodeStatus,
  type FuelTransaction,
  type QrCode,
} from "../../gen/fuel/transaction/v1/transaction_pb.js";
import { DeclineAdvice } from "../../gen/fuel/credit/v1/credit_line_pb.js";
import { adviceFor } from "../../platform/decline-advice.js";
import { publicStatus } from "./state.js";
import type { QrRow, TxnRow } from "./store.js";

export const money = (amountMinor: bigint, currency: string): Money => create(MoneySchema, { amountMinor, currency });
const ts = (d: Date | null | undefined) => (d ? timestampFromDate(d) : undefined);

export function txnToProto(r: TxnRow): FuelTransaction {
  return create(FuelTransactionSchema, {
    transactionId: r.transaction_id,
    status: publicStatus(r.state),
    driverId: r.driver_id,
    agencyId: r.agency_id ?? "",
    bankId: r.bank_id ?? "",
    creditLineId: r.credit_line_id ?? "",
    stationId: r.station_id,
    merchantId: r.merchant_id,
    pumpId: r.pump_id,
    qrCodeId: r.qr_code_id,
    fuelType: r.fuel_type,
    requestedAmount: money(r.requested_amount, r.currency),
    approvedAmount: money(r.approved_amount, r.currency),
    partiallyApproved: r.partially_approved,
    declineReason: r.decline_reason,
    declineAdvice: r.state === "DECLINED" ? adviceFor(r.decline_reason) : DeclineAdvice.UNSPECIFIED,
    holdId: r.hold_id ?? "",
    holdExpireTime: ts(r.hold_expire_time),
    authorizedPriceMinorPerLitre: r.authorized_price,
    approvedVolumeMl: r.approved_volume_ml,
    requestedVolumeMl: r.requested_volume_ml,
    // Settlement figures are shown once the money moved (CAPTURED/SETTLED), not while the
    // capture is only intended.
    settledVolumeMl: settled(r) ? r.settled_volume_ml : 0n,
    settledPriceMinorPerLitre: settled(r) ? r.settled_price : 0n,
    settledAmount: settled(r) && r.settled_amount !== null ? money(r.settled_amount, r.currency) : undefined,
    releasedAmount: r.released_amount !== null ? money(r.released_amount, r.currency) : undefined,
    loanId: r.loan_id ?? "",
    terminalReference: r.terminal_reference,
    voidReason: r.void_reason,
    createTime: ts(r.create_time),
    authorizeTime: ts(r.authorize_time),
    settleTime: settled(r) ? ts(r.settle_time) : undefined,
    cancelTime: ts(r.cancel_time),
    updateTime: ts(r.update_time),
  });
}

const settled = (r: TxnRow) => r.state === "CAPTURED" || r.state === "SETTLED";

export function qrToProto(r: QrRow, now: Date, image?: { bytes: Uint8Array; mime: string }): QrCode {
  const status = r.status === "USED" ? QrCodeStatus.USED : r.expire_time.getTime() <= now.getTime() ? QrCodeStatus.EXPIRED : QrCodeStatus.ACTIVE;
  return create(QrCodeSchema, {
    qrCodeId: r.qr_code_id,
    driverId: r.driver_id,
    payload: r.payload,
    image: image?.bytes ?? new Uint8Array(),
    imageMimeType: image?.mime ?? "",
    fuelType: r.fuel_type,
    maxAmount: r.max_amount !== null && r.currency ? money(r.max_amount, r.currency) : undefined,
    stationId: r.station_id ?? "",
    status,
    expireTime: ts(r.expire_time),
    createTime: ts(r.create_time),
    transactionId: r.transaction_id ?? "",
  });
}
