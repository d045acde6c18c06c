// The Python and ONNX runtimes of browser games: Pyodide (once per page), the game's code, packages, policies.

const BOOT_TIMEOUT_MS = 120000; // Pyodide never settles when its .wasm is served with the wrong type: always time out
const APP_DIR = "/home/pyodide/gymkube-app";
let python = null; // Promise of the Pyodide instance with the game's code unpacked
let ort = null; // the onnxruntime-web module
const sessions = new Map(); // model file -> InferenceSession

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

/** Installs the scene's packages with micropip: names from the package index, `.whl` paths from the experiment's files. */
export async function installPackages(py, runtime, packages) {
  if (!packages?.length) return;
  if (!py.loadedPackages.micropip) {
    await py.loadPackage(absolute(runtime.micropip)); // loadPackage does not throw on failure: check
    if (!py.loadedPackages.micropip) throw new Error("micropip could not be loaded");
  }
  const targets = packages.map((p) => (/\.whl$/i.test(p) ? absolute(runtime.files + p) : p));
  const index = runtime.packageIndex ? `, index_urls=[${JSON.stringify(runtime.packageIndex)}]` : "";
  await py.runPythonAsync(`import json, micropip\nawait micropip.install(json.loads(${JSON.stringify(JSON.stringify(targets))})${index})`);
}

/** Loads onnxruntime-web (single-threaded wasm) and an InferenceSession per policy file. */
export async function loadPolicies(runtime, files) {
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

/** Runs [agent, file, input] feeds; {agent: logits}. */
export async function runPolicies(feeds) {
  const out = {};
  for (const [agent, file, input] of feeds) {
    const session = sessions.get(file);
    const tensor = new ort.Tensor("float32", Float32Array.from(input), [1, input.length]);
    const result = await session.run({ [session.inputNames[0]]: tensor });
    out[agent] = Array.from(result[session.outputNames[0]].data);
  }
  return out;
}
