// The one owner of the socket.io connection to the game pod: connect, dispatch events, send, ping.
import { io } from "../vendor/socket.io-client-4.8.4/socket.io.esm.min.js";
import * as parser from "./msgpack_parser.js";
import { EVENTS } from "./protocol.js";
import { clientNow } from "./input.js";

const PING_EVERY_MS = 2000;
const DUPLICATE_RETRIES = 5;

let socket = null;
let pingTimer = 0;

/** The socket.io path next to the page: "/socket.io" for "/", "/myexp/pod-0/socket.io" for "/myexp/pod-0/". */
export function socketPath(pathname) {
  return `${pathname.replace(/[^/]*$/, "")}socket.io`;
}

function clientInfo() {
  let tz = null;
  try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch { /* left null */ }
  return { ua: navigator.userAgent, screen: [screen.width, screen.height], viewport: [innerWidth, innerHeight],
    tz, lang: navigator.language };
}

/**
 * Connects with the participant's token. `on` holds callbacks: onScene, onGame, onWaiting (the gym scene's waiting
 * room, before its game starts), onState, onNotice, onPlay, onSignal, onRelay, onProbe, onProbeSignal (payloads as sent),
 * onRefused(message, reason),
 * onConnection("connecting" | "connected" | "reconnecting" | "closed"), onError(err).
 */
export function connectPod(token, on) {
  const call = (name, ...args) => {
    try { on[name]?.(...args); } catch (err) { if (name !== "onError") on.onError?.(err); }
  };
  let duplicates = 0;
  let refused = false;
  socket = io({
    path: socketPath(location.pathname),
    parser,
    transports: ["websocket", "polling"],
    tryAllTransports: true, // without it socket.io-client 4.8 never falls back to polling when websocket fails
    auth: (cb) => cb({ token, client: clientInfo() }), // re-read on every reconnect
  });
  call("onConnection", "connecting");
  socket.on("connect", () => {
    refused = false;
    call("onConnection", "connected");
    clearInterval(pingTimer);
    pingTimer = setInterval(ping, PING_EVERY_MS);
    ping();
  });
  socket.on("disconnect", (reason) => {
    clearInterval(pingTimer);
    if (refused || reason === "io client disconnect") return;
    call("onConnection", reason === "io server disconnect" ? "closed" : "reconnecting");
  });
  socket.on("connect_error", (err) => {
    // Not active: the server turned the connection down (the connect handler said no); socket.io will not retry.
    if (socket.active) call("onConnection", "reconnecting");
    else call("onRefused", err?.message || "The study server did not accept this link.", "connect_error");
  });
  socket.on(EVENTS.SCENE, (msg) => { duplicates = 0; call("onScene", msg); });
  socket.on(EVENTS.GAME, (msg) => call("onGame", msg));
  socket.on(EVENTS.WAITING, (msg) => call("onWaiting", msg));
  socket.on(EVENTS.STATE, (msg) => call("onState", msg));
  socket.on(EVENTS.NOTICE, (msg) => call("onNotice", msg));
  socket.on(EVENTS.PLAY, (msg) => call("onPlay", msg));
  socket.on(EVENTS.SIGNAL, (msg) => call("onSignal", msg));
  socket.on(EVENTS.RELAY, (msg) => call("onRelay", msg));
  socket.on(EVENTS.PROBE, (msg) => call("onProbe", msg));
  socket.on(EVENTS.PROBE_SIGNAL, (msg) => call("onProbeSignal", msg));
  socket.on(EVENTS.REFUSED, (msg) => {
    refused = true;
    socket.disconnect();
    // A reload can race the old tab's disconnect: try again a few times before giving up.
    if (msg?.reason === "duplicate" && duplicates < DUPLICATE_RETRIES) {
      duplicates += 1;
      call("onConnection", "connecting");
      setTimeout(() => socket.connect(), 1000);
      return;
    }
    call("onRefused", msg?.message || "This link cannot be used right now.", msg?.reason);
  });
}

function ping() {
  if (!socket?.connected) return;
  const t = clientNow();
  socket.timeout(PING_EVERY_MS * 2).emit(EVENTS.PING, { t }, (err, ack) => {
    if (err || typeof ack?.s !== "number") return;
    const now = clientNow();
    const rtt = now - t;
    sendTelemetry({ kind: "latency", rtt, offset: ack.s - (t + rtt / 2), t: now });
  });
}

/** Finishes a scene; resolves with the server's ack ({ok, errors}) or rejects when offline or unanswered. */
export function finishScene(payload, timeoutMs = 15000) {
  return new Promise((resolve, reject) => {
    if (!socket?.connected) { reject(new Error("offline")); return; }
    socket.timeout(timeoutMs).emit(EVENTS.SCENE_DONE, payload, (err, ack) => (err ? reject(err) : resolve(ack || {})));
  });
}

/** Sends one key change; dropped while offline (a stale key press is worse than none). */
export function sendInput(payload) {
  if (socket?.connected) socket.emit(EVENTS.INPUT, payload);
}

/** Sends a telemetry record; socket.io buffers it while reconnecting. */
export function sendTelemetry(payload) {
  socket?.emit(EVENTS.TELEMETRY, payload);
}

/** Whether the socket is connected now. */
export function isConnected() {
  return Boolean(socket?.connected);
}

/** Sends a browser game's records; resolves with the ack ({ok, n, error}), rejects when offline or unanswered. */
export function sendRecords(payload, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    if (!socket?.connected) { reject(new Error("offline")); return; }
    socket.timeout(timeoutMs).emit(EVENTS.RECORDS, payload, (err, ack) => (err ? reject(err) : resolve(ack || {})));
  });
}

/** Asks for TURN credentials ({urls, username, credential, ttl}; urls empty without TURN). */
export function askTurn(timeoutMs = 5000) {
  return new Promise((resolve) => {
    if (!socket?.connected) { resolve({ urls: [] }); return; }
    socket.timeout(timeoutMs).emit(EVENTS.TURN, {}, (err, ack) => resolve(err || !ack ? { urls: [] } : ack));
  });
}

/** WebRTC signalling for the peer playing `to`, through the pod. */
export function sendSignal(to, d) {
  socket?.emit(EVENTS.SIGNAL, { to, d });
}

/** A game packet for the peer playing `to`, through the pod (when no direct path exists). */
export function sendRelay(to, d) {
  if (socket?.connected) socket.emit(EVENTS.RELAY, { to, d });
}

/** WebRTC signalling of a peer probe in the waiting room, through the pod (which alone knows the other side). */
export function sendProbeSignal(id, d) {
  if (socket?.connected) socket.emit(EVENTS.PROBE_SIGNAL, { id, d });
}

/** What this side of a peer probe measured. */
export function sendProbeResult(payload) {
  if (socket?.connected) socket.emit(EVENTS.PROBE_RESULT, payload);
}

/** Sends what a Unity scene's build reported; resolves with the ack ({ok, n, error}), rejects when offline or unanswered. */
export function sendUnity(payload, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    if (!socket?.connected) { reject(new Error("offline")); return; }
    socket.timeout(timeoutMs).emit(EVENTS.UNITY, payload, (err, ack) => (err ? reject(err) : resolve(ack || {})));
  });
}
