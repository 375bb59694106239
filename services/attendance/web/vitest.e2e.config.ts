import { defineConfig } from "vitest/config";

// `npm run test:e2e`: the Playwright browser tests in e2e/, kept apart from the
// unit tests because they need Chromium and running ATTN services.
export default defineConfig({
  test: {
    include: ["e2e/**/*.e2e.ts"],
    environment: "node",
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
