// Selfie bytes: what Attend.selfie accepts (JPEG or PNG) and how big.

/** Well under the server's default 4 MiB message limit. */
export const MAX_SELFIE_BYTES = 3 * 1024 * 1024;
/** Longest side after downscaling a camera frame or a chosen photo. */
export const SELFIE_MAX_SIDE = 1024;

export type ImageType = "image/jpeg" | "image/png";

/** The image type from the file's first bytes, not from its name. */
export function sniffImageType(b: Uint8Array): ImageType | undefined {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image/jpeg";
  if (
    b.length >= 8 &&
    b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47 &&
    b[4] === 0x0d && b[5] === 0x0a && b[6] === 0x1a && b[7] === 0x0a
  )
    return "image/png";
  return undefined;
}

/** Why these bytes can't be sent as a selfie, or undefined if they can. */
export function selfieProblem(b: Uint8Array): string | undefined {
  if (b.length === 0) return "The photo is empty.";
  if (!sniffImageType(b)) return "The photo must be a JPEG or PNG image.";
  if (b.length > MAX_SELFIE_BYTES)
    return `The photo is too large (${(b.length / 1048576).toFixed(1)} MB; at most ${MAX_SELFIE_BYTES / 1048576} MB).`;
  return undefined;
}

/** Width and height scaled so that the longer side is at most `maxSide`. */
export function fitWithin(width: number, height: number, maxSide = SELFIE_MAX_SIDE): { width: number; height: number } {
  const longest = Math.max(width, height);
  if (longest <= maxSide || longest === 0) return { width, height };
  const k = maxSide / longest;
  return { width: Math.max(1, Math.round(width * k)), height: Math.max(1, Math.round(height * k)) };
}
