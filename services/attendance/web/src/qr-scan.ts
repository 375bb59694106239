// Scanning the projector's QR code with the phone's back camera: the
// browser's own BarcodeDetector (Shape Detection API) reading frames of a
// getUserMedia video. Where the browser has none, the page offers typing the
// six digits instead.
import { h } from "./dom.js";

/** The parts of the Shape Detection API used here (not yet in TypeScript's DOM types). */
interface DetectedBarcode {
  rawValue: string;
  format?: string;
}
interface BarcodeDetectorLike {
  detect(source: HTMLVideoElement): Promise<DetectedBarcode[]>;
}
interface BarcodeDetectorClass {
  new (options?: { formats: string[] }): BarcodeDetectorLike;
  getSupportedFormats?(): Promise<string[]>;
}

function detectorClass(): BarcodeDetectorClass | undefined {
  if (typeof window === "undefined" || !("BarcodeDetector" in window)) return undefined;
  return (window as unknown as { BarcodeDetector: BarcodeDetectorClass }).BarcodeDetector;
}

export type ScanSupport = { ok: true } | { ok: false; why: string };

/**
 * Whether this browser can scan a QR code with its camera: a BarcodeDetector
 * that reads `qr_code`, and getUserMedia (both only in a secure context:
 * HTTPS, or http://localhost).
 */
export async function qrScanSupport(): Promise<ScanSupport> {
  const insecure = typeof window !== "undefined" && window.isSecureContext === false;
  const unavailable = insecure
    ? "Scanning the QR code needs this page over HTTPS (browsers keep the camera from plain-http pages): type the six digits instead."
    : "This browser cannot scan QR codes: type the six digits from the projector instead.";
  const Detector = detectorClass();
  if (!Detector || typeof navigator === "undefined" || !navigator.mediaDevices?.getUserMedia) return { ok: false, why: unavailable };
  try {
    const formats = (await Detector.getSupportedFormats?.()) ?? [];
    return formats.includes("qr_code") ? { ok: true } : { ok: false, why: unavailable };
  } catch {
    return { ok: false, why: unavailable };
  }
}

export interface QrScanner {
  element: HTMLElement;
  /** Opens the back camera and reads frames until `onText` takes one, stop() or Cancel. */
  start(): Promise<void>;
  /** Stops the camera (every track) and the reading; safe to call twice. */
  stop(): void;
}

export interface QrScannerOptions {
  /** A QR code's text; true when it settles the scan (the camera is then stopped). */
  onText(raw: string): boolean;
  onError(message: string): void;
  /** Cancel was pressed, or the camera could not be opened. */
  onClose(): void;
  /** Between two looks at the video (ms). */
  intervalMs?: number;
}

export function createQrScanner(opts: QrScannerOptions): QrScanner {
  const video = h("video", { testid: "scan-video", class: "scan-video", autoplay: true, muted: true, playsInline: true });
  const hint = h("p", { class: "hint", testid: "scan-hint" }, "Opening the camera…");
  const cancel = h("button", { type: "button", class: "secondary", testid: "scan-cancel" }, "Cancel");
  const element = h("section", { class: "card scan-panel", testid: "scan-panel" }, h("h3", null, "Scan the projector's QR"), hint, video, h("div", { class: "row" }, cancel));

  let stream: MediaStream | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  function stop() {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    stream?.getTracks().forEach((t) => t.stop());
    stream = undefined;
    video.pause?.();
    video.srcObject = null;
  }

  cancel.addEventListener("click", () => {
    stop();
    opts.onClose();
  });

  async function look(detector: BarcodeDetectorLike) {
    timer = undefined;
    if (stopped) return;
    let found: DetectedBarcode[] = [];
    try {
      found = await detector.detect(video);
    } catch {
      // No frame yet (the video is still starting), or one the detector could not read: look again.
    }
    if (stopped) return;
    for (const code of found) {
      if (code.rawValue && opts.onText(code.rawValue)) {
        stop();
        return;
      }
    }
    timer = setTimeout(() => void look(detector), opts.intervalMs ?? 200);
  }

  async function start() {
    const Detector = detectorClass();
    if (!Detector || !navigator.mediaDevices?.getUserMedia) {
      opts.onError("This browser cannot scan QR codes: type the six digits from the projector instead.");
      opts.onClose();
      return;
    }
    let media: MediaStream;
    try {
      media = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
    } catch (e) {
      if (stopped) return;
      stop();
      const why = e instanceof DOMException && e.name === "NotAllowedError" ? "permission was refused" : "no camera could be opened";
      opts.onError(`Camera not available (${why}). Type the six digits from the projector instead.`);
      opts.onClose();
      return;
    }
    if (stopped) {
      // Cancelled while the browser was asking for permission.
      media.getTracks().forEach((t) => t.stop());
      return;
    }
    stream = media;
    video.srcObject = media;
    hint.textContent = "Point the camera at the QR code on the projector.";
    void video.play?.()?.catch(() => undefined);
    let detector: BarcodeDetectorLike;
    try {
      detector = new Detector({ formats: ["qr_code"] });
    } catch {
      stop();
      opts.onError("This browser cannot scan QR codes: type the six digits from the projector instead.");
      opts.onClose();
      return;
    }
    void look(detector);
  }

  return { element, start, stop };
}
