// A static scene's page in a sandboxed frame (researcher code: an opaque origin), and the checks on all it says.
// The frame's side is static/js/pagebridge.js; the pod checks the answers again (game_pod/page_answers.py).
import { PAGE_LIMITS } from "./protocol.js";

const SANDBOX = "allow-scripts allow-forms allow-popups"; // as the pod's CSP says: an opaque origin
export const MAX_HEIGHT_PX = 50000;
const COLLECT_TIMEOUT_MS = 1000; // the page is asked for its fields once more when Continue is pressed
const SILENT_PAGE_MS = 1500; // a page that loaded but never spoke (its bridge broken) must not hold Continue
const MAX_VIOLATIONS_TOLD = 10;
const utf8 = new TextEncoder();

const isPlainObject = (v) => v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype;
const isText = (v) => typeof v === "string" && v.length <= PAGE_LIMITS.textChars;
const isName = (k) => k.length > 0 && k.length <= PAGE_LIMITS.nameChars && !/[\u0000-\u001f\u007f]/.test(k);

// One value as recorded, or undefined when it cannot be: text, a finite number, true/false, null, a list of texts.
function cleanValue(v) {
  if (v === null || typeof v === "boolean") return v;
  if (typeof v === "number") return Number.isFinite(v) ? v : undefined;
  if (isText(v)) return v.toWellFormed();
  if (Array.isArray(v) && v.length <= PAGE_LIMITS.listItems && v.every(isText)) return v.map((s) => s.toWellFormed());
  return undefined;
}

/** The values a page may record: {values, dropped} — at most PAGE_LIMITS.fields, answerBytes of JSON in all. */
export function cleanValues(raw) {
  const kept = new Map(); // a Map: a field named "__proto__" is only a name
  let dropped = 0;
  let bytes = 2; // {}
  if (!isPlainObject(raw)) return { values: {}, dropped: 1 };
  let seen = 0;
  for (const key in raw) {
    if (++seen > PAGE_LIMITS.fields) { dropped += 1; break; } // names past the limit are not looked at
    const value = isName(key) ? cleanValue(raw[key]) : undefined;
    const size = value === undefined ? 0 : utf8.encode(JSON.stringify(key)).length + utf8.encode(JSON.stringify(value)).length + 2;
    if (value === undefined || bytes + size > PAGE_LIMITS.answerBytes) { dropped += 1; continue; }
    bytes += size;
    kept.set(key, value);
  }
  return { values: Object.fromEntries(kept), dropped };
}

/** A message from a page's bridge, checked and bounded, or null: {type: "state", values, dropped, continue, height, seq} | {type: "violation", text}. */
export function readMessage(data) {
  if (!isPlainObject(data) || data.gymkube !== "page") return null;
  if (data.type === "violation") {
    const text = `${String(data.directive).slice(0, 60)} blocked ${String(data.blocked).slice(0, 200)}`;
    return typeof data.directive === "string" ? { type: "violation", text } : null;
  }
  if (data.type !== "state" || typeof data.continue !== "boolean" || typeof data.height !== "number" || !isPlainObject(data.values)) return null;
  const seq = Number.isSafeInteger(data.seq) ? data.seq : null;
  const height = Number.isFinite(data.height) ? Math.min(Math.max(Math.round(data.height), 0), MAX_HEIGHT_PX) : 0;
  return { type: "state", ...cleanValues(data.values), continue: data.continue, height, seq };
}

/**
 * Shows the page at `url` in a sandboxed frame. onChange() is called when its state changes; report(text) is
 * told, once per kind, of what the page did wrong (malformed messages, dropped values, CSP violations).
 * Returns {element, ready, allowsContinue, collect(): Promise<values>, stop()}.
 */
export function framePage(url, { title, onChange, report }) {
  const frame = document.createElement("iframe");
  Object.assign(frame, { className: "page-frame", src: url, title: title || "Study page", referrerPolicy: "no-referrer" });
  frame.setAttribute("sandbox", SANDBOX);
  let state = null; // the page's last well-formed state
  let silent = false; // loaded, but no bridge spoke
  let asked = 0;
  let waiting = []; // [seq, resolve] of collect() calls
  const told = new Set(); // malformed, dropped, silent: each told once
  let violations = 0;
  const tell = (kind, text) => {
    if (kind === "violation" ? ++violations > MAX_VIOLATIONS_TOLD : told.has(kind)) return;
    told.add(kind);
    report(`${url}: ${text}`);
  };

  function onMessage(event) {
    if (event.source === null || event.source !== frame.contentWindow) return; // only this frame's own page
    const msg = readMessage(event.data);
    if (msg === null) { tell("malformed", "a message that is not a page state was ignored"); return; }
    if (msg.type === "violation") { tell("violation", `Content-Security-Policy: ${msg.text}`); return; }
    if (msg.dropped) tell("dropped", `${msg.dropped} value(s) outside the limits were not recorded`);
    state = msg;
    frame.style.height = `${msg.height}px`;
    waiting = waiting.filter(([seq, resolve]) => (msg.seq !== null && msg.seq >= seq ? resolve(msg.values) : true));
    onChange();
  }
  window.addEventListener("message", onMessage);
  frame.addEventListener("load", () => setTimeout(() => {
    if (state || !frame.isConnected) return;
    silent = true;
    tell("silent", "the page did not start its bridge; Continue is allowed");
    onChange();
  }, SILENT_PAGE_MS));

  return {
    element: frame,
    get ready() { return state !== null || silent; },
    get allowsContinue() { return state ? state.continue : silent; },
    /** The page's values now (asked once more), or its last ones when it does not answer in time. */
    collect() {
      const seq = ++asked;
      return new Promise((resolve) => {
        waiting.push([seq, resolve]);
        frame.contentWindow?.postMessage({ gymkube: "page", type: "collect", seq }, "*"); // an opaque origin: "*"
        setTimeout(() => resolve(state?.values ?? {}), COLLECT_TIMEOUT_MS);
      });
    },
    stop() {
      window.removeEventListener("message", onMessage);
      for (const [, resolve] of waiting) resolve(state?.values ?? {});
      waiting = [];
    },
  };
}
