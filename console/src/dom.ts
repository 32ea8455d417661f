// A few lines instead of a UI library: build elements from tags, attributes and children,
// and the three states every panel has (loading, error, loaded or empty).
import { describeError, errorBox } from "./errors.js";

export type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, string | number | boolean | null | undefined | ((e: Event) => void)>;

/** Properties set as properties, so `false` really means off. */
const PROPS = new Set(["disabled", "hidden", "required", "checked", "value", "selected", "readOnly"]);

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.slice(2).toLowerCase(), v);
    else if (PROPS.has(k)) (el as unknown as Record<string, unknown>)[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
}

export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

export const loadingNote = (what = "Loading…") => h("p", { class: "muted", role: "status", "aria-live": "polite" }, what);
export const emptyNote = (text: string) => h("p", { class: "empty" }, text);

/**
 * Fills `el` with a loading note, then with what `render` makes of the answer, or with
 * the error explained. Returns the answer (undefined on error).
 */
export async function panel<T>(el: Element, load: () => Promise<T>, render: (v: T) => Child): Promise<T | undefined> {
  el.setAttribute("aria-busy", "true");
  replace(el, loadingNote());
  try {
    const v = await load();
    replace(el, render(v));
    return v;
  } catch (err) {
    replace(el, errorBox(describeError(err)));
    return undefined;
  } finally {
    el.removeAttribute("aria-busy");
  }
}

/** A form whose submit runs `action` with the button disabled and any error shown under it. */
export function form(attrs: Attrs, fields: Child[], submitLabel: string, action: (data: FormData, f: HTMLFormElement) => Promise<void>): HTMLFormElement {
  const status = h("div", { class: "form-status", "aria-live": "polite" });
  const button = h("button", { type: "submit" }, submitLabel);
  const f = h("form", { ...attrs, novalidate: false }, fields, h("div", { class: "actions" }, button), status);
  f.addEventListener("submit", (e) => {
    e.preventDefault();
    button.disabled = true;
    replace(status, loadingNote("Working…"));
    action(new FormData(f), f)
      .then(() => replace(status))
      .catch((err) => replace(status, errorBox(describeError(err))))
      .finally(() => (button.disabled = false));
  });
  return f;
}

export function field(label: string, input: HTMLElement, hint?: string): HTMLElement {
  const id = input.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  input.id = id;
  // A checkbox reads as a sentence: the box, then what ticking it means, on one line.
  if (input instanceof HTMLInputElement && input.type === "checkbox") {
    return h("div", { class: "field check" }, input, h("label", { for: id }, label), hint ? h("small", { class: "muted" }, hint) : null);
  }
  return h("div", { class: "field" }, h("label", { for: id }, label), input, hint ? h("small", { class: "muted" }, hint) : null);
}

export function table(headers: string[], rows: Child[][], caption?: string): HTMLElement {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      null,
      caption ? h("caption", null, caption) : null,
      h("thead", null, h("tr", null, headers.map((t) => h("th", { scope: "col" }, t)))),
      // data-label: on a phone each row becomes a small card of "label: value" lines.
      h("tbody", null, rows.map((r) => h("tr", null, r.map((c, i) => h("td", { "data-label": headers[i] ?? "" }, c))))),
    ),
  );
}

export function dl(pairs: Array<[string, Child]>): HTMLElement {
  return h("dl", { class: "facts" }, pairs.map(([k, v]) => [h("dt", null, k), h("dd", null, v)]));
}
