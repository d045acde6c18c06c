// Browser telemetry: visibility and focus changes, and unexpected script errors (reported once each, never shown raw).
import { clientNow } from "./input.js";

/** Reports visibility and focus changes through send({kind, state, t}) for the life of the page. */
export function watchAttention(send) {
  document.addEventListener("visibilitychange", () => {
    send({ kind: "visibility", state: document.visibilityState === "hidden" ? "hidden" : "visible", t: clientNow() });
  });
  window.addEventListener("blur", () => send({ kind: "focus", state: "blur", t: clientNow() }));
  window.addEventListener("focus", () => send({ kind: "focus", state: "focus", t: clientNow() }));
}

/** Builds a reporter: reportError(err) sends {kind: "error", message, t} (at most 20, no repeats) and calls show(). */
export function makeErrorReporter(send, show) {
  const seen = new Set();
  return (err) => {
    const message = String(err?.stack || err?.message || err || "unknown error").slice(0, 2000);
    if (!seen.has(message) && seen.size < 20) {
      seen.add(message);
      try { send({ kind: "error", message, t: clientNow() }); } catch { /* nothing more to do */ }
    }
    show();
  };
}

/** Routes uncaught errors and rejected promises from this page's own scripts to reportError. */
export function catchErrors(reportError) {
  window.addEventListener("error", (event) => {
    // "Script error." from other origins (extensions, injected scripts) has no file: not ours to report.
    if (!event.filename || !event.filename.startsWith(location.origin)) return;
    reportError(event.error || event.message);
  });
  window.addEventListener("unhandledrejection", (event) => reportError(event.reason));
}

/** Reports what this page's Content-Security-Policy blocked: a policy too strict for a study shows up in its data. */
export function watchPolicy(report) {
  document.addEventListener("securitypolicyviolation", (event) => {
    report(`Content-Security-Policy: ${event.effectiveDirective} blocked ${event.blockedURI || "inline code"}`
      + (event.sourceFile ? ` (${event.sourceFile}:${event.lineNumber})` : ""));
  });
}
