// Recognises a document's type from its first bytes (magic numbers), never from the
// name or the declared type. Only the three formats a reviewer can open are accepted.

export type DocumentContentType = "image/jpeg" | "image/png" | "application/pdf";

/** The largest document accepted: 10 MiB. */
export const MAX_DOCUMENT_BYTES = 10 * 1024 * 1024;

const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG = [0xff, 0xd8, 0xff];
const PDF = [0x25, 0x50, 0x44, 0x46, 0x2d]; // "%PDF-"

function startsWith(bytes: Uint8Array, magic: number[]): boolean {
  if (bytes.length < magic.length) return false;
  return magic.every((b, i) => bytes[i] === b);
}

/** The content type recognised from the bytes, or null if it is none we accept. */
export function sniffContentType(bytes: Uint8Array): DocumentContentType | null {
  // A JPEG/PNG of fewer bytes than its header plus one byte of data is not a document.
  if (startsWith(bytes, PNG) && bytes.length > PNG.length) return "image/png";
  if (startsWith(bytes, JPEG) && bytes.length > JPEG.length) return "image/jpeg";
  if (startsWith(bytes, PDF) && bytes.length > PDF.length) return "application/pdf";
  return null;
}
