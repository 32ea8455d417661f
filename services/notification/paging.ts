// Keyset page tokens: the (create_time, id) of the last row returned.
import { invalidArgument } from "../../platform/errors.js";
import { decodePageToken } from "../../platform/validate.js";
import type { Cursor } from "./store.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isUuid = (v: string) => UUID.test(v);

export function decodeCursor(token: string, field = "page_token"): Cursor | null {
  const key = decodePageToken(token, ["t", "id"], field);
  if (!key) return null;
  const time = new Date(key.t);
  if (Number.isNaN(time.getTime()) || !isUuid(key.id)) throw invalidArgument(field, "is not a token from a previous response");
  return { time, id: key.id };
}
