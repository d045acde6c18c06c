// Put by the pod first in a static scene's page (a sandboxed frame): tells the participant's page the page's
// named fields, whether Continue may be pressed, and its height. A classic script, so it runs before the page's own.
// The page's script may call gymkube.setValue(name, value) and gymkube.setContinue(bool).
(() => {
  const host = window.parent; // taken now: the page's own script may shadow `parent` later
  if (host === window) return; // opened on its own: nobody to tell
  const stored = new Map(); // gymkube.setValue
  const FIELDS = "input[name], select[name], textarea[name]";
  const SKIPPED = new Set(["button", "submit", "reset", "image", "file", "password"]);
  let allowed = true; // gymkube.setContinue
  let ready = false;
  let queued = false;
  let violations = 0;

  function fieldValue(el, all) {
    if (el.type === "checkbox") {
      const boxes = all.filter((other) => other.type === "checkbox" && other.name === el.name);
      return boxes.length === 1 ? el.checked : boxes.filter((b) => b.checked).map((b) => b.value);
    }
    if (el.type === "radio") return all.find((r) => r.type === "radio" && r.name === el.name && r.checked)?.value ?? null;
    if (el.multiple && el.selectedOptions) return [...el.selectedOptions].map((o) => o.value);
    if ((el.type === "number" || el.type === "range") && el.value !== "") return Number.isFinite(el.valueAsNumber) ? el.valueAsNumber : el.value;
    return el.value;
  }

  function values() {
    const all = [...document.querySelectorAll(FIELDS)].filter((el) => !el.disabled && !SKIPPED.has(el.type));
    const out = new Map();
    for (const el of all) if (!out.has(el.name)) out.set(el.name, fieldValue(el, all));
    for (const [name, value] of stored) out.set(name, value);
    return Object.fromEntries(out);
  }

  // Continue needs every field to pass its own HTML checks (required, pattern, min...) and the page's consent.
  const fieldsValid = () => [...document.querySelectorAll("input, select, textarea")].every((el) => !el.willValidate || el.validity.valid);
  // The content's height (for a page whose html is 100% tall, what its body holds).
  const height = () => Math.ceil(Math.max(document.documentElement.getBoundingClientRect().height, document.body?.scrollHeight ?? 0));

  function send(reply) {
    queued = false;
    const state = { gymkube: "page", type: "state", values: values(), continue: allowed && fieldsValid(), height: height() };
    if (reply != null) state.seq = reply;
    host.postMessage(state, "*"); // the parent is the study's page; its origin is not secret, and nothing here is
  }
  function soon() {
    if (ready && !queued) { queued = true; setTimeout(() => send(null), 0); }
  }

  window.gymkube = Object.freeze({
    /** Records `value` (text, a number, true/false, null or a list of texts) under `name` with this page's answers. */
    setValue(name, value) {
      if (typeof name !== "string" || !name) throw new TypeError("gymkube.setValue: the name must be a non-empty string");
      stored.set(name, value);
      soon();
    },
    /** Lets the participant press Continue (true) or not (false); fields that fail their HTML checks also stop it. */
    setContinue(enabled) {
      allowed = Boolean(enabled);
      soon();
    },
  });

  window.addEventListener("message", (event) => {
    if (event.source !== host || event.data?.type !== "collect") return;
    const seq = Number(event.data.seq);
    if (ready) send(Number.isSafeInteger(seq) ? seq : 0);
  });
  for (const type of ["input", "change"]) document.addEventListener(type, soon, true);
  document.addEventListener("submit", (event) => event.preventDefault()); // after the page's own handlers: stay here
  document.addEventListener("securitypolicyviolation", (event) => {
    if (++violations > 20) return;
    host.postMessage({ gymkube: "page", type: "violation", directive: String(event.effectiveDirective), blocked: String(event.blockedURI).slice(0, 200) }, "*");
  });
  document.addEventListener("DOMContentLoaded", () => {
    // After the page's own DOMContentLoaded handlers (they may call setContinue first).
    setTimeout(() => {
      ready = true;
      send(null);
      new ResizeObserver(soon).observe(document.documentElement);
    }, 0);
  });
})();
