// A tiny element helper: h("button", { testid: "x", onclick }, "Label").
// Text is always set as text nodes, never parsed as HTML.

export type Child = Node | string | number | null | undefined | false | Child[];

export type Props = {
  class?: string;
  testid?: string;
  dataset?: Record<string, string>;
  style?: string;
} & { [key: `on${string}`]: ((ev: never) => void) | undefined } & Record<string, unknown>;

export function append(parent: Node, ...children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, ...c);
    else parent.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props | null = null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = String(value);
    else if (key === "testid") el.dataset["testid"] = String(value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") el.setAttribute("style", String(value));
    else if (key.startsWith("on") && typeof value === "function")
      el.addEventListener(key.slice(2), value as EventListener);
    else if (key in el) (el as unknown as Record<string, unknown>)[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, ...children);
  return el;
}

export function clear(el: Element): void {
  el.replaceChildren();
}

export function formatTime(d: Date | undefined): string {
  if (!d || Number.isNaN(d.getTime())) return "—";
  return d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}
