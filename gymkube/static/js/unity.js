// A Unity scene in the participant's page: the build in its sandboxed frame (static/js/unityframe.js), and what it
// reports, checked and numbered, sent to the pod in batches (game_pod/unity.py takes each entry once).
import { clientNow } from "./input.js";

const SANDBOX = "allow-scripts allow-pointer-lock"; // as the frame's own policy says: an opaque origin
const SEND_EVERY_MS = 250;
const MAX_BATCH = 500;
const MAX_QUEUE = 20000; // entries kept while the pod cannot be reached (minutes of steps)
const MAX_COLUMNS = 32;
const COLUMN = /^[a-z][a-z0-9_]{0,39}$/;
const MAX_NUMBER = 1e15; // a time or score past it is refused by the pod, and with it the whole batch
const isPlainObject = (v) => v !== null && typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype;
const fits = (v) => Number.isFinite(v) && Math.abs(v) <= MAX_NUMBER;

// The columns a report may carry: at most MAX_COLUMNS, named as the pod accepts; null when none is usable.
function cleanColumns(raw) {
  if (!isPlainObject(raw)) return null;
  const kept = Object.entries(raw).filter(([name]) => COLUMN.test(name)).slice(0, MAX_COLUMNS);
  return Object.fromEntries(kept);
}

/** One report from the frame as an entry for the pod (without its sequence number), or null. Exported for tests. */
export function readReport(message) {
  if (!isPlainObject(message) || message.gymkube !== "unity") return null;
  const t = fits(message.t) ? message.t : clientNow();
  const data = isPlainObject(message.data) ? message.data : {};
  switch (message.kind) {
    case "start": return { kind: "start", t, info: cleanColumns(data) ?? {} };
    case "step": return { kind: "step", t, c: cleanColumns(data) ?? {} };
    case "end": {
      const entry = { kind: "end", t, status: data.status === "truncated" ? "truncated" : "terminated" };
      if (fits(data.score)) entry.score = data.score;
      const info = cleanColumns(data.info);
      if (info) entry.info = info;
      return entry;
    }
    case "done": return { kind: "done", t };
    default: return null;
  }
}

/** Runs a Unity scene in `host`: send(batch) resolves with the pod's ack; report(text) is told what went wrong. */
export function startUnity(host, scene, send, report) {
  const frame = document.createElement("iframe");
  Object.assign(frame, { src: scene.page, title: scene.title || "Game" });
  frame.setAttribute("sandbox", SANDBOX);
  frame.className = "unity-frame";
  frame.style.aspectRatio = `${scene.width} / ${scene.height}`;
  frame.style.maxWidth = `${scene.width}px`;
  host.replaceChildren(frame);
  // Sequence numbers go on from the clock, so a reloaded page's entries come after the last page's.
  let seq = Date.now() * 1000;
  let queue = [];
  let sending = false;
  let pauseUntil = 0;

  function onMessage(event) {
    if (event.source !== frame.contentWindow) return; // only this scene's frame speaks for the build
    const message = event.data;
    if (message?.gymkube === "unity" && message.kind === "error") { report(`unity build: ${String(message.data?.message).slice(0, 500)}`); return; }
    if (message?.gymkube === "unity" && message.kind === "loaded") { host.dataset.unityLoaded = "true"; return; }
    const entry = readReport(message);
    if (!entry) return;
    if (queue.length >= MAX_QUEUE) { report("unity reports dropped: the pod was out of reach for too long"); return; }
    queue.push({ ...entry, q: ++seq });
  }

  async function flush() {
    if (sending || !queue.length || performance.now() < pauseUntil) return;
    sending = true;
    const batch = queue.slice(0, MAX_BATCH);
    try {
      const ack = await send({ s: scene.id, x: batch });
      if (!ack?.ok && ack?.n === 0 && /too many/.test(ack?.error || "")) { pauseUntil = performance.now() + 1000; return; }
      queue = queue.slice(batch.length); // taken, skipped as sent before, or refused with a reason (not sent again)
      if (!ack?.ok && ack?.error) report(`unity reports refused: ${ack.error}`);
    } catch {
      pauseUntil = performance.now() + 1000; // offline or unanswered: the same batch goes again
    } finally {
      sending = false;
    }
  }

  window.addEventListener("message", onMessage);
  const timer = setInterval(flush, SEND_EVERY_MS);
  return {
    flush,
    stop() { clearInterval(timer); window.removeEventListener("message", onMessage); flush(); },
  };
}
