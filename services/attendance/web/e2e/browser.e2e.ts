// Browser test of the built app against the real services (issue 5, item 4).
// Drives headless Chromium (Debian's `chromium` package) with playwright-core:
// a teacher starts a session, two students in separate browser contexts
// attend, the roster shows them without a reload, the teacher fails one, and
// that student's page shows it. Ends with a screenshot of the teacher page.
// Then the rotating check-in code: the teacher's projector view (screenshot
// tests/artifacts/projector.png), its QR read back from the screenshot's
// pixels, and a student's page scanning it through the (fake) camera.
// And a course session: the teacher starts it for a course (sending the
// browser's time zone), one enrolled student checks in, the others are listed
// as not checked in (screenshot tests/artifacts/course-roster-absentees.png),
// the teacher excuses one through the page, and the course report opens
// (screenshot tests/artifacts/course-report.png) with its register export.
//
//   ATTN_WEB_URL=http://127.0.0.1:50051/ npm run test:e2e
//
// ATTN_WEB_URL   the page attendance-service (or envoy) serves; unset = skipped
// ATTN_API_URL   optional ?api= override, e.g. http://127.0.0.1:8080 for envoy
// CHROMIUM_PATH  default /usr/bin/chromium
// ATTN_E2E_ARTIFACTS  where the screenshot goes (default <repo>/tests/artifacts)
// ATTN_E2E_CORS  set (to anything) when ATTN_WEB_URL's origin, say
//                http://127.0.0.1:PORT, is in the service's ATTN_CORS_ORIGINS and
//                the same port named as localhost is not: then a page on each
//                origin calls the API on the other, and only the allowed one gets through.
// The course session needs users the demo accounts are not: a teacher and
// students with a course, imported before the run (tests/clients/run.sh does,
// with `attendance-service import-roster` and a roster CSV whose `courses`
// column says `E2E101=E2E Intro to Testing` for all four):
// ATTN_E2E_COURSE           the course's code (default E2E101)
// ATTN_E2E_COURSE_TEACHER   who teaches it (default e2e_course_teacher)
// ATTN_E2E_COURSE_STUDENTS  comma-separated, the students enrolled in it, at
//                           least three (default e2e_course_student_1,_2,_3);
//                           all with password "password"
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const WEB_URL = process.env["ATTN_WEB_URL"];
const API_URL = process.env["ATTN_API_URL"];
const CHROMIUM =
  process.env["CHROMIUM_PATH"] ?? ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => existsSync(p));
const ARTIFACTS = resolve(process.env["ATTN_E2E_ARTIFACTS"] ?? resolve(import.meta.dirname, "../../../../tests/artifacts"));
const TIMEOUT = 20_000;
const CORS = !!process.env["ATTN_E2E_CORS"];
const COURSE = process.env["ATTN_E2E_COURSE"] ?? "E2E101";
const COURSE_TEACHER = process.env["ATTN_E2E_COURSE_TEACHER"] ?? "e2e_course_teacher";
const COURSE_STUDENTS = (process.env["ATTN_E2E_COURSE_STUDENTS"] ?? "e2e_course_student_1,e2e_course_student_2,e2e_course_student_3")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);
/** Headless Chromium with nothing that reaches beyond this machine. */
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  // A camera for the option-3 selfie panel, without a prompt.
  "--use-fake-ui-for-media-stream",
  "--use-fake-device-for-media-stream",
];

const tid = (id: string) => `[data-testid="${id}"]`;

function appUrl(page: string = WEB_URL!, api: string | undefined = API_URL): string {
  const u = new URL(page);
  if (api) u.searchParams.set("api", api);
  return u.toString();
}

/** The same server under its other loopback name: another origin to the browser. */
function otherOrigin(url: string): string {
  const u = new URL(url);
  u.hostname = u.hostname === "localhost" ? "127.0.0.1" : "localhost";
  return u.toString();
}

/** Random accounts so reruns and parallel suites don't collide on the same student. */
function pick(prefix: string, max: number, not: string[] = []): string {
  for (;;) {
    const name = `${prefix}${1 + Math.floor(Math.random() * max)}`;
    if (!not.includes(name)) return name;
  }
}

async function signIn(ctx: BrowserContext, username: string, url = appUrl()): Promise<Page> {
  const page = await ctx.newPage();
  page.on("pageerror", (e) => console.error(`[${username}] page error:`, e));
  await page.goto(url);
  await page.fill(tid("signin-username"), username);
  await page.fill(tid("signin-password"), "password");
  await page.click(tid("signin-submit"));
  return page;
}

async function waitAttr(page: Page, testid: string, attr: string, value: string) {
  await page.locator(`${tid(testid)}[data-${attr}="${value}"]`).waitFor({ timeout: TIMEOUT });
}

describe.skipIf(!WEB_URL)("browser app against the real services", () => {
  let browser: Browser;

  beforeAll(async () => {
    if (!CHROMIUM) throw new Error("no Chromium found: apt-get install chromium, or set CHROMIUM_PATH");
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
  });

  it("teacher sees students check in live, fails one, and the student sees it", { timeout: 120_000 }, async () => {
    const teacherName = pick("demo_teacher_", 10);
    const s1 = pick("demo_student_", 500);
    const s2 = pick("demo_student_", 500, [s1]);
    const lesson = `E2E lesson ${Date.now()}`;

    // Teacher: start a session (finish a leftover one first: one active session per teacher).
    const teacher = await signIn(await browser.newContext(), teacherName);
    await teacher.locator(`${tid("start-submit")}, ${tid("live-session")}`).first().waitFor({ timeout: TIMEOUT });
    if (await teacher.locator(tid("live-session")).isVisible()) {
      await teacher.click(tid("finish-session"));
      await teacher.click(tid("new-session"));
    }
    await teacher.fill(tid("start-lesson"), lesson);
    await teacher.fill(tid("start-duration"), "30");
    await teacher.selectOption(tid("start-security"), "1");
    await teacher.click(tid("start-submit"));
    await waitAttr(teacher, "stream-status", "state", "live");
    expect(await teacher.textContent(tid("session-lesson"))).toBe(lesson);

    // Two students, each in their own browser context, find the session and attend.
    const students: Record<string, Page> = {};
    for (const sn of [s1, s2]) {
      const page = await signIn(await browser.newContext(), sn);
      await page.fill(tid("search-lesson"), lesson);
      await page.click(tid("search-submit"));
      const row = page.locator(`${tid("search-result")}[data-lesson="${lesson}"]`);
      await row.waitFor({ timeout: TIMEOUT });
      await row.locator(tid("attend-button")).click();
      await page.locator(`${tid("my-status")}[data-status]`).waitFor({ timeout: TIMEOUT });
      students[sn] = page;
    }

    // The teacher's roster shows both, with no reload.
    for (const sn of [s1, s2]) await teacher.locator(tid(`roster-row-${sn}`)).waitFor({ timeout: TIMEOUT });
    expect(Number(await teacher.textContent(tid("count-total")))).toBe(2);

    // The teacher fails one; the roster and that student's page show it.
    await teacher.click(tid(`fail-${s1}`));
    await teacher.fill(tid(`fail-reason-${s1}`), "Not in the room (e2e)");
    await teacher.click(tid(`fail-confirm-${s1}`));
    await waitAttr(teacher, `roster-status-${s1}`, "status", "FAILED");
    // The record's history (ListAuditEvents) names who failed it and why.
    await teacher.click(tid(`history-${s1}`));
    await teacher.locator(tid(`history-list-${s1}`)).getByText("Not in the room (e2e)").waitFor({ timeout: TIMEOUT });
    expect(await teacher.textContent(tid(`history-list-${s1}`))).toContain("Attended → Failed");
    // The student's record was final, so its stream had ended; the page looks
    // again when the student comes back to it or asks ("Check again").
    await students[s1]!.click(tid("my-refresh"));
    await waitAttr(students[s1]!, "my-status", "status", "FAILED");
    expect(await students[s1]!.textContent(tid("my-reason"))).toBe("Not in the room (e2e)");
    expect(await students[s2]!.getAttribute(tid("my-status"), "data-status")).not.toBe("FAILED");

    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = resolve(ARTIFACTS, "teacher-roster.png");
    await teacher.screenshot({ path: shot, fullPage: true });
    console.log(`teacher page screenshot: ${shot}`);

    await teacher.click(tid("finish-session"));
    await waitAttr(teacher, "session-state", "state", "finished");
  });

  it("projects the rotating code's QR, full screen, and a student's page scans it to check in", { timeout: 120_000 }, async () => {
    const teacherName = pick("demo_teacher_", 10);
    const sn = pick("demo_student_", 500);
    const lesson = `E2E projector ${Date.now()}`;

    // Teacher, on a 16:9 projector: a session asking for the code, rotating every 10 s.
    const teacher = await signIn(await browser.newContext({ viewport: { width: 1280, height: 720 } }), teacherName);
    await teacher.locator(`${tid("start-submit")}, ${tid("live-session")}`).first().waitFor({ timeout: TIMEOUT });
    if (await teacher.locator(tid("live-session")).isVisible()) {
      await teacher.click(tid("finish-session"));
      await teacher.click(tid("new-session"));
    }
    await teacher.fill(tid("start-lesson"), lesson);
    await teacher.fill(tid("start-duration"), "30");
    await teacher.selectOption(tid("start-security"), "1");
    await teacher.check(tid("start-require-code"));
    await teacher.fill(tid("start-code-period"), "10");
    await teacher.click(tid("start-submit"));
    await teacher.locator(`${tid("check-in-code")}[data-code]`).waitFor({ timeout: TIMEOUT });
    const first = (await teacher.getAttribute(tid("check-in-code"), "data-code"))!;
    expect(first).toMatch(/^\d{6}$/);
    expect(await teacher.getAttribute(tid("check-in-qr"), "data-payload")).toMatch(new RegExp(`[?&]code=${first}$`));

    // A student, signed in now (a code is good for its window and the next):
    // a camera (Chromium's fake one) and a stand-in BarcodeDetector (Chromium
    // on Linux has none) that reads whatever QR the test holds up, once the
    // camera's video is playing. (Plain code only: Playwright sends it as text.)
    const studentCtx = await browser.newContext();
    await studentCtx.addInitScript(() => {
      const w = window as unknown as { __qr?: string; __streams: MediaStream[]; BarcodeDetector: unknown };
      w.__streams = [];
      if (!navigator.mediaDevices) return; // not a secure context: no camera, nothing to scan with
      const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
      navigator.mediaDevices.getUserMedia = async (c?: MediaStreamConstraints) => {
        const s = await gum(c);
        w.__streams.push(s);
        return s;
      };
      w.BarcodeDetector = class {
        static async getSupportedFormats() {
          return ["qr_code"];
        }
        async detect(v: unknown) {
          if (!(v instanceof HTMLVideoElement) || v.readyState < 2 || !w.__qr) return [];
          return [{ rawValue: w.__qr, format: "qr_code" }];
        }
      };
    });
    const student = await signIn(studentCtx, sn);
    await student.locator(tid("scan-qr")).waitFor({ timeout: TIMEOUT });

    // The projector view fills the screen: the QR at least half its height, the digits whole.
    await teacher.click(tid("check-in-code-projector"));
    await waitAttr(teacher, "check-in-code-panel", "projector", "true");
    // The QR follows the code as it rotates.
    await teacher.waitForFunction(
      (old) => {
        const code = document.querySelector<HTMLElement>('[data-testid="check-in-code"]')?.dataset["code"];
        const qr = document.querySelector<SVGElement>('[data-testid="check-in-qr"]')?.dataset["payload"];
        return !!code && code !== old && !!qr?.endsWith(`code=${code}`);
      },
      first,
      { timeout: 15_000 },
    );
    const code = (await teacher.getAttribute(tid("check-in-code"), "data-code"))!;
    const payload = (await teacher.getAttribute(tid("check-in-qr"), "data-payload"))!;
    const view = teacher.viewportSize()!;
    const qrBox = (await teacher.locator(tid("check-in-qr")).boundingBox())!;
    const digitsBox = (await teacher.locator(tid("check-in-code")).boundingBox())!;
    expect(await teacher.locator(tid("check-in-qr")).isVisible()).toBe(true);
    expect(await teacher.locator(tid("check-in-code")).isVisible()).toBe(true);
    expect(qrBox.height).toBeGreaterThanOrEqual(view.height / 2);
    expect(digitsBox.x).toBeGreaterThanOrEqual(0);
    expect(digitsBox.x + digitsBox.width).toBeLessThanOrEqual(view.width);
    // No digit runs off its box (nor so off the screen).
    expect(await teacher.$eval(tid("check-in-code"), (el) => el.scrollWidth <= el.clientWidth)).toBe(true);
    expect((await teacher.textContent(tid("check-in-code")))!.replace(/\s/g, "")).toBe(code);
    expect((await teacher.textContent(tid("check-in-code-countdown")))!).toMatch(/Next code in \d+ s/);

    // What the projector shows, read back from the screenshot's pixels (jsQR in a blank page).
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = resolve(ARTIFACTS, "projector.png");
    const png = await teacher.screenshot({ path: shot });
    console.log(`projector view screenshot: ${shot}`);
    const reader = await studentCtx.newPage();
    await reader.addScriptTag({ path: createRequire(import.meta.url).resolve("jsqr") });
    const seen = await reader.evaluate(async (b64) => {
      const img = new Image();
      img.src = `data:image/png;base64,${b64}`;
      await img.decode();
      const canvas = document.createElement("canvas");
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const g = canvas.getContext("2d")!;
      g.drawImage(img, 0, 0);
      const d = g.getImageData(0, 0, canvas.width, canvas.height);
      type Reader = (data: Uint8ClampedArray, w: number, h: number) => { data: string } | null;
      return (window as unknown as { jsQR: Reader }).jsQR(d.data, d.width, d.height)?.data ?? null;
    }, png.toString("base64"));
    await reader.close();
    // The QR on the screen is the link of the code on the screen (or, rotated in that instant, of the next).
    const after = (await teacher.getAttribute(tid("check-in-qr"), "data-payload"))!;
    expect([payload, after]).toContain(seen);
    const seenCode = new URL(seen!).searchParams.get("code");

    // Held up to the camera: a QR pointing elsewhere is refused and never opened...
    const before = student.url();
    await student.evaluate(() => ((window as unknown as { __qr: string }).__qr = "https://attn.example.invalid/?attendance=x&code=123456"));
    await student.click(tid("scan-qr"));
    await student.locator(tid("error-banner")).waitFor({ state: "visible", timeout: TIMEOUT });
    expect(await student.textContent(tid("error-text"))).toContain("it was not opened");
    expect(student.url()).toBe(before);
    expect(await student.locator(tid("check-in-code-input")).count()).toBe(0);

    // ...the projector's fills in the session and code; the camera is off again; the check-in counts.
    await student.evaluate((link) => ((window as unknown as { __qr: string }).__qr = link), seen!);
    await student.click(tid("scan-qr"));
    await student.locator(tid("check-in-code-input")).waitFor({ timeout: TIMEOUT });
    expect(await student.inputValue(tid("check-in-code-input"))).toBe(seenCode);
    const tracks = await student.evaluate(() =>
      (window as unknown as { __streams: MediaStream[] }).__streams.flatMap((s) => s.getTracks().map((t) => t.readyState)),
    );
    expect(tracks.length).toBeGreaterThanOrEqual(2);
    expect(tracks.every((t) => t === "ended")).toBe(true);
    await student.click(tid("attend-submit"));
    await waitAttr(student, "my-status", "status", "ATTENDED");
    await waitAttr(teacher, `roster-status-${sn}`, "status", "ATTENDED");

    // Leaving the projector view; finishing takes the code off the screen.
    await teacher.click(tid("check-in-code-projector-close"));
    await waitAttr(teacher, "check-in-code-panel", "projector", "false");
    await teacher.click(tid("finish-session"));
    await waitAttr(teacher, "session-state", "state", "finished");
    await teacher.locator(tid("check-in-code-panel")).waitFor({ state: "hidden", timeout: TIMEOUT });
  });

  it("a course session lists the enrolled students who have not checked in, excuses one, and the course report opens", { timeout: 240_000 }, async () => {
    expect(COURSE_STUDENTS.length, "ATTN_E2E_COURSE_STUDENTS: at least three students").toBeGreaterThanOrEqual(3);
    const [s1, s2, s3] = COURSE_STUDENTS as [string, string, string];
    const lesson = `E2E course ${Date.now()}`;
    const zone = "Europe/Istanbul";

    // The teacher's browser is in Istanbul: the session takes that zone.
    const teacher = await signIn(await browser.newContext({ timezoneId: zone, viewport: { width: 1280, height: 900 } }), COURSE_TEACHER);
    // (`:visible`: the hidden banner is in the page from the start.)
    await teacher
      .locator(`${tid("start-submit")}:visible, ${tid("live-session")}:visible, ${tid("error-banner")}:visible`)
      .first()
      .waitFor({ timeout: TIMEOUT });
    if (await teacher.locator(tid("signin-page")).isVisible()) {
      throw new Error(
        `${COURSE_TEACHER} cannot sign in (${await teacher.textContent(tid("error-text"))}): import the course roster first ` +
          `(tests/clients/run.sh: attendance-service import-roster with a courses column naming ${COURSE})`,
      );
    }
    if (await teacher.locator(tid("live-session")).isVisible()) {
      await teacher.click(tid("finish-session"));
      await teacher.click(tid("new-session"));
    }
    // The start form offers the teacher's courses.
    await teacher.locator(`${tid("start-course")} option[value="${COURSE}"]`).waitFor({ state: "attached", timeout: TIMEOUT });
    await teacher.selectOption(tid("start-course"), COURSE);
    await teacher.fill(tid("start-lesson"), lesson);
    await teacher.fill(tid("start-duration"), "30");
    await teacher.selectOption(tid("start-security"), "1");
    await teacher.click(tid("start-submit"));
    await waitAttr(teacher, "stream-status", "state", "live");
    expect(await teacher.textContent(tid("session-lesson"))).toBe(lesson);
    expect(await teacher.textContent(tid("session-course"))).toContain(COURSE);
    expect(await teacher.textContent(tid("session-time-zone"))).toBe(zone);

    // Every enrolled student is on the roster before anyone checks in.
    for (const sn of COURSE_STUDENTS) await waitAttr(teacher, `roster-status-${sn}`, "status", "NOT_CHECKED_IN");
    expect(Number(await teacher.textContent(tid("count-not-checked-in")))).toBe(COURSE_STUDENTS.length);

    // One student checks in; their line turns attended without a reload.
    const student = await signIn(await browser.newContext(), s1);
    await student.fill(tid("search-lesson"), lesson);
    await student.click(tid("search-submit"));
    const row = student.locator(`${tid("search-result")}[data-lesson="${lesson}"]`);
    await row.waitFor({ timeout: TIMEOUT });
    await row.locator(tid("attend-button")).click();
    await waitAttr(student, "my-status", "status", "ATTENDED");
    await waitAttr(teacher, `roster-status-${s1}`, "status", "ATTENDED");
    await expect.poll(() => teacher.textContent(tid("count-not-checked-in")), { timeout: TIMEOUT }).toBe(String(COURSE_STUDENTS.length - 1));
    expect(await teacher.textContent(tid("count-attended"))).toBe("1");
    for (const sn of COURSE_STUDENTS.slice(1)) {
      expect(await teacher.getAttribute(tid(`roster-status-${sn}`), "data-status")).toBe("NOT_CHECKED_IN");
      expect(await teacher.textContent(tid(`roster-status-${sn}`))).toBe("Not checked in");
    }

    mkdirSync(ARTIFACTS, { recursive: true });
    const rosterShot = resolve(ARTIFACTS, "course-roster-absentees.png");
    await teacher.screenshot({ path: rosterShot, fullPage: true });
    console.log(`course roster screenshot: ${rosterShot}`);

    // The teacher excuses one who has not checked in, with a reason.
    await teacher.click(tid(`excuse-${s2}`));
    await teacher.fill(tid(`excuse-reason-${s2}`), "Doctor's note (e2e)");
    await teacher.click(tid(`excuse-confirm-${s2}`));
    await waitAttr(teacher, `roster-status-${s2}`, "status", "EXCUSED");
    expect(await teacher.textContent(tid(`roster-status-${s2}`))).toBe("Excused");
    expect(await teacher.textContent(tid(`roster-reason-${s2}`))).toBe("Excused: Doctor's note (e2e)");
    expect(await teacher.textContent(tid("count-excused"))).toBe("1");
    expect(await teacher.textContent(tid("count-not-checked-in"))).toBe(String(COURSE_STUDENTS.length - 2));
    // The record's history names the excuse.
    await teacher.click(tid(`history-${s2}`));
    await teacher.locator(tid(`history-list-${s2}`)).getByText("Doctor's note (e2e)").waitFor({ timeout: TIMEOUT });
    expect(await teacher.textContent(tid(`history-list-${s2}`))).toContain("Excused");

    // Finished: whoever has not checked in is absent.
    await teacher.click(tid("finish-session"));
    await waitAttr(teacher, "session-state", "state", "finished");
    await waitAttr(teacher, `roster-status-${s3}`, "status", "ABSENT");
    expect(await teacher.textContent(tid("count-not-checked-in-label"))).toBe("Absent");

    // The course report counts archived sessions only: this one counts once
    // the stack's sweeper has archived it (its round runs every minute, so
    // the report is asked again until it shows the session).
    await expect
      .poll(
        async () => {
          await teacher.click(tid(`course-report-${COURSE}`));
          await teacher.locator(tid("course-report-summary")).waitFor({ timeout: TIMEOUT });
          return teacher.textContent(tid("course-report-summary"));
        },
        { timeout: 100_000, interval: 3_000 },
      )
      .toMatch(/^1 archived session/);
    for (const sn of COURSE_STUDENTS) await teacher.locator(tid(`course-report-row-${sn}`)).waitFor({ timeout: TIMEOUT });
    // Present, excused (counted as present) and absent (flagged).
    expect(await teacher.getAttribute(tid(`course-report-row-${s1}`), "data-below-warning")).toBe("false");
    expect(await teacher.getAttribute(tid(`course-report-row-${s2}`), "data-below-warning")).toBe("false");
    expect(await teacher.getAttribute(tid(`course-report-row-${s3}`), "data-below-warning")).toBe("true");
    await teacher.locator(tid("course-report")).scrollIntoViewIfNeeded();
    const reportShot = resolve(ARTIFACTS, "course-report.png");
    await teacher.screenshot({ path: reportShot, fullPage: true });
    console.log(`course report screenshot: ${reportShot}`);

    // The register beside the report's export: a CSV with a row per student per session.
    const [download] = await Promise.all([teacher.waitForEvent("download", { timeout: TIMEOUT }), teacher.click(tid(`course-register-${COURSE}`))]);
    expect(download.suggestedFilename()).toBe(`${COURSE}-register.csv`);
    const header = readFileSync((await download.path())!, "utf8").split(/\r?\n/)[0]!;
    expect(header).toContain("student_number");
    expect(header).toContain("local_date");
  });

  it.skipIf(!CORS || !!API_URL)("calls the API from another origin only when that origin is allowed", { timeout: 60_000 }, async () => {
    // Allowed: the page on ATTN_WEB_URL's origin, the API under the other name.
    const allowed = await signIn(await browser.newContext(), pick("demo_student_", 500), appUrl(WEB_URL, new URL(otherOrigin(WEB_URL!)).origin));
    await allowed.locator(tid("student-page")).waitFor({ timeout: TIMEOUT });
    expect(await allowed.textContent(tid("api-base-url"))).toContain(new URL(otherOrigin(WEB_URL!)).host);

    // Refused: the page on the other origin, the API on ATTN_WEB_URL's. The
    // browser withholds the answer, so the sign-in fails with a network error.
    const refused = await signIn(await browser.newContext(), pick("demo_student_", 500), appUrl(otherOrigin(WEB_URL!), new URL(WEB_URL!).origin));
    await refused.locator(tid("error-banner")).waitFor({ state: "visible", timeout: TIMEOUT });
    expect(await refused.locator(tid("signin-page")).isVisible()).toBe(true);
    console.log(`refused cross-origin sign-in shows: ${await refused.textContent(tid("error-text"))}`);
  });
});
