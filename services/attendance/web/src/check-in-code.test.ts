import { describe, expect, it } from "vitest";
import { checkInLink, linkFor, scannedCheckInLink, secondsLeft } from "./check-in-code.js";

describe("check-in links", () => {
  it("reads the session and the code from the URL", () => {
    expect(checkInLink("?attendance=abc-1&code=012345")).toEqual({ attendanceId: "abc-1", code: "012345" });
    expect(checkInLink("?attendance=abc-1&code=012%20345")).toEqual({ attendanceId: "abc-1", code: "012345" });
  });

  it("ignores a link without both, or with a code that is not six digits", () => {
    expect(checkInLink("")).toBeUndefined();
    expect(checkInLink("?attendance=abc-1")).toBeUndefined();
    expect(checkInLink("?code=123456")).toBeUndefined();
    expect(checkInLink("?attendance=abc-1&code=12345x")).toBeUndefined();
  });

  it("uses the server's payload, else builds one on this page's address", () => {
    expect(linkFor("https://attn.example.edu/?attendance=a&code=1", "http://x", "/", "a", "1")).toBe(
      "https://attn.example.edu/?attendance=a&code=1",
    );
    expect(linkFor("", "http://127.0.0.1:50051", "/", "abc", "012345")).toBe("http://127.0.0.1:50051/?attendance=abc&code=012345");
  });

  it("counts down in whole seconds", () => {
    expect(secondsLeft(10_000, 8_500)).toBe(2);
    expect(secondsLeft(10_000, 10_001)).toBe(0);
  });
});

describe("scanned check-in links", () => {
  const here = ["https://attn.example.edu", "/"] as const;

  it("takes a link to this page with a session and a code", () => {
    expect(scannedCheckInLink("https://attn.example.edu/?attendance=abc-1&code=012345", ...here)).toEqual({ ok: true, attendanceId: "abc-1", code: "012345" });
    expect(scannedCheckInLink(" https://attn.example.edu/index.html?code=654321&attendance=s ", ...here)).toEqual({ ok: true, attendanceId: "s", code: "654321" });
    expect(scannedCheckInLink("https://attn.example.edu/attn/?attendance=s&code=111111", "https://attn.example.edu", "/attn/index.html")).toEqual({
      ok: true,
      attendanceId: "s",
      code: "111111",
    });
  });

  it("refuses a link to another site, scheme, port or path, naming where it points", () => {
    for (const raw of [
      "https://attn.example.edu.evil.test/?attendance=abc-1&code=012345",
      "https://evil.test/?attendance=abc-1&code=012345",
      "http://attn.example.edu/?attendance=abc-1&code=012345",
      "https://attn.example.edu:8443/?attendance=abc-1&code=012345",
      "https://attn.example.edu@evil.test/?attendance=abc-1&code=012345",
      "https://attn.example.edu/other/?attendance=abc-1&code=012345",
      "javascript:alert(1)//?attendance=abc-1&code=012345",
      "data:text/html,<script>alert(1)</script>",
    ]) {
      const r = scannedCheckInLink(raw, ...here);
      expect(r.ok, raw).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(/not to this ATTN site \(attn\.example\.edu\): it was not opened/);
    }
    const r = scannedCheckInLink("https://evil.test/phish?attendance=a&code=012345", ...here);
    expect(!r.ok && r.reason).toContain("points to evil.test/phish");
  });

  it("refuses text that is not a link, and a link of this page without a session and code", () => {
    const text = scannedCheckInLink("012345", ...here);
    expect(!text.ok && text.reason).toMatch(/not an ATTN check-in link/);
    const bare = scannedCheckInLink("https://attn.example.edu/?attendance=abc-1&code=12", ...here);
    expect(!bare.ok && bare.reason).toMatch(/not a check-in link/);
  });
});
