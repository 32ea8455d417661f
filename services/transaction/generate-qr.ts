// GenerateQrCode (driver): a signed, single-use, short-lived payload naming the driver and
// the optional restrictions, stored so Authorize can consume it exactly once; rendered as
// PNG or SVG on request.
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code, type HandlerContext } from "@connectrpc/connect";
import { FuelType } from "../../gen/fuel/common/v1/common_pb.js";
import { KycOverallStatus, ProfileStatus, type Driver } from "../../gen/fuel/kyc/v1/kyc_pb.js";
import {
  GenerateQrCodeResponseSchema,
  QrImageFormat,
  type GenerateQrCodeRequest,
  type GenerateQrCodeResponse,
} from "../../gen/fuel/transaction/v1/transaction_pb.js";
import { principalOf } from "../../platform/context.js";
import { failedPrecondition, invalidArgument, permissionDenied } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { moneyIn } from "./common.js";
import { qrToProto } from "./convert.js";
import * as hops from "./hops.js";
import { HopRefused } from "./hops.js";
import { encodeQr } from "./qr-payload.js";
import type { TransactionSettings } from "./settings.js";
import * as store from "./store.js";

export async function renderQr(payload: string, format: QrImageFormat, sizePx: number): Promise<{ bytes: Uint8Array; mime: string } | undefined> {
  if (format === QrImageFormat.PNG) {
    const QRCode = await qrcode();
    const png = await QRCode.toBuffer(payload, { type: "png", width: sizePx, margin: 2, errorCorrectionLevel: "M" });
    return { bytes: new Uint8Array(png), mime: "image/png" };
  }
  if (format === QrImageFormat.SVG) {
    const QRCode = await qrcode();
    const svg = await QRCode.toString(payload, { type: "svg", margin: 2, errorCorrectionLevel: "M" });
    return { bytes: new TextEncoder().encode(svg), mime: "image/svg+xml" };
  }
  return undefined;
}

export function generateQrCode(deps: ServiceDeps, s: TransactionSettings, qrKey: Buffer) {
  return async (req: GenerateQrCodeRequest, ctx: HandlerContext): Promise<GenerateQrCodeResponse> => {
    const p = principalOf(ctx);
    if (!p.driverId) throw permissionDenied("NOT_A_DRIVER", "only a driver account can issue a QR code");
    const driverId = v.uuid("driver_id", p.driverId);
    const fuelType = req.fuelType === FuelType.UNSPECIFIED ? 0 : v.enumValue("fuel_type", req.fuelType, FuelType);
    const max = req.maxAmount ? moneyIn("max_amount", req.maxAmount, 1n) : null;
    const stationId = v.optionalUuid("station_id", req.stationId);
    if (req.ttlSeconds !== 0) v.intRange("ttl_seconds", req.ttlSeconds, 30, 900);
    const ttl = req.ttlSeconds || s.qrTtlSeconds;
    const format = req.imageFormat === QrImageFormat.UNSPECIFIED ? QrImageFormat.UNSPECIFIED : v.enumValue("image_format", req.imageFormat, QrImageFormat);
    if (req.imageSizePx !== 0) v.intRange("image_size_px", req.imageSizePx, 128, 1024);
    const sizePx = req.imageSizePx || 512;

    await deps.limits.consume("transaction-qr", driverId, s.qrPerMinute, 60, "QR_RATE_LIMITED");

    let driver: Driver | null = null;
    try {
      driver = await hops.getDriver(deps, driverId);
    } catch (err) {
      if (!(err instanceof HopRefused && err.code === Code.NotFound)) throw err;
    }
    if (!driver || driver.status !== ProfileStatus.ACTIVE) throw failedPrecondition("DRIVER_INACTIVE", "the driver account is not active");
    if (driver.kycStatus !== KycOverallStatus.VERIFIED) throw failedPrecondition("KYC_NOT_VERIFIED", "the driver's KYC is not verified");
    if (!(await hops.driverHasLine(deps, driverId))) throw failedPrecondition("NO_CREDIT_LINE", "the driver has no open credit line");

    const now = deps.now();
    const qrCodeId = randomUUID();
    const expireUnix = Math.floor(now.getTime() / 1000) + ttl;
    const payload = encodeQr(qrKey, {
      qrCodeId, driverId, expireUnix, fuelType,
      maxAmount: max ? { amount: max.amount, currency: max.currency } : null,
      stationId,
    });
    if (payload.length > 1024) throw invalidArgument("max_amount", "makes the payload too long");
    const row = await store.insertQr(deps.pool, {
      qr_code_id: qrCodeId,
      driver_id: driverId,
      payload,
      fuel_type: fuelType,
      max_amount: max?.amount ?? null,
      currency: max?.currency ?? null,
      station_id: stationId,
      expire_time: new Date(expireUnix * 1000),
      create_time: now,
    });
    const image = await renderQr(payload, format, sizePx);
    return create(GenerateQrCodeResponseSchema, { qrCode: qrToProto(row, now, image) });
  };
}

/** The renderer is loaded on the first request for an image (most terminals read the payload). */
const qrcode = async () => (await import("qrcode")).default;
