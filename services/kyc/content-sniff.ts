// Recognises a document's type from its bytes, never from the name or a declared type,
// with `file-type` (which reads past the magic number where a format has structure: a
// PNG signature must be followed by a PNG's IHDR chunk, and a JPEG-LS is told apart from
// a JPEG). Only the three formats a reviewer can open are accepted.
import { fileTypeFromBuffer } from "file-type";

export type DocumentContentType = "image/jpeg" | "image/png" | "application/pdf";

/** The largest document accepted: 10 MiB. */
export const MAX_DOCUMENT_BYTES = 10 * 1024 * 1024;

/**
 * Accepted types, each with its signature's length: a file must hold at least one byte
 * past the signature, since a bare header is not a document.
 */
const ACCEPTED: Record<DocumentContentType, number> = {
  "image/png": 8,
  "image/jpeg": 3,
  "application/pdf": 5, // "%PDF-"
};

const isAccepted = (mime: string): mime is DocumentContentType => Object.hasOwn(ACCEPTED, mime);
/** file-type takes "%PDF" for a PDF; a PDF's header is "%PDF-" and its version. */
const isPdfHeader = (bytes: Uint8Array) => bytes[4] === 0x2d;

/** The content type recognised from the bytes, or null if it is none we accept. */
export async function sniffContentType(bytes: Uint8Array): Promise<DocumentContentType | null> {
  const found = await fileTypeFromBuffer(bytes).catch(() => undefined);
  if (!found || !isAccepted(found.mime)) return null;
  if (found.mime === "application/pdf" && !isPdfHeader(bytes)) return null;
  return bytes.length > ACCEPTED[found.mime] ? found.mime : null;
}
