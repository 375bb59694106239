import "./style.css";
import { startApp } from "./app.js";
import { resolveApiConfig } from "./config.js";

const config = resolveApiConfig(location.search, import.meta.env.VITE_ATTN_API, location.origin);
const mount = document.getElementById("app");
if (!mount) throw new Error("index.html has no #app element");
startApp(mount, config);
