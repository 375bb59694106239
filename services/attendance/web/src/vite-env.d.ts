/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** Build-time API base URL, e.g. http://localhost:8080 for the envoy front door. */
  readonly VITE_ATTN_API?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
