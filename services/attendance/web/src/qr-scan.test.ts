// @vitest-environment happy-dom
import { afterEach, describe, expect, it } from "vitest";
import { qrScanSupport } from "./qr-scan.js";

function setDetector(formats: string[] | undefined) {
  const Detector = class {
    async detect() {
      return [];
    }
  } as unknown as { getSupportedFormats?: () => Promise<string[]> };
  if (formats) Detector.getSupportedFormats = async () => formats;
  Object.defineProperty(window, "BarcodeDetector", { configurable: true, writable: true, value: Detector });
}

afterEach(() => {
  delete (window as { BarcodeDetector?: unknown }).BarcodeDetector;
  delete (navigator as { mediaDevices?: unknown }).mediaDevices;
  delete (window as { isSecureContext?: unknown }).isSecureContext;
});

describe("whether the browser can scan a QR code", () => {
  const camera = () => Object.defineProperty(navigator, "mediaDevices", { configurable: true, value: { getUserMedia: async () => undefined } });

  it("needs a BarcodeDetector reading qr_code and a camera", async () => {
    camera();
    setDetector(["aztec", "qr_code"]);
    expect(await qrScanSupport()).toEqual({ ok: true });
    setDetector(["ean_13"]);
    expect(await qrScanSupport()).toMatchObject({ ok: false, why: expect.stringMatching(/cannot scan QR codes/) });
    setDetector(undefined);
    expect(await qrScanSupport()).toMatchObject({ ok: false });
    delete (window as { BarcodeDetector?: unknown }).BarcodeDetector;
    expect(await qrScanSupport()).toMatchObject({ ok: false, why: expect.stringMatching(/cannot scan QR codes/) });
  });

  it("says a plain-http page needs HTTPS (no camera outside a secure context)", async () => {
    Object.defineProperty(window, "isSecureContext", { configurable: true, value: false });
    setDetector(["qr_code"]);
    expect(await qrScanSupport()).toEqual({
      ok: false,
      why: "Scanning the QR code needs this page over HTTPS (browsers keep the camera from plain-http pages): type the six digits instead.",
    });
  });
});
