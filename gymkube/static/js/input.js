// Keyboard and gamepad capture for the game: startInput()/stopInput() add and remove every listener symmetrically.

let active = null; // { keys, onKey, held, listeners, gamepad, raf } while capturing

/** Client clock in ms since the epoch, as precise as the browser allows. */
export function clientNow() {
  return performance.timeOrigin + performance.now();
}

// The scene's name for a key event (so "A" with Shift or Caps Lock still matches "a"), or null.
function keyName(keys, key) {
  if (keys.has(key)) return key;
  if (key.length === 1) {
    for (const variant of [key.toLowerCase(), key.toUpperCase()]) if (keys.has(variant)) return variant;
  }
  if (key === "Spacebar" && keys.has(" ")) return " ";
  return null;
}

function onKeyDown(event) {
  const name = keyName(active.keys, event.key);
  if (name === null || event.ctrlKey || event.metaKey || event.altKey) return;
  event.preventDefault(); // arrows and space must not scroll the page
  if (event.repeat || active.held.has(name)) return;
  active.held.add(name);
  active.onKey(name, true, clientNow());
}

function onKeyUp(event) {
  const name = keyName(active.keys, event.key);
  if (name === null) return;
  event.preventDefault();
  if (!active.held.delete(name)) return;
  active.onKey(name, false, clientNow());
}

const RELEASE_AT = 0.8; // a stick counts as let go below this share of the threshold: no flicker around it

/**
 * The gamepad inputs pressed now, as the keys the pod knows them by ("pad:b0", "pad:a1+"): a mapped button pressed on
 * any connected gamepad, or a mapped stick pushed past `threshold` (and, if `held` already, not yet back below
 * RELEASE_AT of it). `gamepad` is the scene's {buttons, axes, threshold}.
 */
export function padKeys(gamepad, pads, held = new Set()) {
  const pressed = new Set();
  const threshold = gamepad.threshold ?? 0.5;
  for (const pad of pads) {
    if (!pad) continue;
    for (const button of Object.keys(gamepad.buttons || {})) {
      if (pad.buttons?.[Number(button)]?.pressed) pressed.add(`pad:b${button}`);
    }
    for (const axis of Object.keys(gamepad.axes || {})) {
      const name = `pad:a${axis}`;
      const push = (Number(pad.axes?.[parseInt(axis, 10)]) || 0) * (axis.endsWith("-") ? -1 : 1);
      if (push >= (held.has(name) ? threshold * RELEASE_AT : threshold)) pressed.add(name);
    }
  }
  return pressed;
}

// The Gamepad API has no events for buttons and sticks: poll once per animation frame, report the changes.
function pollPads() {
  if (!active?.gamepad) return;
  active.raf = requestAnimationFrame(pollPads);
  const pads = navigator.getGamepads ? Array.from(navigator.getGamepads() || []) : [];
  const now = padKeys(active.gamepad, pads, active.held);
  const t = clientNow();
  for (const name of [...active.held]) {
    if (name.startsWith("pad:") && !now.has(name)) { active.held.delete(name); active.onKey(name, false, t); }
  }
  for (const name of now) {
    if (!active.held.has(name)) { active.held.add(name); active.onKey(name, true, t); }
  }
}

function releaseAll() {
  if (!active) return;
  const t = clientNow();
  for (const name of [...active.held]) {
    active.held.delete(name);
    active.onKey(name, false, t);
  }
}

function onVisibility() {
  if (document.visibilityState === "hidden") releaseAll();
}

/**
 * Starts capturing `keys` (KeyboardEvent.key names) and, with a `gamepad` mapping, the gamepad; calls
 * onKey(key, down, t) once per press and release. Calling it again replaces the previous capture.
 */
export function startInput(keys, onKey, gamepad = null) {
  stopInput();
  active = {
    keys: new Set(keys || []),
    onKey,
    gamepad,
    raf: 0,
    held: new Set(),
    listeners: [
      [window, "keydown", onKeyDown],
      [window, "keyup", onKeyUp],
      [window, "blur", releaseAll],
      [document, "visibilitychange", onVisibility],
    ],
  };
  for (const [target, type, fn] of active.listeners) target.addEventListener(type, fn, { capture: true });
  pollPads();
}

/** Releases every held key (sending its keyup) and removes all listeners; safe to call when not capturing. */
export function stopInput() {
  if (!active) return;
  releaseAll();
  if (active.raf) cancelAnimationFrame(active.raf);
  for (const [target, type, fn] of active.listeners) target.removeEventListener(type, fn, { capture: true });
  active = null;
}

/** Whether input is being captured now. */
export function isCapturing() {
  return active !== null;
}
