// Inside a Unity scene's sandboxed frame (an opaque origin, served by game_pod/unity_build.py): loads the
// researcher's WebGL build and carries what it reports to the participant's page, which checks it and sends it to
// the pod. The build's jslib calls window.gymkube.episodeStart(json), .step(json), .episodeEnd(json) and .done().
// A classic script, not a module: module scripts from an opaque origin would need CORS.
(() => {
  "use strict";
  const MAX_CHARS = 16 * 1024; // one report, as JSON
  const config = document.body.dataset;
  const now = () => performance.timeOrigin + performance.now();

  // Sends one report to the participant's page; a report that is not JSON or too long is dropped (and said).
  function post(kind, detail) {
    let data = detail ?? {};
    if (typeof data === "string") {
      if (data.length > MAX_CHARS) return tell(`a ${kind} report of ${data.length} characters was dropped`);
      try { data = data ? JSON.parse(data) : {}; } catch { return tell(`a ${kind} report that is not JSON was dropped`); }
    }
    try {
      parent.postMessage({ gymkube: "unity", kind, data, t: now() }, "*");
    } catch { return tell(`a ${kind} report that cannot be sent was dropped`); }
    return true;
  }

  function tell(message) {
    parent.postMessage({ gymkube: "unity", kind: "error", data: { message: String(message).slice(0, 500) }, t: now() }, "*");
    return false;
  }

  window.gymkube = Object.freeze({
    episodeStart: (info) => post("start", info),
    step: (columns) => post("step", columns),
    episodeEnd: (result) => post("end", result),
    done: () => post("done", {}),
  });
  document.addEventListener("securitypolicyviolation", (event) => {
    tell(`Content-Security-Policy: ${event.effectiveDirective} blocked ${event.blockedURI || "inline code"}`);
  });

  const canvas = document.getElementById("unity-canvas");
  const bar = document.getElementById("unity-progress");
  const loader = document.createElement("script");
  loader.src = config.loader;
  loader.onerror = () => tell("the build's loader could not be loaded");
  loader.onload = () => {
    if (typeof window.createUnityInstance !== "function") { tell("the loader defines no createUnityInstance"); return; }
    const settings = { dataUrl: config.data, frameworkUrl: config.framework, codeUrl: config.wasm,
      companyName: config.company, productName: config.product, productVersion: config.version };
    window.createUnityInstance(canvas, settings, (progress) => { bar.style.width = `${Math.round(progress * 100)}%`; })
      .then(() => { bar.hidden = true; canvas.focus(); post("loaded", {}); })
      .catch((err) => tell(`the build did not start: ${err?.message || err}`));
  };
  document.body.append(loader);
})();
