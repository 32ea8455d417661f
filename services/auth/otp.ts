// OTP login. RequestOtp / VerifyOtp serve every registered user; CustomerRequestOtp /
// CustomerVerifyOtp serve the customer app, where an unregistered phone ends with an
// onboarding token instead of a session. Unknown phones get the same answer after the
// same work (HMAC, Redis writes, quota spend); the SMS is queued without waiting for it,
// so response time does not depend on whether a message went out.
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext } from "@connectrpc/connect";
import {
  CustomerRequestOtpResponseSchema,
  CustomerVerifyOtpResponseSchema,
  RequestOtpResponseSchema,
  VerifyOtpResponseSchema,
  type CustomerRequestOtpRequest,
  type CustomerVerifyOtpRequest,
  type RequestOtpRequest,
  type VerifyOtpRequest,
} from "../../gen/fuel/auth/v1/auth_pb.js";
import { NotificationService } from "../../gen/fuel/notification/v1/notification_pb.js";
import { callInfo } from "../../platform/context.js";
import { invalidArgument, permissionDenied, resourceExhausted, unauthenticated } from "../../platform/errors.js";
import { log } from "../../platform/logger.js";
import type { ServiceDeps } from "../../platform/service.js";
import { ONBOARDING_TOKEN_TYP } from "../../platform/tokens.js";
import { phone as phoneField } from "../../platform/validate.js";
import type { SigningKeys } from "./keys.js";
import { OTP_SENDS_PER_IP, OTP_SENDS_PER_PHONE, OTP_VERIFIES_PER_IP } from "./limits.js";
import { CODE_PATTERN, OTP_RESEND_COOLDOWN_S, OTP_TTL_MS, smsBody } from "./otp-code.js";
import { OtpStore } from "./otp-store.js";
import type { Sessions } from "./session.js";
import type { AuthSettings } from "./settings.js";
import * as store from "./store.js";

export const ONBOARDING_TOKEN_TTL_S = 15 * 60;
const SMS_HOP_TIMEOUT_MS = 10_000;

type Audience = "staff" | "customer";

export class OtpLogin {
  readonly otp: OtpStore;

  constructor(
    private readonly deps: ServiceDeps,
    settings: AuthSettings,
    private readonly sessions: Sessions,
    private readonly keys: SigningKeys,
  ) {
    this.otp = new OtpStore(deps.kv, settings.otpHmacKey, deps.now);
  }

  /** Issues a code; sends it when `audience` allows this phone. Same answer either way. */
  async request(rawPhone: string, ctx: HandlerContext, audience: Audience) {
    const phone = phoneField("phone", rawPhone);
    const { clientIp } = callInfo(ctx);
    const pk = this.otp.phoneKey(phone);
    const wait = await this.otp.cooldownRemainingMs(pk);
    if (wait > 0) throw resourceExhausted("OTP_RATE_LIMITED", "a code was sent moments ago; wait before asking again", wait);
    const { limits } = this.deps;
    await limits.consume(OTP_SENDS_PER_IP.name, clientIp || "unknown", OTP_SENDS_PER_IP.points, OTP_SENDS_PER_IP.durationS, "OTP_RATE_LIMITED");
    await limits.consume(OTP_SENDS_PER_PHONE.name, pk, OTP_SENDS_PER_PHONE.points, OTP_SENDS_PER_PHONE.durationS, "OTP_RATE_LIMITED");

    const user = await store.userByPhone(this.deps.pool, phone);
    // Unknown phones get a code too (nobody receives it), so the work and the Redis
    // writes are the same whether or not the phone is registered.
    const code = await this.otp.issue(pk);
    const deliver = audience === "customer" || (user !== undefined && user.active);
    if (deliver) this.sendSms(phone, code, user?.user_id ?? "");
    return { expiresInSeconds: OTP_TTL_MS / 1000, resendAfterSeconds: OTP_RESEND_COOLDOWN_S };
  }

  /** Checks the code; returns the user (or null for an unregistered phone) once accepted. */
  async verify(rawPhone: string, rawCode: string, ctx: HandlerContext, audience: Audience): Promise<{ user: store.UserRow | null; phone: string }> {
    const phone = phoneField("phone", rawPhone);
    if (!CODE_PATTERN.test(rawCode)) throw invalidArgument("code", "must be the 6 digits received by SMS");
    const { clientIp } = callInfo(ctx);
    await this.deps.limits.consume(OTP_VERIFIES_PER_IP.name, clientIp || "unknown", OTP_VERIFIES_PER_IP.points, OTP_VERIFIES_PER_IP.durationS, "OTP_RATE_LIMITED");

    const pk = this.otp.phoneKey(phone);
    const user = (await store.userByPhone(this.deps.pool, phone)) ?? null;
    const result = await this.otp.check(pk, rawCode);
    if (!result.ok) throw otpInvalid();
    // Staff login knows only registered users; the answer is the same as a wrong code.
    if (audience === "staff" && !user) throw otpInvalid();
    // Staff accounts log in through VerifyOtp; the code stays usable there.
    if (audience === "customer" && user && user.role !== "DRIVER") {
      throw permissionDenied("NOT_A_CUSTOMER", "this phone belongs to a staff account; sign in with VerifyOtp");
    }
    if (!(await this.otp.consume(pk, result.id))) throw otpInvalid(); // someone else used it first
    if (user && !user.active) throw unauthenticated("USER_DISABLED", "user is disabled");
    return { user, phone };
  }

  /** A short-lived JWT proving `phone`, for KycService.OnboardDriver. */
  async onboardingToken(phone: string): Promise<string> {
    const { cfg } = this.deps;
    const { token } = await this.keys.sign({ phone }, {
      typ: ONBOARDING_TOKEN_TYP,
      subject: randomUUID(),
      issuer: cfg.jwtIssuer,
      audience: cfg.jwtAudience,
      ttlSeconds: ONBOARDING_TOKEN_TTL_S,
    });
    return token;
  }

  /**
   * Queues the SMS through NotificationService without waiting (its outbox owns delivery
   * and retries). Failures are logged without the phone or the code.
   */
  private sendSms(phone: string, code: string, userId: string): void {
    const notification = this.deps.mesh.client(NotificationService);
    notification
      .sendSms(
        { toPhone: phone, body: smsBody(code), userId },
        { headers: { "idempotency-key": randomUUID() }, timeoutMs: SMS_HOP_TIMEOUT_MS, signal: AbortSignal.timeout(SMS_HOP_TIMEOUT_MS + 1_000) },
      )
      .catch((err: unknown) => {
        log.warn({ code: Code[ConnectError.from(err).code] }, "OTP SMS could not be queued");
      });
  }
}

const otpInvalid = () => unauthenticated("OTP_INVALID", "code is wrong, expired or already used");

export const requestOtp = (login: OtpLogin) => async (req: RequestOtpRequest, ctx: HandlerContext) =>
  create(RequestOtpResponseSchema, await login.request(req.phone, ctx, "staff"));

export const customerRequestOtp = (login: OtpLogin) => async (req: CustomerRequestOtpRequest, ctx: HandlerContext) =>
  create(CustomerRequestOtpResponseSchema, await login.request(req.phone, ctx, "customer"));

export const verifyOtp = (login: OtpLogin, sessions: Sessions) => async (req: VerifyOtpRequest, ctx: HandlerContext) => {
  const { user } = await login.verify(req.phone, req.code, ctx, "staff");
  return create(VerifyOtpResponseSchema, { session: await sessions.open(user!) });
};

export const customerVerifyOtp = (login: OtpLogin, sessions: Sessions) => async (req: CustomerVerifyOtpRequest, ctx: HandlerContext) => {
  const { user, phone } = await login.verify(req.phone, req.code, ctx, "customer");
  if (user) {
    return create(CustomerVerifyOtpResponseSchema, { result: { case: "session", value: await sessions.open(user) } });
  }
  return create(CustomerVerifyOtpResponseSchema, { result: { case: "onboardingToken", value: await login.onboardingToken(phone) } });
};

