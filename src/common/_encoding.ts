/**
 * Base64 and hex for bytes, the one module the library uses for them. It calls the native
 * `Uint8Array` methods (`toBase64`, `fromBase64`, `toHex`, `fromHex`) where the runtime has them
 * (Deno 2, Bun, Node 25+) and an equivalent fallback elsewhere (Node 22 and 24), with the same
 * results and the same `SyntaxError` for bad input. Only the options the library uses are
 * supported.
 *
 * @module
 */

/** Alphabet of a base64 text. */
export type Base64Alphabet = "base64" | "base64url";

/** Options of {@link toBase64}. */
export interface ToBase64Options {
  /** Standard (`+/`, the default) or URL-safe (`-_`). */
  alphabet?: Base64Alphabet;
  /** Leave out the trailing `=` padding. */
  omitPadding?: boolean;
}

/** Options of {@link fromBase64}. */
export interface FromBase64Options {
  /** Standard (`+/`, the default) or URL-safe (`-_`). */
  alphabet?: Base64Alphabet;
  /** `"loose"` (the default) accepts a final chunk without padding and ignores its spare bits;
   * `"strict"` wants padding and zero spare bits. */
  lastChunkHandling?: "loose" | "strict";
}

/** The four conversions. */
export interface Encoding {
  /** Bytes as base64. */
  toBase64(bytes: Uint8Array, options?: ToBase64Options): string;
  /** Base64 as bytes; `SyntaxError` when it is not valid base64 (ASCII whitespace is skipped). */
  fromBase64(text: string, options?: FromBase64Options): Uint8Array<ArrayBuffer>;
  /** Bytes as lowercase hex. */
  toHex(bytes: Uint8Array): string;
  /** Hex (either case, even length) as bytes; `SyntaxError` otherwise. */
  fromHex(text: string): Uint8Array<ArrayBuffer>;
}

const STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE = STD.slice(0, 62) + "-_";

function decodeTable(alphabet: string): Int8Array {
  const table = new Int8Array(128).fill(-1);
  for (let i = 0; i < 64; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
}
const STD_TABLE = decodeTable(STD);
const URL_TABLE = decodeTable(URL_SAFE);
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** The fallback conversions, in plain JavaScript (exported so tests compare them with the native
 * methods). */
export const fallbackEncoding: Encoding = {
  toBase64(bytes: Uint8Array, options?: ToBase64Options): string {
    const chars = options?.alphabet === "base64url" ? URL_SAFE : STD;
    const pad = options?.omitPadding !== true;
    let out = "";
    let i = 0;
    for (; i + 2 < bytes.length; i += 3) {
      const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
      out += chars[n >> 18]! + chars[(n >> 12) & 63]! + chars[(n >> 6) & 63]! + chars[n & 63]!;
    }
    const left = bytes.length - i;
    if (left === 1) {
      const n = bytes[i]! << 16;
      out += chars[n >> 18]! + chars[(n >> 12) & 63]! + (pad ? "==" : "");
    } else if (left === 2) {
      const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
      out += chars[n >> 18]! + chars[(n >> 12) & 63]! + chars[(n >> 6) & 63]! + (pad ? "=" : "");
    }
    return out;
  },

  fromBase64(text: string, options?: FromBase64Options): Uint8Array<ArrayBuffer> {
    const table = options?.alphabet === "base64url" ? URL_TABLE : STD_TABLE;
    const strict = options?.lastChunkHandling === "strict";
    const s = text.replace(/[\t\n\f\r ]/g, "");
    const pad = s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0;
    const body = s.length - pad;
    const rem = body % 4;
    if (pad > 0 ? rem + pad !== 4 : rem === 1 || (strict && rem !== 0)) {
      throw new SyntaxError("fromBase64: the input has an incomplete or badly padded final chunk");
    }
    const out = new Uint8Array(Math.floor(body / 4) * 3 + (rem === 0 ? 0 : rem - 1));
    let acc = 0, bits = 0, o = 0;
    for (let i = 0; i < body; i++) {
      const c = s.charCodeAt(i);
      const v = c < 128 ? table[c]! : -1;
      if (v < 0) {
        throw new SyntaxError(`fromBase64: ${JSON.stringify(s[i])} is not a base64 character`);
      }
      acc = ((acc << 6) | v) & 0xffffff;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out[o++] = (acc >> bits) & 0xff;
      }
    }
    if (strict && (acc & ((1 << bits) - 1)) !== 0) {
      throw new SyntaxError("fromBase64: the final chunk has non-zero spare bits");
    }
    return out;
  },

  toHex(bytes: Uint8Array): string {
    let out = "";
    for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!]!;
    return out;
  },

  fromHex(text: string): Uint8Array<ArrayBuffer> {
    if (text.length % 2 !== 0) throw new SyntaxError("fromHex: the input has an odd length");
    if (!/^[0-9a-fA-F]*$/.test(text)) throw new SyntaxError("fromHex: the input is not hex");
    const out = new Uint8Array(text.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
    return out;
  },
};

interface NativeUint8Array {
  toBase64?(options?: ToBase64Options): string;
  toHex?(): string;
}
interface NativeUint8ArrayConstructor {
  fromBase64?(text: string, options?: FromBase64Options): Uint8Array<ArrayBuffer>;
  fromHex?(text: string): Uint8Array<ArrayBuffer>;
}

const proto = Uint8Array.prototype as NativeUint8Array;
const ctor = Uint8Array as unknown as NativeUint8ArrayConstructor;

/** The native methods, or null when this runtime lacks any of them. */
export const nativeEncoding: Encoding | null = typeof proto.toBase64 === "function" &&
    typeof proto.toHex === "function" && typeof ctor.fromBase64 === "function" &&
    typeof ctor.fromHex === "function"
  ? {
    toBase64: (bytes, options) => (bytes as NativeUint8Array).toBase64!(options),
    fromBase64: (text, options) => ctor.fromBase64!(text, options),
    toHex: (bytes) => (bytes as NativeUint8Array).toHex!(),
    fromHex: (text) => ctor.fromHex!(text),
  }
  : null;

const use: Encoding = nativeEncoding ?? fallbackEncoding;

/** Bytes as base64 (standard alphabet with padding unless `options` say otherwise). */
export const toBase64: (bytes: Uint8Array, options?: ToBase64Options) => string = use.toBase64;
/** Base64 as bytes; throws `SyntaxError` when `text` is not valid base64. */
export const fromBase64: (text: string, options?: FromBase64Options) => Uint8Array<ArrayBuffer> =
  use.fromBase64;
/** Bytes as lowercase hex. */
export const toHex: (bytes: Uint8Array) => string = use.toHex;
/** Hex as bytes; throws `SyntaxError` when `text` is not an even number of hex digits. */
export const fromHex: (text: string) => Uint8Array<ArrayBuffer> = use.fromHex;
