// Keyboard capture for the game: startInput()/stopInput() add and remove every listener symmetrically.

let active = null; // { keys, onKey, held, listeners } while capturing

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
 * Starts capturing `keys` (KeyboardEvent.key names); calls onKey(key, down, t) once per press and release.
 * Calling it again replaces the previous capture.
 */
export function startInput(keys, onKey) {
  stopInput();
  active = {
    keys: new Set(keys || []),
    onKey,
    held: new Set(),
    listeners: [
      [window, "keydown", onKeyDown],
      [window, "keyup", onKeyUp],
      [window, "blur", releaseAll],
      [document, "visibilitychange", onVisibility],
    ],
  };
  for (const [target, type, fn] of active.listeners) target.addEventListener(type, fn, { capture: true });
}

/** Releases every held key (sending its keyup) and removes all listeners; safe to call when not capturing. */
export function stopInput() {
  if (!active) return;
  releaseAll();
  for (const [target, type, fn] of active.listeners) target.removeEventListener(type, fn, { capture: true });
  active = null;
}

/** Whether input is being captured now. */
export function isCapturing() {
  return active !== null;
}
