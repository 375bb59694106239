import { defineConfig } from "vitest/config";

declare const process: { env: Record<string, string | undefined> };

// `npm run dev` proxies the API to a local attendance-service (grpc-web is
// plain HTTP POSTs), so the dev page can call its own origin like the real one.
const devApi = process.env["ATTN_DEV_API"] ?? "http://127.0.0.1:50051";

export default defineConfig({
  // Relative asset URLs: the built app works wherever attendance-service mounts it.
  base: "./",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: true,
  },
  server: {
    proxy: {
      "^/attn\\.v1\\.": { target: devApi, changeOrigin: true },
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
