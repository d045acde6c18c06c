// What is on screen in `objects` rendering: the permanent scenery, the objects kept between frames (the pod sends
// only those that changed), this frame's other objects, and the tweens that move objects smoothly between positions.

/** An empty store for one renderer. */
export function makeStore() {
  return { scope: null, permanent: new Map(), kept: new Map(), anonymous: [], targets: new Map(), motion: new Map() };
}

// The position an object is shown at now: its own, or on its way there from where it was.
function shownAt(store, id, obj, now) {
  const move = store.motion.get(id);
  if (!move) return [obj.x, obj.y];
  const t = (now - move.start) / move.ms;
  if (!(t < 1)) return [obj.x, obj.y];
  return [move.fromX + (obj.x - move.fromX) * t, move.fromY + (obj.y - move.fromY) * t];
}

const hasPlace = (obj) => Number.isFinite(obj?.x) && Number.isFinite(obj?.y);
const tweenMs = (obj) => (Number.isFinite(obj?.tween?.ms) ? Math.min(Math.max(obj.tween.ms, 0), 10_000) : 0);

/** Takes one `state` message into the store.
 *
 * `p`: permanent objects not sent before (they live for one game episode); `u`: objects with an id that are new or
 * changed (`k`: they replace every kept object); `x`: ids of kept objects that are gone; `o`: the frame's other
 * objects, sent whole every frame. An object with `tween: {ms}` whose place changed moves there from where it was
 * shown over that many milliseconds. */
export function applyState(store, state, now) {
  const scope = `${state.g}\u0000${state.e}`;
  if (scope !== store.scope) {
    store.scope = scope;
    store.permanent.clear();
    store.kept.clear();
    store.targets.clear();
    store.motion.clear();
  }
  for (const obj of Array.isArray(state.p) ? state.p : []) store.permanent.set(obj?.id ?? Symbol("unnamed"), obj);
  if (state.k) store.kept.clear();
  for (const id of Array.isArray(state.x) ? state.x : []) store.kept.delete(String(id));
  for (const obj of Array.isArray(state.u) ? state.u : []) {
    if (obj?.id != null) store.kept.set(String(obj.id), obj);
  }
  store.anonymous = Array.isArray(state.o) ? state.o : [];
  const present = new Set();
  for (const obj of [...store.kept.values(), ...store.anonymous]) {
    if (obj?.id == null || !hasPlace(obj)) continue;
    const id = String(obj.id);
    present.add(id);
    const before = store.targets.get(id);
    const ms = tweenMs(obj);
    if (before && ms > 0 && (before.x !== obj.x || before.y !== obj.y)) {
      const [fromX, fromY] = shownAt(store, id, before, now);
      store.motion.set(id, { fromX, fromY, start: now, ms });
    }
    store.targets.set(id, obj);
  }
  for (const id of store.targets.keys()) {
    if (!present.has(id)) { store.targets.delete(id); store.motion.delete(id); }
  }
}

/** Every object to draw now, by depth (then in the order they came), tweened objects where they are on their way. */
export function objectsNow(store, now) {
  const all = [...store.permanent.values(), ...store.kept.values(), ...store.anonymous];
  const placed = all.map((obj) => {
    if (obj?.id == null || !store.motion.has(String(obj.id)) || !hasPlace(obj)) return obj;
    const id = String(obj.id);
    const [x, y] = shownAt(store, id, obj, now);
    if (x === obj.x && y === obj.y) store.motion.delete(id); // arrived
    return { ...obj, x, y };
  });
  const depth = (o) => Number(o?.depth) || 0;
  return placed.map((o, i) => [o, i]).sort((a, b) => depth(a[0]) - depth(b[0]) || a[1] - b[1]).map(([o]) => o);
}

/** Whether some object is still on its way (the picture changes without a new state). */
export const moving = (store) => store.motion.size > 0;
