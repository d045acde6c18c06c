// The pictures a game draws: sprite atlases (a PNG and its frame list in the JSON-hash or JSON-array format that
// TexturePacker and Phaser write) and plain images, each loaded once per page, all of a scene's before its first frame.

const pictures = new Map(); // url -> Promise of a loaded HTMLImageElement
const loaded = new Map(); // url -> the loaded HTMLImageElement (drawn synchronously)
const sheets = new Map(); // frames url -> Promise of Map(frame name -> frame)

/** One frame of a frame list as {x, y, w, h} in the sheet, whether it is stored rotated, and its trimmed placement. */
function readFrame(entry) {
  const f = entry?.frame;
  if (!f || ![f.x, f.y, f.w, f.h].every(Number.isFinite)) return null;
  // w and h are the frame's size as drawn; a rotated frame is stored turned 90 degrees clockwise, h wide and w high.
  const rotated = entry.rotated === true;
  const [w, h] = [f.w, f.h];
  const source = entry.sourceSize && Number.isFinite(entry.sourceSize.w) ? entry.sourceSize : { w, h };
  const trim = entry.trimmed && entry.spriteSourceSize ? entry.spriteSourceSize : { x: 0, y: 0 };
  return { x: f.x, y: f.y, w, h, rotated, sourceW: source.w, sourceH: source.h, offX: trim.x || 0, offY: trim.y || 0 };
}

const MAX_FRAMES = 4096; // per atlas, as `gymkube validate` allows (spec/assets_check.py)
const MAX_FRAME_NAME = 200;

/** A frame list (JSON hash: {frames: {name: {...}}}, or array: {frames: [{filename, ...}]}) as Map(name -> frame):
 * the first MAX_FRAMES entries, named by text of at most MAX_FRAME_NAME characters. */
export function parseFrames(json) {
  const frames = new Map();
  const list = json?.frames;
  const listed = Array.isArray(list) ? list.slice(0, MAX_FRAMES) : Object.entries(list || {}).slice(0, MAX_FRAMES);
  const entries = Array.isArray(list) ? listed.map((e) => [e?.filename, e]) : listed;
  for (const [name, entry] of entries) {
    const frame = readFrame(entry);
    if (typeof name === "string" && name.length <= MAX_FRAME_NAME && frame) frames.set(name, frame);
  }
  return frames;
}

function loadPicture(url) {
  if (!pictures.has(url)) {
    pictures.set(url, new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => { loaded.set(url, img); resolve(img); };
      img.onerror = () => { pictures.delete(url); reject(new Error(`could not load ${url}`)); };
      img.src = url; // relative to the page, e.g. "files/sprites/kitchen.png"
    }));
  }
  return pictures.get(url);
}

function loadSheet(url) {
  if (!sheets.has(url)) {
    sheets.set(url, fetch(url).then((response) => {
      if (!response.ok) throw new Error(`could not load ${url}: ${response.status}`);
      return response.json();
    }).then(parseFrames).catch((err) => { sheets.delete(url); throw err; }));
  }
  return sheets.get(url);
}

/** Loads a scene's `assets` ({atlases: {name: {image, frames}}, images: [url]}); onProgress(done, total) as each
 * arrives. Resolves to {atlases: Map(name -> {image, frames})}; rejects naming the first file that did not load. */
export async function loadAssets(assets, onProgress = () => {}) {
  const named = Object.entries(assets?.atlases || {});
  const extra = Array.isArray(assets?.images) ? assets.images : [];
  const total = 2 * named.length + extra.length;
  let done = 0;
  const counted = (promise) => promise.then((value) => { done += 1; onProgress(done, total); return value; });
  onProgress(0, total);
  const atlases = await Promise.all(named.map(async ([name, atlas]) => {
    const [image, frames] = await Promise.all([counted(loadPicture(atlas.image)), counted(loadSheet(atlas.frames))]);
    return [name, { image, frames }];
  }));
  await Promise.all(extra.map((url) => counted(loadPicture(url))));
  return { atlases: new Map(atlases) };
}

/** The picture at `url` if it has loaded; otherwise null, and it starts loading (onReady is called when it has). */
export function pictureFor(url, onReady) {
  if (typeof url !== "string" || !url) return null;
  const img = loaded.get(url);
  if (img) return img;
  loadPicture(url).then(onReady, () => {}); // a missing image is left out of the picture (validate reports it)
  return null;
}
