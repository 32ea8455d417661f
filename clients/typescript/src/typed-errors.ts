// Makes every failure of a service client a FuelApiError: wrapping at the client, not in
// an interceptor, also covers what Connect raises outside the interceptors (the call's
// own deadline, a cancelled signal).
import type { DescService } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import { FuelApiError } from "./errors.js";

async function* typedStream<T>(stream: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* stream;
  } catch (err) {
    throw FuelApiError.from(err);
  }
}

export function withTypedErrors<S extends DescService>(service: S, client: Client<S>): Client<S> {
  const out: Record<string, unknown> = {};
  const raw = client as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const method of service.methods) {
    const fn = raw[method.localName]!;
    out[method.localName] =
      method.methodKind === "unary"
        ? async (...args: unknown[]) => {
            try {
              return await fn(...args);
            } catch (err) {
              throw FuelApiError.from(err);
            }
          }
        : method.methodKind === "server_streaming"
          ? (...args: unknown[]) => typedStream(fn(...args) as AsyncIterable<unknown>)
          : fn;
  }
  return out as Client<S>;
}
