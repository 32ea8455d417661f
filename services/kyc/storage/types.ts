// Where document bytes live. The key is always made by the server (`<owner>/<uuid>`);
// nothing a client sends ever becomes part of it. Integrity (SHA-256) is recorded in the
// database and checked by the caller on every read, whatever the backend.

export interface DocumentStorage {
  /** Stored in the document row so a later backend switch can still read old objects. */
  readonly backend: string;
  put(key: string, bytes: Uint8Array, contentType: string): Promise<void>;
  /** The stored bytes; throws StorageNotFound if the object is gone. */
  get(key: string): Promise<Uint8Array>;
}

export class StorageNotFound extends Error {
  constructor(key: string) {
    super(`stored object missing: ${key}`);
    this.name = "StorageNotFound";
  }
}

const KEY = /^(driver|agency)-[0-9a-f-]{36}\/[0-9a-f-]{36}$/;

/** A server-made key: `<kind>-<owner uuid>/<document uuid>`. */
export function storageKey(ownerKind: "driver" | "agency", ownerId: string, documentId: string): string {
  const key = `${ownerKind}-${ownerId}/${documentId}`;
  assertKey(key);
  return key;
}

export function assertKey(key: string): void {
  if (!KEY.test(key)) throw new Error("invalid storage key");
}
