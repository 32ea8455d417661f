// Signs every attempt with the bank system's current token. A call the server refuses as
// UNAUTHENTICATED (the token expired early by the server's clock, or its signing key was
// retired) is sent once more with a freshly exchanged token; a second refusal is final.
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import type { ClientCredentials } from "./client-credentials.js";

const AUTHORIZATION = "authorization";

export function bearer(credentials: ClientCredentials): Interceptor {
  return (next) => async (req) => {
    const token = await credentials.token();
    req.header.set(AUTHORIZATION, `Bearer ${token}`);
    try {
      return await next(req);
    } catch (err) {
      if (req.stream || ConnectError.from(err).code !== Code.Unauthenticated) throw err;
      const fresh = await credentials.replace(token);
      const header = new Headers(req.header);
      header.set(AUTHORIZATION, `Bearer ${fresh}`);
      return await next({ ...req, header });
    }
  };
}
