// JSON logs (pino). Every line carries the active trace id; secrets and personal data
// are redacted by key, and phone-number / long-digit patterns are scrubbed from messages,
// so a careless log call cannot leak a phone, national ID, OTP or token.
import { trace } from "@opentelemetry/api";
import { pino, type Logger } from "pino";

const REDACT_KEYS = [
  "phone", "toPhone", "to_phone", "nationalId", "national_id", "otp", "otpCode",
  "token", "accessToken", "refreshToken", "onboardingToken", "clientSecret",
  "authorization", "password", "secret", "content", "body",
];

const paths = REDACT_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

// Phone numbers (7+ digits, optional +) and any 6+ digit run (OTPs, IDs) in free text.
const PII_PATTERN = /\+?\d[\d\s-]{4,}\d/g;
const JWT_PATTERN = /eyJ[\w-]+\.[\w-]+\.[\w-]*/g;

export function scrub(text: string): string {
  return text.replace(JWT_PATTERN, "[jwt]").replace(PII_PATTERN, "[redacted]");
}

export function createLogger(opts: { level?: string; name?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      level: opts.level ?? process.env.LOG_LEVEL ?? "info",
      name: opts.name,
      redact: { paths, censor: "[redacted]" },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      messageKey: "msg",
      formatters: { level: (label) => ({ level: label }) },
      mixin() {
        const ctx = trace.getActiveSpan()?.spanContext();
        return ctx ? { trace_id: ctx.traceId, span_id: ctx.spanId } : {};
      },
      hooks: {
        logMethod(args, method) {
          // Scrub free-text arguments; structured fields are handled by `redact`.
          const cleaned = args.map((a) => (typeof a === "string" ? scrub(a) : a));
          return method.apply(this, cleaned as Parameters<typeof method>);
        },
      },
      serializers: {
        err: (e: unknown) => {
          const err = e as Error;
          return { type: err?.name, message: scrub(String(err?.message ?? e)), stack: err?.stack ? scrub(err.stack) : undefined };
        },
      },
    },
    opts.destination as pino.DestinationStream | undefined,
  );
}

/** The process logger. Tests may swap its destination with `setLogDestination`. */
export let log: Logger = createLogger();

export function setLogger(l: Logger): void {
  log = l;
}
