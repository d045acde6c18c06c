// The Python and ONNX runtimes of browser games: Pyodide (once per page), the game's code, packages, policies.

const BOOT_TIMEOUT_MS = 120000; // Pyodide never settles when its .wasm is served with the wrong type: always time out
const APP_DIR = "/home/pyodide/gymkube-app";
let python = null; // Promise of the Pyodide instance with the game's code unpacked
let ort = null; // the onnxruntime-web module
const sessions = new Map(); // model file -> InferenceSession
const installed = new Set(); // packages micropip installed in this page (a second game does not install again)
let installs = Promise.resolve(); // the installs asked for so far, one after the other
let policyLoads = Promise.resolve(); // likewise for policies

const absolute = (relative) => new URL(relative, location.href).href;

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(what)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function boot(runtime) {
  const base = absolute(runtime.pyodide);
  const { loadPyodide } = await import(new URL("pyodide.mjs", base).href);
  const py = await withTimeout(loadPyodide({ indexURL: base }), BOOT_TIMEOUT_MS, `Pyodide did not start from ${base}`);
  const code = await fetch(absolute(runtime.code), { cache: "no-cache" });
  if (!code.ok) throw new Error(`the game's code could not be loaded (HTTP ${code.status})`);
  py.unpackArchive(await code.arrayBuffer(), "zip", { extractDir: APP_DIR });
  py.runPython(`import sys\nsys.path[:0] = ["${APP_DIR}", "${APP_DIR}/bundle"]`);
  return py;
}

/** Pyodide with gymkube.portable and the experiment's files importable; started once per page. */
export function loadPython(runtime) {
  if (!python) python = boot(runtime).catch((err) => { python = null; throw err; });
  return python;
}

/** The folder the experiment's own modules are imported from. */
export const BUNDLE_DIR = `${APP_DIR}/bundle`;

/**
 * Installs the scene's packages with micropip: names from the package index, `.whl` paths from the experiment's files.
 * One install at a time (a preload and a starting game may ask at once); a package installed before is skipped.
 */
export function installPackages(py, runtime, packages) {
  const run = installs.then(() => install(py, runtime, packages));
  installs = run.catch(() => {});
  return run;
}

async function install(py, runtime, packages) {
  packages = (packages || []).filter((p) => !installed.has(p));
  if (!packages.length) return;
  if (!py.loadedPackages.micropip) {
    await py.loadPackage(absolute(runtime.micropip)); // loadPackage does not throw on failure: check
    if (!py.loadedPackages.micropip) throw new Error("micropip could not be loaded");
  }
  const targets = packages.map((p) => (/\.whl$/i.test(p) ? absolute(runtime.files + p) : p));
  const index = runtime.packageIndex ? `, index_urls=[${JSON.stringify(runtime.packageIndex)}]` : "";
  await py.runPythonAsync(`import json, micropip\nawait micropip.install(json.loads(${JSON.stringify(JSON.stringify(targets))})${index})`);
  for (const p of packages) installed.add(p);
}

/**
 * Loads onnxruntime-web (single-threaded wasm) and an InferenceSession per policy file. One load at a time: a preload
 * and a starting game may ask at once, and onnxruntime-web refuses a second initialisation while the first runs.
 */
export function loadPolicies(runtime, files) {
  const run = policyLoads.then(() => loadSessions(runtime, files));
  policyLoads = run.catch(() => {});
  return run;
}

async function loadSessions(runtime, files) {
  if (!files.length) return;
  const base = absolute(runtime.ort);
  if (!ort) {
    ort = await import(new URL("ort.wasm.min.mjs", base).href);
    ort.env.wasm.wasmPaths = base;
    ort.env.wasm.numThreads = 1; // no SharedArrayBuffer needed, no cross-origin isolation
  }
  for (const file of files) {
    if (!sessions.has(file)) sessions.set(file, await ort.InferenceSession.create(absolute(runtime.files + file)));
  }
}

const ARRAYS = { float32: Float32Array, float64: Float64Array, int32: Int32Array, uint8: Uint8Array, bool: Uint8Array };

// A tensor of the model input `name` from flat values and a shape, in the type the model declares.
function inputTensor(session, name, flat, dims) {
  const meta = (session.inputMetadata || []).find((m) => m.name === name);
  const type = meta?.type || "float32";
  if (type === "int64") return new ort.Tensor("int64", BigInt64Array.from(flat, (v) => BigInt(Math.trunc(v))), dims);
  const values = type === "bool" ? flat.map((v) => (v ? 1 : 0)) : flat;
  return new ort.Tensor(type, (ARRAYS[type] || Float32Array).from(values), dims);
}

/**
 * Runs [agent, file, {input: [flat, dims]}] feeds ("" is the model's first input; gymkube/portable/policies.py);
 * returns {agent: [[output name, flat values, dims], ...]} in the model's output order.
 */
export async function runPolicies(feeds) {
  const out = {};
  for (const [agent, file, inputs] of feeds) {
    const session = sessions.get(file);
    const feed = {};
    for (const [name, [flat, dims]] of Object.entries(inputs)) {
      const real = name || session.inputNames[0];
      feed[real] = inputTensor(session, real, flat, dims);
    }
    const result = await session.run(feed);
    out[agent] = session.outputNames.map((name) => {
      const { data, dims } = result[name];
      return [name, Array.from(data, Number), Array.from(dims)];
    });
  }
  return out;
}

/**
 * Loads, while the participant reads earlier scenes, what a browser game later in the flow needs: Pyodide with the
 * game's code, its packages, its policies and its modules imported. A game that starts then finds them ready.
 */
export async function preload({ runtime, packages, policies, modules }) {
  const py = await loadPython(runtime);
  await installPackages(py, runtime, packages);
  await loadPolicies(runtime, policies || []);
  for (const name of modules || []) py.pyimport(name).destroy();
}