// Chooses the document storage backend from the environment:
//   KYC_STORAGE_BACKEND = local (default; files under STORAGE_DIR) | s3
//   for s3: S3_ENDPOINT, S3_BUCKET, S3_REGION (default us-east-1), S3_ACCESS_KEY_ID,
//           S3_SECRET_ACCESS_KEY, optional S3_SESSION_TOKEN and S3_PREFIX.
// Every mistake is reported together, at start.
import { LocalStorage } from "./local.js";
import { S3Storage } from "./s3.js";
import type { DocumentStorage } from "./types.js";

export type { DocumentStorage } from "./types.js";
export { StorageNotFound, storageKey } from "./types.js";
export { LocalStorage } from "./local.js";
export { S3Storage } from "./s3.js";

type Env = Readonly<Record<string, string | undefined>>;

export function storageFromEnv(storageDir: string, env: Env = process.env): DocumentStorage {
  const backend = env.KYC_STORAGE_BACKEND || "local";
  if (backend === "local") return new LocalStorage(storageDir);
  if (backend !== "s3") throw new Error(`invalid configuration:\n  - KYC_STORAGE_BACKEND must be local or s3`);
  const problems: string[] = [];
  const need = (name: string) => {
    const v = env[name];
    if (!v) problems.push(`${name} is required when KYC_STORAGE_BACKEND=s3`);
    return v ?? "";
  };
  const endpoint = need("S3_ENDPOINT");
  if (endpoint) {
    try {
      if (!["http:", "https:"].includes(new URL(endpoint).protocol)) problems.push("S3_ENDPOINT must use http: or https:");
    } catch {
      problems.push("S3_ENDPOINT is not a valid URL");
    }
  }
  const bucket = need("S3_BUCKET");
  const accessKeyId = need("S3_ACCESS_KEY_ID");
  const secretAccessKey = need("S3_SECRET_ACCESS_KEY");
  if (problems.length) throw new Error(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
  return new S3Storage({
    endpoint,
    bucket,
    region: env.S3_REGION || "us-east-1",
    prefix: env.S3_PREFIX || "",
    credentials: { accessKeyId, secretAccessKey, sessionToken: env.S3_SESSION_TOKEN || undefined },
  });
}
