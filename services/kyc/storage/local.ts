// Local filesystem storage (the default): objects are files under STORAGE_DIR at their
// server-made key, written to a temporary name and renamed so a crash never leaves half
// a file under the real key.
import { randomUUID } from "node:crypto";
import { mkdir, readFile, rename, writeFile, unlink } from "node:fs/promises";
import { dirname, resolve, sep } from "node:path";
import { assertKey, StorageNotFound, type DocumentStorage } from "./types.js";

export class LocalStorage implements DocumentStorage {
  readonly backend = "local";
  private readonly root: string;

  constructor(dir: string) {
    this.root = resolve(dir);
  }

  /** Absolute path of a key; refuses anything that would land outside the root. */
  pathOf(key: string): string {
    assertKey(key);
    const p = resolve(this.root, key);
    if (!p.startsWith(this.root + sep)) throw new Error("storage key escapes the storage root");
    return p;
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    const path = this.pathOf(key);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.${randomUUID()}.tmp`;
    try {
      await writeFile(tmp, bytes, { mode: 0o600, flag: "wx" });
      await rename(tmp, path);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      return new Uint8Array(await readFile(this.pathOf(key)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new StorageNotFound(key);
      throw err;
    }
  }
}
