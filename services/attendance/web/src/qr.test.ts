// @vitest-environment happy-dom
import { describe, expect, it } from "vitest";
import { QUIET_ZONE, qrSvg, setQr } from "./qr.js";
import { decodeSvg, modulesOf } from "./testing/qr-decode.js";

describe("the check-in link's QR code", () => {
  const link = "http://127.0.0.1:50051/?attendance=0b9c6a52-7f3e-4c2b-9a61-3d1f0e2a4b5c&code=012345";

  it("draws a QR code a scanner reads back as the link, with its quiet zone", () => {
    const svg = qrSvg(link, "Check-in QR");
    expect(svg.getAttribute("aria-label")).toBe("Check-in QR");
    expect(svg.dataset["payload"]).toBe(link);
    const grid = modulesOf(svg);
    const n = Number(svg.dataset["modules"]);
    expect(grid.length).toBe(n + 2 * QUIET_ZONE);
    // Nothing dark in the quiet zone; the top-left finder pattern right after it.
    expect(grid.slice(0, QUIET_ZONE).flat().some(Boolean)).toBe(false);
    expect(grid[QUIET_ZONE]!.slice(QUIET_ZONE, QUIET_ZONE + 7).every(Boolean)).toBe(true);
    expect(decodeSvg(svg)).toBe(link);
  });

  it("redraws for a new code, and leaves an unchanged one alone", () => {
    const svg = qrSvg(link);
    const path = svg.querySelector("path")!;
    setQr(svg, link);
    expect(svg.querySelector("path")).toBe(path);
    const next = link.replace("012345", "987654");
    setQr(svg, next);
    expect(svg.dataset["payload"]).toBe(next);
    expect(svg.querySelector("path")!.getAttribute("d")).not.toBe(path.getAttribute("d"));
    expect(decodeSvg(svg)).toBe(next);
  });

  it("carries a server's ATTN_PUBLIC_URL link with non-ASCII characters escaped", () => {
    const svg = qrSvg("https://attn.example.edu/anwesenheit-für/?attendance=a&code=111111");
    expect(decodeSvg(svg)).toBe("https://attn.example.edu/anwesenheit-f%C3%BCr/?attendance=a&code=111111");
  });
});
