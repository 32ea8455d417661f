// Callers as they sign in and call through the gateway: every actor holds a token from the
// real flows (phone OTP read from the dev inbox for staff and drivers, client credentials
// for terminals and bank systems), and any method can be called over grpc-js (HTTP/2) or
// Connect JSON over HTTP/1.1 with the answer kept raw: on an error, the whole text a
// client receives (message, ErrorInfo, every detail) so a test can look for data that
// must not be there.
import { randomUUID } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import {
  create,
  fromBinary,
  fromJson,
  toBinary,
  toJson,
  toJsonString,
  type DescMethod,
  type DescService,
  type JsonValue,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { AuthService, type Principal, type Session } from "../../gen/fuel/auth/v1/auth_pb.js";
import { FuelType } from "../../gen/fuel/common/v1/common_pb.js";
import { KycService } from "../../gen/fuel/kyc/v1/kyc_pb.js";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { policyOf } from "../../platform/policy.js";
import { GrpcJsClient, postJson } from "./clients.js";
import { waitForMessage } from "./inbox.js";
import type { TestSystem } from "./system.js";

export type Protocol = "grpc" | "connect";
export const PROTOCOLS: Protocol[] = ["grpc", "connect"];

export type Outcome =
  | { ok: true; message: any; text: string }
  | { ok: false; code: Code; reason: string; text: string };

/** Connect's error code names (snake_case) → Code. */
const CONNECT_CODES: Record<string, Code> = Object.fromEntries(
  Object.entries(Code)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => [k.replace(/[A-Z]/g, (c, i) => (i ? "_" : "") + c.toLowerCase()), v as Code]),
);

const STREAM_FIRST_MESSAGE_MS = 10_000;

/** Reads a base-128 varint at `at`; returns [value, next offset]. */
function varint(b: Uint8Array, at: number): [number, number] {
  let v = 0;
  let shift = 0;
  for (let i = 0; i < 10 && at < b.length; i++) {
    const byte = b[at++]!;
    v += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) break;
    shift += 7;
  }
  return [v, at];
}

/** Length-delimited fields `field` of a protobuf message (enough for google.rpc.Status and Any). */
function bytesFields(b: Uint8Array, field: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < b.length) {
    const [key, next] = varint(b, at);
    at = next;
    const wire = key & 7;
    if (wire === 0) at = varint(b, at)[1];
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      const [len, start] = varint(b, at);
      if (key >>> 3 === field) out.push(b.subarray(start, start + len));
      at = start + len;
    } else break;
  }
  return out;
}

/** The ErrorInfo reason in a google.rpc.Status's details (grpc-status-details-bin). */
function reasonInStatus(status: Uint8Array): string {
  for (const any of bytesFields(status, 3)) {
    const typeUrl = Buffer.from(bytesFields(any, 1)[0] ?? new Uint8Array()).toString();
    if (typeUrl.endsWith("google.rpc.ErrorInfo")) return fromBinary(ErrorInfoSchema, bytesFields(any, 2)[0] ?? new Uint8Array()).reason;
  }
  return "";
}

/**
 * Calls any method through the gateway over either protocol, as a given token: unary
 * calls through clients.ts (GrpcJsClient, postJson), the first message of a server
 * stream here.
 */
export class Wire {
  private readonly grpc: grpc.Client;
  private readonly unaryClients = new Map<string, GrpcJsClient<DescService>>();

  constructor(private readonly gatewayUrl: string) {
    this.grpc = new grpc.Client(gatewayUrl.replace(/^https?:\/\//, ""), grpc.credentials.createInsecure());
  }

  close() {
    this.grpc.close();
    for (const c of this.unaryClients.values()) c.close();
  }

  private unaryClient(service: DescService): GrpcJsClient<DescService> {
    let c = this.unaryClients.get(service.typeName);
    if (!c) this.unaryClients.set(service.typeName, (c = new GrpcJsClient(service, this.gatewayUrl)));
    return c;
  }

  private headers(method: DescMethod, token: string | undefined): Record<string, string> {
    const h: Record<string, string> = {};
    if (token) h.authorization = `Bearer ${token}`;
    if (policyOf(method).mutating) h["idempotency-key"] = randomUUID();
    return h;
  }

  async call<M extends DescMethod>(protocol: Protocol, method: M, request: MessageInitShape<M["input"]>, token?: string): Promise<Outcome> {
    const msg = create(method.input, request);
    if (method.methodKind === "server_streaming") return await this.firstOfStream(protocol, method, msg, token);
    return protocol === "grpc" ? await this.grpcUnary(method, msg, token) : await this.connectUnary(method, msg, token);
  }

  /** Like `call`, but returns the message and throws on an error (for building a world). */
  async must<M extends DescMethod>(protocol: Protocol, method: M, request: MessageInitShape<M["input"]>, token?: string): Promise<MessageShape<M["output"]>> {
    const out = await this.call(protocol, method, request, token);
    if (!out.ok) throw new Error(`${method.parent.name}/${method.name} over ${protocol}: ${Code[out.code]} ${out.reason} ${out.text.slice(0, 300)}`);
    return out.message;
  }

  private async grpcUnary(method: DescMethod, msg: any, token: string | undefined): Promise<Outcome> {
    try {
      const { message } = await this.unaryClient(method.parent).unary(method as never, msg, this.headers(method, token));
      return { ok: true, message, text: toJsonString(method.output, message as never) };
    } catch (err) {
      return grpcError(err as grpc.ServiceError);
    }
  }

  private async connectUnary(method: DescMethod, msg: any, token: string | undefined): Promise<Outcome> {
    const res = await postJson(this.gatewayUrl, `${method.parent.typeName}/${method.name}`, toJson(method.input, msg), this.headers(method, token));
    const body = JSON.stringify(res.json);
    if (res.status === 200) return { ok: true, message: fromJson(method.output, res.json as JsonValue, { ignoreUnknownFields: true }), text: body };
    return connectError(res.json as ConnectErrorJson, body);
  }

  private async firstOfStream(protocol: Protocol, method: DescMethod, msg: any, token: string | undefined): Promise<Outcome> {
    if (protocol === "grpc") {
      const md = new grpc.Metadata();
      if (token) md.set("authorization", `Bearer ${token}`);
      return await new Promise((resolve) => {
        let done = false;
        const call = this.grpc.makeServerStreamRequest(
          `/${method.parent.typeName}/${method.name}`,
          (m: any) => Buffer.from(toBinary(method.input, m)),
          (b: Buffer) => fromBinary(method.output, b),
          msg,
          md,
          { deadline: Date.now() + STREAM_FIRST_MESSAGE_MS },
        );
        call.on("data", (m) => {
          if (done) return;
          done = true;
          resolve({ ok: true, message: m, text: toJsonString(method.output, m as never) });
          call.cancel();
        });
        call.on("error", (err: grpc.ServiceError) => {
          if (!done) resolve(grpcError(err));
          done = true;
        });
        call.on("end", () => {
          if (!done) resolve({ ok: false, code: Code.Unknown, reason: "", text: "stream ended without a message" });
          done = true;
        });
      });
    }
    // Connect streaming: enveloped JSON both ways (a flags byte, a 4-byte length, the data).
    const json = Buffer.from(JSON.stringify(toJson(method.input, msg)));
    const envelope = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), json]);
    envelope.writeUInt32BE(json.length, 1);
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), STREAM_FIRST_MESSAGE_MS);
    try {
      const res = await fetch(`${this.gatewayUrl}/${method.parent.typeName}/${method.name}`, {
        method: "POST",
        headers: { "content-type": "application/connect+json", "connect-protocol-version": "1", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: envelope,
        signal: abort.signal,
      });
      if (res.status !== 200) {
        const body = await res.text();
        return connectError(JSON.parse(body) as ConnectErrorJson, body);
      }
      const reader = res.body!.getReader();
      let buf = Buffer.alloc(0);
      for (;;) {
        while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
          const flags = buf[0]!;
          const data = buf.subarray(5, 5 + buf.readUInt32BE(1)).toString();
          buf = buf.subarray(5 + buf.readUInt32BE(1));
          if (flags & 2) {
            const end = JSON.parse(data) as { error?: ConnectErrorJson };
            if (end.error) return connectError(end.error, data);
            return { ok: false, code: Code.Unknown, reason: "", text: "stream ended without a message" };
          }
          return { ok: true, message: fromJson(method.output, JSON.parse(data) as JsonValue, { ignoreUnknownFields: true }), text: data };
        }
        const { value, done } = await reader.read();
        if (done) return { ok: false, code: Code.Unknown, reason: "", text: "stream ended without a message" };
        buf = Buffer.concat([buf, Buffer.from(value)]);
      }
    } finally {
      clearTimeout(timer);
      abort.abort();
    }
  }
}

interface ConnectErrorJson {
  code?: string;
  message?: string;
  details?: Array<{ type?: string; value?: string; debug?: unknown }>;
}

function connectError(e: ConnectErrorJson, raw: string): Outcome {
  let reason = "";
  const decoded: string[] = [];
  for (const d of e.details ?? []) {
    const bytes = Buffer.from(d.value ?? "", "base64");
    decoded.push(bytes.toString("latin1"));
    if (d.type === "google.rpc.ErrorInfo") reason = fromBinary(ErrorInfoSchema, bytes).reason;
  }
  return { ok: false, code: CONNECT_CODES[e.code ?? ""] ?? Code.Unknown, reason, text: [raw, ...decoded].join("\n") };
}

function grpcError(err: grpc.ServiceError): Outcome {
  const status = err.metadata?.get("grpc-status-details-bin")[0];
  const bytes = status ? new Uint8Array(Buffer.isBuffer(status) ? status : Buffer.from(String(status), "base64")) : new Uint8Array();
  return {
    ok: false,
    code: err.code as number as Code,
    reason: bytes.length ? reasonInStatus(bytes) : "",
    text: [err.details, Buffer.from(bytes).toString("latin1")].join("\n"),
  };
}

/** A caller with a token from the real flows, and what it is bound to. */
export interface Actor {
  name: string;
  token: string;
  principal: Principal;
  /** Staff and drivers: the refresh token of their session (newest). */
  refreshToken?: string;
  phone?: string;
}

/** The 6-digit code of the newest SMS to `phone` received at or after `after`. */
export async function otpFor(sys: TestSystem, phone: string, after: Date): Promise<string> {
  const msg = await waitForMessage(sys.devInbox!, { channel: "sms", to: phone }, { after });
  const m = /\b(\d{6})\b/.exec(msg.body);
  if (!m) throw new Error(`no code in the SMS to ${phone}`);
  return m[1]!;
}

function actorOf(name: string, s: Session, phone?: string): Actor {
  return { name, token: s.accessToken, principal: s.principal!, refreshToken: s.refreshToken, phone };
}

/** A staff user (or the bootstrap SYSTEM_ADMIN) signs in: RequestOtp, the SMS, VerifyOtp. */
export async function staffSignIn(sys: TestSystem, wire: Wire, protocol: Protocol, name: string, phone: string): Promise<Actor> {
  const t = new Date();
  await wire.must(protocol, AuthService.method.requestOtp, { phone });
  const res = await wire.must(protocol, AuthService.method.verifyOtp, { phone, code: await otpFor(sys, phone, t) });
  return actorOf(name, res.session!, phone);
}

let nationalIdSeq = 0;

/**
 * A driver signs up as the app does: CustomerRequestOtp, the SMS, CustomerVerifyOtp (an
 * onboarding token for a new phone), OnboardDriver (optionally asking to join an agency,
 * which makes them a member only once the agency accepts).
 */
export async function driverSignUp(sys: TestSystem, wire: Wire, protocol: Protocol, name: string, phone: string, agencyId = ""): Promise<Actor> {
  const t = new Date();
  await wire.must(protocol, AuthService.method.customerRequestOtp, { phone });
  const verified = await wire.must(protocol, AuthService.method.customerVerifyOtp, { phone, code: await otpFor(sys, phone, t) });
  if (verified.result.case !== "onboardingToken") throw new Error(`${phone} is already registered`);
  const n = `${process.pid % 10_000}${String(++nationalIdSeq).padStart(4, "0")}${Math.floor(Math.random() * 1e4)}`;
  const res = await wire.must(protocol, KycService.method.onboardDriver, {
    onboardingToken: verified.result.value,
    fullName: `Driver ${name}`,
    nationalId: `NIN${n}`.slice(0, 20),
    driverLicenseNumber: `LAG-${n.slice(-6)}`,
    vehicle: { plateNumber: `KJA ${n.slice(-3)} TN`, fuelType: FuelType.PETROL, tankCapacityMl: 60_000n },
    agencyId,
  });
  return actorOf(name, res.session!, phone);
}

/** A terminal or bank system exchanges its client credentials for a token. */
export async function machineSignIn(wire: Wire, protocol: Protocol, name: string, clientId: string, clientSecret: string): Promise<Actor> {
  const res = await wire.must(protocol, AuthService.method.exchangeClientCredentials, { clientId, clientSecret });
  return { name, token: res.accessToken, principal: res.principal! };
}
