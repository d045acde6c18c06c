// socket.io parser speaking python-socketio's msgpack serializer: one msgpack map {type, nsp, data?, id?} per packet.
import { encode, decode } from "../vendor/msgpack-3.1.3/index.mjs";

export const protocol = 5;

export const PacketType = Object.freeze({
  CONNECT: 0,
  DISCONNECT: 1,
  EVENT: 2,
  ACK: 3,
  CONNECT_ERROR: 4,
  BINARY_EVENT: 5,
  BINARY_ACK: 6,
});

const isObject = (v) => Object.prototype.toString.call(v) === "[object Object]";

/** Turns a socket.io packet into one binary message (keys `id`/`data` left out when undefined). */
export class Encoder {
  encode(packet) {
    const out = { type: packet.type, nsp: packet.nsp ?? "/" };
    if (packet.data !== undefined) out.data = packet.data;
    if (packet.id !== undefined && packet.id !== null) out.id = packet.id;
    // ignoreUndefined drops undefined map values like JSON.stringify would.
    return [encode(out, { ignoreUndefined: true })];
  }
}

/** Checks a decoded map the way socket.io-msgpack-parser does; throws on anything malformed. */
export function checkPacket(p) {
  if (!Number.isInteger(p.type) || p.type < PacketType.CONNECT || p.type > PacketType.CONNECT_ERROR) {
    throw new Error("invalid packet type");
  }
  if (typeof p.nsp !== "string") throw new Error("invalid namespace");
  let dataOk;
  switch (p.type) {
    case PacketType.CONNECT: dataOk = p.data === undefined || isObject(p.data); break;
    case PacketType.DISCONNECT: dataOk = p.data === undefined; break;
    case PacketType.CONNECT_ERROR: dataOk = typeof p.data === "string" || isObject(p.data); break;
    default: dataOk = Array.isArray(p.data);
  }
  if (!dataOk) throw new Error("invalid payload");
  if (p.id !== undefined && !Number.isInteger(p.id)) throw new Error("invalid packet id");
}

/** Turns one binary message into a packet and emits it as "decoded"; throws on bad input (the client then closes with "parse error"). */
export class Decoder {
  #listeners = new Map();

  on(event, fn) {
    if (!this.#listeners.has(event)) this.#listeners.set(event, []);
    this.#listeners.get(event).push(fn);
    return this;
  }

  off(event, fn) {
    if (event === undefined) this.#listeners.clear();
    else if (fn === undefined) this.#listeners.delete(event);
    else this.#listeners.set(event, (this.#listeners.get(event) || []).filter((f) => f !== fn));
    return this;
  }

  emit(event, ...args) {
    for (const fn of [...(this.#listeners.get(event) || [])]) fn.apply(this, args);
    return this;
  }

  add(chunk) {
    if (typeof chunk === "string") throw new Error("invalid payload: expected binary, got text");
    const raw = decode(chunk);
    if (!isObject(raw)) throw new Error("invalid payload: not a map");
    // python sends nil for a missing data (and never sends id when there is none).
    const packet = { type: raw.type, nsp: raw.nsp };
    if (raw.data !== undefined && raw.data !== null) packet.data = raw.data;
    if (raw.id !== undefined && raw.id !== null) packet.id = raw.id;
    checkPacket(packet);
    this.emit("decoded", packet);
  }

  destroy() {}
}
