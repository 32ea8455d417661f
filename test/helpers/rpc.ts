// Small helpers for tests about RPC outcomes: what an error carried, asserting a call
// fails with a code and reason, fresh idempotency keys and phones, and a client that
// calls a service directly as a mesh peer would.
import { randomUUID } from "node:crypto";
import * as assert from "uvu/assert";
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { BadRequestSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { reasonOf } from "../../platform/errors.js";
import { CLIENT_IP_HEADER, SERVICE_TOKEN_HEADER } from "../../platform/interceptors/authenticate.js";
import { ServiceTokens } from "../../platform/tokens.js";
import type { TestSystem } from "./system.js";

export interface ErrorSeen {
  code: Code;
  reason: string | undefined;
  message: string;
  retryInfo: boolean;
}

export function errorOf(err: unknown): ErrorSeen {
  const ce = ConnectError.from(err);
  return { code: ce.code, reason: reasonOf(ce), message: ce.rawMessage, retryInfo: ce.findDetails(RetryInfoSchema).length > 0 };
}

/** Asserts that `p` fails with `code` (and ErrorInfo `reason`, if given); returns what it saw. */
export async function fails(p: Promise<unknown>, code: Code, reason?: string): Promise<ErrorSeen> {
  try {
    await p;
  } catch (err) {
    const e = errorOf(err);
    assert.is(Code[e.code], Code[code], `expected ${Code[code]}, got ${Code[e.code]}: ${e.message}`);
    if (reason) assert.is(e.reason, reason);
    return e;
  }
  throw new assert.Assertion({ message: `expected ${Code[code]}, but the call succeeded`, operator: "fails", expects: Code[code], actual: "OK" } as never);
}

/** Call options with a fresh idempotency key. */
export const idem = () => ({ headers: { "idempotency-key": randomUUID() } });

/** A random E.164 phone under `prefix` (e.g. "+23481"), so suites do not collide. */
export const newPhone = (prefix: string) => `${prefix}${String(Math.floor(Math.random() * 1e8)).padStart(8, "0")}`;

/**
 * A service called directly by a mesh peer named `as` (with its service token), which may
 * report the end client's IP as the gateway does.
 */
export function peerClient<S extends DescService>(sys: TestSystem, service: S, baseUrl: string, opts: { as: string; clientIp?: string }): Client<S> {
  const tokens = new ServiceTokens(sys.cfg.meshSecret, opts.as);
  return createClient(
    service,
    createGrpcTransport({
      baseUrl,
      interceptors: [
        (next) => async (req) => {
          req.header.set(SERVICE_TOKEN_HEADER, await tokens.token());
          if (opts.clientIp) req.header.set(CLIENT_IP_HEADER, opts.clientIp);
          return await next(req);
        },
      ],
    }),
  );
}

/** Asserts that `p` fails with `code`, naming `field` (google.rpc.BadRequest) and `reason` if given. */
export async function expectError(p: Promise<unknown>, code: Code, opts: { field?: string; reason?: string } = {}): Promise<ConnectError> {
  let caught: ConnectError | undefined;
  try {
    await p;
  } catch (err) {
    caught = ConnectError.from(err);
  }
  if (!caught) throw new assert.Assertion({ message: `expected ${Code[code]}, but the call succeeded`, operator: "expectError", expects: Code[code], actual: "OK" } as never);
  assert.is(Code[caught.code], Code[code], caught.rawMessage);
  if (opts.field) assert.is(caught.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field, opts.field, caught.rawMessage);
  if (opts.reason) assert.is(reasonOf(caught), opts.reason);
  return caught;
}
