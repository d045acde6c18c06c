// The participant's screens: static, survey, gym and end scenes, and full-page messages.
import { buildSurvey, showErrors } from "./survey.js";
import { framePage } from "./pageframe.js";

let cleanups = []; // timers of the scene on screen, cleared when the next one is built

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((c) => c != null));
  return node;
};
// Experiment-authored HTML of surveys, gym and end scenes, sanitised by the pod (and under the page's CSP, which
// runs no inline script); a static scene's page runs in a sandboxed frame instead. Plain text always goes through textContent.
const html = (className, markup, id = "") => (markup ? Object.assign(el("div", { className, id }), { innerHTML: markup }) : null);
const add = (root, ...nodes) => root.append(...nodes.filter((n) => n != null)); // null: an absent title or html
const heading = (title) => (title ? el("h1", {}, title) : null);
const every = (fn, ms) => { const id = setInterval(fn, ms); cleanups.push(() => clearInterval(id)); fn(); };

// Replaces #scene with a fresh element, dropping the old one's listeners and timers.
function freshScene(type, id) {
  cleanups.forEach((fn) => fn());
  cleanups = [];
  const root = el("section", { id: "scene", tabIndex: -1 });
  Object.assign(root.dataset, { sceneType: type, sceneId: id ?? "" });
  document.getElementById("scene").replaceWith(root);
  return root;
}

// Sends scene_done from `button`: busy while waiting, "Loading…" after ok until the next scene replaces it.
// `payload` is the message, or a function that gathers it.
async function submit(button, finish, payload, onErrors) {
  const label = button.textContent;
  Object.assign(button, { disabled: true, textContent: "Sending…" });
  button.setAttribute("aria-busy", "true");
  let ack;
  try { ack = await finish(typeof payload === "function" ? await payload() : payload); } catch { ack = { ok: false, errors: { "": "Could not reach the study server — please try again in a moment." } }; }
  if (!button.isConnected) return;
  if (ack?.ok) { button.textContent = "Loading…"; button.classList.add("loading"); return; }
  Object.assign(button, { disabled: false, textContent: label });
  button.removeAttribute("aria-busy");
  onErrors(ack?.errors && Object.keys(ack.errors).length ? ack.errors : { "": "That did not work — please try again." });
}

/** Shows the `scene` message; returns {canvas} for a gym scene so the caller can start drawing, {unity} (the frame's
 * place) for a Unity scene.
 * report(text) is told what a static scene's page did wrong (it is researcher code). */
export function showScene({ scene: s, index, total }, finish, report) {
  const root = freshScene(s.type, s.id);
  const bar = document.getElementById("progress");
  if (bar && total > 0) Object.assign(bar, { max: total, value: Math.min(index + 1, total), hidden: false });
  if (s.type === "static") {
    showPageScene(root, s, finish, report);
  } else if (s.type === "survey") {
    add(root, heading(s.title), html("content", s.html));
    const form = buildSurvey(s.questions || [], s.button, (answers) =>
      submit(form.querySelector("#continue"), finish, { scene: s.id, answers }, (errors) => showErrors(form, errors)));
    root.append(form);
  } else if (s.type === "gym") {
    root.classList.add("wide");
    const canvas = el("canvas", { id: "game", width: s.width, height: s.height });
    canvas.setAttribute("aria-label", s.title || "Game");
    add(root, heading(s.title), el("p", { id: "hud", className: "hud" }),
      el("div", { className: "stage" }, canvas, el("div", { id: "status", className: "status", hidden: true })),
      html("instructions", s.instructions, "instructions"));
    return { canvas };
  } else if (s.type === "unity") {
    root.classList.add("wide");
    const host = el("div", { className: "stage unity-stage" });
    add(root, heading(s.title), host, html("instructions", s.instructions, "instructions"));
    return { unity: host };
  } else if (s.type === "end") {
    showEnd(root, s);
  } else {
    root.append(el("p", {}, "Please wait…"));
  }
  root.focus({ preventScroll: true });
  return null;
}

// A static scene: the researcher's page in its frame, then Continue (after minTimeS, when the page allows it).
function showPageScene(root, s, finish, report) {
  const label = s.button || "Continue";
  const button = el("button", { type: "button", id: "continue", className: "primary", disabled: true }, label);
  const errorBox = el("p", { className: "error form-error", role: "alert", hidden: true });
  const until = performance.now() + (s.minTimeS || 0) * 1000;
  const update = () => {
    if (button.getAttribute("aria-busy")) return;
    const left = Math.ceil((until - performance.now()) / 1000);
    button.disabled = left > 0 || !page.allowsContinue;
    button.textContent = left > 0 ? `${label} (${left})` : label;
  };
  const page = framePage(s.page, { title: s.title, onChange: update, report });
  cleanups.push(() => page.stop());
  every(update, 250);
  button.addEventListener("click", () => submit(button, finish, async () => ({ scene: s.id, answers: await page.collect() }),
    (errors) => Object.assign(errorBox, { hidden: false, textContent: Object.values(errors).join(" ") })));
  add(root, heading(s.title), page.element, errorBox, el("div", { className: "actions" }, button));
}

function showEnd(root, s) {
  // An early ending (wait_timeout, partner_left, dropped, excluded) looks like any end page; the reason is a hook for tests.
  if (s.reason) root.dataset.endReason = String(s.reason);
  add(root, html("content", s.html));
  if (s.code) {
    const copy = el("button", { type: "button", className: "secondary" }, "Copy");
    copy.addEventListener("click", async () => {
      try { await navigator.clipboard.writeText(s.code); copy.textContent = "Copied"; } catch { copy.textContent = "Select and copy the code"; }
    });
    root.append(el("div", { className: "code-box" }, el("p", {}, "Your completion code"),
      el("output", { id: "completion-code" }, s.code), copy));
  }
  let target = null;
  try { target = s.redirect ? new URL(s.redirect, location.href) : null; } catch { target = null; }
  if (target && /^https?:$/.test(target.protocol)) {
    const note = el("p", { className: "redirect" });
    const until = performance.now() + (s.redirectDelayS || 0) * 1000;
    root.append(note, el("p", {}, el("a", { href: target.href }, "Continue now")));
    every(() => {
      const left = Math.max(0, Math.ceil((until - performance.now()) / 1000));
      note.textContent = `Returning you in ${left} s…`;
      if (left === 0) { cleanups.forEach((fn) => fn()); cleanups = []; location.href = target.href; }
    }, 250);
  }
}

/** Shows a full-page message (refused link, incomplete link, closed connection). */
export function showPage(title, text) {
  const root = freshScene("message", null);
  document.getElementById("progress")?.setAttribute("hidden", "");
  root.append(el("h1", {}, title), el("p", {}, text));
}
