// The check-in link as a QR code, drawn as an SVG (sharp at any size, so it
// fills a lecture hall's projector). Encoded by qrcode-generator; the SVG is
// built with DOM calls, never parsed from markup.
import qrcode from "qrcode-generator";

const SVG_NS = "http://www.w3.org/2000/svg";
/** Light modules around the code that scanners need to find it (the standard's 4). */
export const QUIET_ZONE = 4;

/** The dark modules of `text`'s QR code (error correction M: survives a glare spot). */
export function qrMatrix(text: string): boolean[][] {
  const qr = qrcode(0, "M");
  // Links are ASCII (URL percent-encodes the rest); anything else is sent as UTF-8 bytes' escapes.
  qr.addData(/^[\x20-\x7e]*$/.test(text) ? text : encodeURI(text), "Byte");
  qr.make();
  const n = qr.getModuleCount();
  return Array.from({ length: n }, (_, r) => Array.from({ length: n }, (_, c) => qr.isDark(r, c)));
}

/** One SVG path drawing every dark module, offset by the quiet zone. */
export function qrPath(matrix: boolean[][]): string {
  const parts: string[] = [];
  matrix.forEach((row, r) => {
    let c = 0;
    while (c < row.length) {
      if (!row[c]) {
        c++;
        continue;
      }
      const start = c;
      while (c < row.length && row[c]) c++;
      parts.push(`M${start + QUIET_ZONE} ${r + QUIET_ZONE}h${c - start}v1h${start - c}z`);
    }
  });
  return parts.join("");
}

/**
 * An `<svg>` of `text`'s QR code, black on white whatever the page's theme,
 * with its quiet zone; it scales to whatever box CSS gives it. Empty until
 * setQr when `text` is undefined.
 */
export function qrSvg(text: string | undefined, label = "QR code"): SVGSVGElement {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  if (text !== undefined) setQr(svg, text, label);
  return svg;
}

/** Redraws `svg` for `text` (a no-op when it already shows it). */
export function setQr(svg: SVGSVGElement, text: string, label = "QR code"): void {
  svg.setAttribute("aria-label", label);
  if (svg.dataset["payload"] === text && svg.firstChild) return;
  const matrix = qrMatrix(text);
  const size = matrix.length + 2 * QUIET_ZONE;
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("shape-rendering", "crispEdges");
  svg.dataset["payload"] = text;
  svg.dataset["modules"] = String(matrix.length);
  const bg = document.createElementNS(SVG_NS, "rect");
  bg.setAttribute("width", String(size));
  bg.setAttribute("height", String(size));
  bg.setAttribute("fill", "#fff");
  const dark = document.createElementNS(SVG_NS, "path");
  dark.setAttribute("d", qrPath(matrix));
  dark.setAttribute("fill", "#000");
  svg.replaceChildren(bg, dark);
}
