// Where the app sends its grpc-web calls. In order:
//   1. the `api` query parameter (…/?api=http://localhost:8080#/teacher),
//   2. VITE_ATTN_API set when the app was built,
//   3. the page's own origin (attendance-service serves this app itself).

export type BaseUrlSource = "query" | "build" | "origin";

export interface ApiConfig {
  baseUrl: string;
  source: BaseUrlSource;
}

/** An http(s) URL without a trailing slash, or undefined if `raw` is not one. */
export function normalizeBaseUrl(raw: string | null | undefined): string | undefined {
  const text = raw?.trim();
  if (!text) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
  if (url.search || url.hash || url.username || url.password) return undefined;
  return `${url.origin}${url.pathname}`.replace(/\/+$/, "");
}

export function resolveApiConfig(search: string, buildValue: string | undefined, origin: string): ApiConfig {
  const fromQuery = normalizeBaseUrl(new URLSearchParams(search).get("api"));
  if (fromQuery) return { baseUrl: fromQuery, source: "query" };
  const fromBuild = normalizeBaseUrl(buildValue);
  if (fromBuild) return { baseUrl: fromBuild, source: "build" };
  return { baseUrl: origin.replace(/\/+$/, ""), source: "origin" };
}
