// Taking the selfie for security option 3: the camera where the browser has
// one (getUserMedia), or a file chosen or shot with the phone's camera app.
import { h } from "./dom.js";
import { fitWithin, selfieProblem, sniffImageType } from "./image.js";

export interface SelfiePicker {
  element: HTMLElement;
  bytes(): Uint8Array | undefined;
  stop(): void;
}

function canvasToJpeg(canvas: HTMLCanvasElement): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    canvas.toBlob(
      (blob) => {
        if (!blob) return reject(new Error("the browser could not encode the photo"));
        blob.arrayBuffer().then((buf) => resolve(new Uint8Array(buf)), reject);
      },
      "image/jpeg",
      0.88,
    );
  });
}

function drawScaled(source: CanvasImageSource, width: number, height: number): HTMLCanvasElement {
  const size = fitWithin(width, height);
  const canvas = document.createElement("canvas");
  canvas.width = size.width;
  canvas.height = size.height;
  const g = canvas.getContext("2d");
  if (!g) throw new Error("the browser cannot draw the photo");
  g.drawImage(source, 0, 0, size.width, size.height);
  return canvas;
}

/** A chosen file as JPEG/PNG bytes, downscaled when the browser can decode it. */
async function fileToSelfie(file: File): Promise<Uint8Array> {
  const raw = new Uint8Array(await file.arrayBuffer());
  if (!sniffImageType(raw)) throw new Error("The photo must be a JPEG or PNG image.");
  try {
    const bitmap = await createImageBitmap(file);
    try {
      const { width, height } = bitmap;
      if (Math.max(width, height) <= 1024 && !selfieProblem(raw)) return raw;
      return await canvasToJpeg(drawScaled(bitmap, width, height));
    } finally {
      bitmap.close();
    }
  } catch {
    return raw; // could not decode here; let the size check and the server decide
  }
}

export function createSelfiePicker(onChange: (ready: boolean) => void, onError: (msg: string) => void): SelfiePicker {
  let selfie: Uint8Array | undefined;
  let stream: MediaStream | undefined;
  let previewUrl: string | undefined;

  const video = h("video", { testid: "selfie-video", class: "selfie-video", autoplay: true, muted: true, playsInline: true, hidden: true });
  const preview = h("img", { testid: "selfie-preview", class: "selfie-preview", alt: "Your selfie", hidden: true });
  const hint = h("p", { class: "hint", testid: "selfie-hint" }, "This session checks your face: take a selfie or choose a photo.");
  const captureBtn = h("button", { type: "button", testid: "selfie-capture", hidden: true, onclick: () => void capture() }, "Take photo");
  const cameraBtn = h("button", { type: "button", testid: "selfie-camera-start", onclick: () => void startCamera() }, "Open camera");
  const fileInput = h("input", {
    type: "file",
    testid: "selfie-file",
    accept: "image/jpeg,image/png",
    capture: "user",
    onchange: () => void chooseFile(),
  });

  const hasCamera = typeof navigator !== "undefined" && !!navigator.mediaDevices?.getUserMedia;
  if (!hasCamera) cameraBtn.hidden = true;

  function setSelfie(bytes: Uint8Array | undefined) {
    const problem = bytes ? selfieProblem(bytes) : undefined;
    if (bytes && problem) {
      onError(problem);
      bytes = undefined;
    }
    selfie = bytes;
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = undefined;
    if (bytes) {
      previewUrl = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: sniffImageType(bytes) ?? "image/jpeg" }));
      preview.src = previewUrl;
      preview.hidden = false;
    } else {
      preview.removeAttribute("src");
      preview.hidden = true;
    }
    onChange(!!selfie);
  }

  function stopCamera() {
    stream?.getTracks().forEach((t) => t.stop());
    stream = undefined;
    video.srcObject = null;
    video.hidden = true;
    captureBtn.hidden = true;
    cameraBtn.hidden = !hasCamera;
  }

  async function startCamera() {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "user" }, audio: false });
      video.srcObject = stream;
      video.hidden = false;
      captureBtn.hidden = false;
      cameraBtn.hidden = true;
      await video.play().catch(() => undefined);
    } catch (e) {
      stopCamera();
      const why = e instanceof DOMException && e.name === "NotAllowedError" ? "permission was refused" : "no camera could be opened";
      onError(`Camera not available (${why}). Choose a photo instead.`);
    }
  }

  async function capture() {
    if (!video.videoWidth || !video.videoHeight) {
      onError("The camera is not ready yet. Try again in a moment.");
      return;
    }
    try {
      setSelfie(await canvasToJpeg(drawScaled(video, video.videoWidth, video.videoHeight)));
      stopCamera();
    } catch (e) {
      onError(`Could not take the photo: ${e instanceof Error ? e.message : String(e)}.`);
    }
  }

  async function chooseFile() {
    const file = fileInput.files?.[0];
    if (!file) return setSelfie(undefined);
    try {
      setSelfie(await fileToSelfie(file));
    } catch (e) {
      setSelfie(undefined);
      onError(e instanceof Error ? e.message : String(e));
    }
  }

  const element = h(
    "div",
    { class: "selfie", testid: "selfie-panel" },
    hint,
    h("div", { class: "row" }, cameraBtn, captureBtn, h("label", { class: "file" }, "or choose a photo: ", fileInput)),
    video,
    preview,
  );

  return {
    element,
    bytes: () => selfie,
    stop() {
      stopCamera();
      if (previewUrl) URL.revokeObjectURL(previewUrl);
    },
  };
}
