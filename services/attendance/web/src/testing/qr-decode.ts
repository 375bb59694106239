// Reading back the QR codes the app draws, for the DOM tests only (never bundled).
import jsQR from "jsqr";

/** The modules an SVG from qrSvg draws, read back from its path. */
export function modulesOf(svg: SVGSVGElement): boolean[][] {
  const size = Number(svg.getAttribute("viewBox")!.split(" ")[2]);
  const grid = Array.from({ length: size }, () => Array<boolean>(size).fill(false));
  const d = svg.querySelector("path")!.getAttribute("d")!;
  for (const m of d.matchAll(/M(\d+) (\d+)h(\d+)v1h-\d+z/g)) {
    const [x, y, w] = [Number(m[1]), Number(m[2]), Number(m[3])];
    for (let i = 0; i < w; i++) grid[y]![x + i] = true;
  }
  return grid;
}

/** Decodes an SVG from qrSvg the way a phone would see it: pixels, then jsQR. */
export function decodeSvg(svg: SVGSVGElement, scale = 4): string | undefined {
  const grid = modulesOf(svg);
  const px = grid.length * scale;
  const rgba = new Uint8ClampedArray(px * px * 4).fill(255);
  grid.forEach((row, y) =>
    row.forEach((dark, x) => {
      if (!dark) return;
      for (let dy = 0; dy < scale; dy++)
        for (let dx = 0; dx < scale; dx++) {
          const i = ((y * scale + dy) * px + x * scale + dx) * 4;
          rgba[i] = rgba[i + 1] = rgba[i + 2] = 0;
        }
    }),
  );
  return jsQR(rgba, px, px, { inversionAttempts: "dontInvert" })?.data;
}
