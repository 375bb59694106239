import { describe, expect, it } from "vitest";
import { checkInLink, linkFor, secondsLeft } from "./check-in-code.js";

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
