/**
 * Opt-in encryption and authentication of gossip datagrams: a {@link Keyring} of AES-GCM keys
 * (one primary key that encrypts, every installed key decrypts), the datagram framing, and the
 * keyring file format read by the worker's `--keyring-file`.
 *
 * Framing of one encrypted datagram (the layout of HashiCorp memberlist's version-1 frames):
 *
 * | offset | size | field |
 * |---|---|---|
 * | 0 | 1 | version, always `01` |
 * | 1 | 12 | nonce, random for every datagram |
 * | 13 | n | ciphertext (as long as the plaintext) |
 * | 13 + n | 16 | GCM authentication tag |
 *
 * The version byte is bound as additional authenticated data, so it cannot be changed without
 * failing authentication. The overhead is 29 bytes per datagram ({@link ENCRYPTION_OVERHEAD}).
 *
 * @module
 */
import { type FileHandle, open } from "node:fs/promises";
import { HearsayError } from "../common/errors.ts";
import { fromBase64, toHex } from "../common/_encoding.ts";

/** The version byte of every encrypted datagram.
 *
 * @example
 * ```ts
 * import { ENCRYPTION_VERSION } from "./keyring.ts";
 * console.log(ENCRYPTION_VERSION); // 1
 * ```
 */
export const ENCRYPTION_VERSION = 1;

/** Size of the random nonce (GCM's 96-bit IV), in bytes.
 *
 * @example
 * ```ts
 * import { NONCE_SIZE } from "./keyring.ts";
 * console.log(NONCE_SIZE); // 12
 * ```
 */
export const NONCE_SIZE = 12;

/** Size of the GCM authentication tag, in bytes.
 *
 * @example
 * ```ts
 * import { TAG_SIZE } from "./keyring.ts";
 * console.log(TAG_SIZE); // 16
 * ```
 */
export const TAG_SIZE = 16;

/** Bytes an encrypted datagram has on top of its plaintext: version (1) + nonce (12) + tag (16).
 *
 * @example
 * ```ts
 * import { ENCRYPTION_OVERHEAD } from "./keyring.ts";
 * import { MAX_DATAGRAM_SIZE } from "../codec/wire.ts";
 * console.log(MAX_DATAGRAM_SIZE - ENCRYPTION_OVERHEAD); // 65478: largest plaintext in one UDP datagram
 * ```
 */
export const ENCRYPTION_OVERHEAD: number = 1 + NONCE_SIZE + TAG_SIZE;

/** The largest keyring file {@link loadKeyringFile} reads, in bytes (checked before reading).
 *
 * @example
 * ```ts
 * import { MAX_KEYRING_FILE_SIZE } from "./keyring.ts";
 * console.log(MAX_KEYRING_FILE_SIZE); // 65536
 * ```
 */
export const MAX_KEYRING_FILE_SIZE = 65_536;

/** The most keys one keyring holds. Every key is tried on a datagram the earlier ones could not
 * authenticate, so the list stays short.
 *
 * @example
 * ```ts
 * import { MAX_KEYS } from "./keyring.ts";
 * console.log(MAX_KEYS); // 16
 * ```
 */
export const MAX_KEYS = 16;

/** Why a datagram could not be decrypted. Used as the drop-counter label.
 * - `tooShort`: shorter than the 29-byte frame overhead;
 * - `badVersion`: the first byte is not {@link ENCRYPTION_VERSION} (a plain chitchat datagram
 *   starts with `53`);
 * - `noKey`: no installed key authenticates it (wrong key, or tampered bytes).
 *
 * @example
 * ```ts
 * import type { DecryptErrorReason } from "./keyring.ts";
 * const r: DecryptErrorReason = "noKey";
 * console.log(r);
 * ```
 */
export type DecryptErrorReason = "tooShort" | "badVersion" | "noKey";

/** A datagram could not be decrypted and authenticated.
 *
 * @example
 * ```ts
 * import { DecryptError } from "./keyring.ts";
 * const e = new DecryptError("badVersion", "first byte is 0x53, expected 0x01");
 * console.log(e.reason, e.message);
 * ```
 */
export class DecryptError extends HearsayError {
  /** Machine-readable reason. */
  readonly reason: DecryptErrorReason;
  /** Creates the error; `detail` says what was found and what was expected. */
  constructor(reason: DecryptErrorReason, detail: string) {
    super(`cannot decrypt datagram: ${reason}: ${detail}`);
    this.reason = reason;
  }
}

/** What was wrong with a keyring operation or a keyring file.
 * - `badKey`: not a 16, 24 or 32-byte `Uint8Array`;
 * - `empty`: a keyring needs at least one key;
 * - `tooManyKeys`: more than {@link MAX_KEYS};
 * - `notInstalled`: the key (or fingerprint) is not in the keyring;
 * - `removePrimary`: the primary key cannot be removed (make another key primary first);
 * - `badFile`: the keyring file cannot be read or does not follow the format.
 *
 * @example
 * ```ts
 * import type { KeyringErrorReason } from "./keyring.ts";
 * const r: KeyringErrorReason = "removePrimary";
 * console.log(r);
 * ```
 */
export type KeyringErrorReason =
  | "badKey"
  | "empty"
  | "tooManyKeys"
  | "notInstalled"
  | "removePrimary"
  | "badFile";

/** A keyring operation or keyring file is invalid. Messages name keys by fingerprint, never by
 * their bytes.
 *
 * @example
 * ```ts
 * import { KeyringError } from "./keyring.ts";
 * const e = new KeyringError("notInstalled", "key 0123456789abcdef is not installed");
 * console.log(e.reason, e.message);
 * ```
 */
export class KeyringError extends HearsayError {
  /** Machine-readable reason. */
  readonly reason: KeyringErrorReason;
  /** Creates the error with the problem in words. */
  constructor(reason: KeyringErrorReason, problem: string, options?: ErrorOptions) {
    super(`keyring: ${problem}`, options);
    this.reason = reason;
  }
}

/** One installed key, as {@link Keyring.keys} describes it (never the key bytes).
 *
 * @example
 * ```ts
 * import type { KeyInfo } from "./keyring.ts";
 * const k: KeyInfo = { fingerprint: "9f86d081884c7d65", bits: 256, primary: true };
 * console.log(k.fingerprint);
 * ```
 */
export interface KeyInfo {
  /** First 8 bytes of the key's SHA-256, in hex: safe to log and to compare across nodes. */
  readonly fingerprint: string;
  /** Key size: 128, 192 or 256. */
  readonly bits: 128 | 192 | 256;
  /** Whether this key encrypts outgoing datagrams. */
  readonly primary: boolean;
}

interface Entry {
  readonly info: Omit<KeyInfo, "primary">;
  /** Full SHA-256 of the key in hex: the key's identity inside the keyring. */
  readonly id: string;
  readonly key: CryptoKey;
}

const VERSION_AAD = new Uint8Array([ENCRYPTION_VERSION]);

function checkKey(key: unknown, what: string): Uint8Array {
  if (!(key instanceof Uint8Array)) {
    throw new KeyringError("badKey", `${what} must be a Uint8Array of 16, 24 or 32 bytes`);
  }
  if (key.length !== 16 && key.length !== 24 && key.length !== 32) {
    throw new KeyringError(
      "badKey",
      `${what} is ${key.length} bytes; an AES-GCM key must be 16, 24 or 32 bytes ` +
        `(AES-128, AES-192 or AES-256)`,
    );
  }
  return key;
}

async function makeEntry(key: Uint8Array, what: string): Promise<Entry> {
  checkKey(key, what);
  const copy = key.slice();
  const [digest, cryptoKey] = await Promise.all([
    crypto.subtle.digest("SHA-256", copy),
    crypto.subtle.importKey("raw", copy, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]),
  ]);
  copy.fill(0);
  const hex = toHex(new Uint8Array(digest));
  return {
    id: hex,
    key: cryptoKey,
    info: { fingerprint: hex.slice(0, 16), bits: (key.length * 8) as 128 | 192 | 256 },
  };
}

/** The fingerprint of a key as {@link Keyring.keys} reports it: the first 8 bytes of its
 * SHA-256, in hex. Use it to check that two nodes hold the same key without showing the key.
 *
 * @example
 * ```ts
 * import { keyFingerprint } from "./keyring.ts";
 * console.log(await keyFingerprint(new Uint8Array(32))); // 66687aadf862bd77
 * ```
 */
export async function keyFingerprint(key: Uint8Array): Promise<string> {
  return (await makeEntry(key, "key")).info.fingerprint;
}

/** A fresh random AES-GCM key of `bytes` bytes (16, 24 or 32; default 32) from WebCrypto's
 * random generator.
 *
 * @example
 * ```ts
 * import { generateKey } from "./keyring.ts";
 * const key = generateKey();
 * console.log(key.length); // 32
 * ```
 */
export function generateKey(bytes: 16 | 24 | 32 = 32): Uint8Array {
  if (bytes !== 16 && bytes !== 24 && bytes !== 32) {
    throw new KeyringError("badKey", `key size must be 16, 24 or 32 bytes, got ${bytes}`);
  }
  return crypto.getRandomValues(new Uint8Array(bytes));
}

/**
 * A set of AES-GCM keys (AES-128, AES-192 or AES-256, mixed sizes allowed). The primary key
 * encrypts every outgoing datagram; every installed key is tried on incoming ones (the primary
 * first), so keys can be rotated across a running cluster without a flag day: install the new key
 * everywhere, make it primary everywhere, then remove the old one everywhere.
 *
 * Every state change is atomic: the keyring switches from one complete key list to the next in a
 * single step, and an encryption or decryption already running keeps the list it started with.
 * Keys are identified by their bytes or by their fingerprint ({@link KeyInfo.fingerprint});
 * the keyring keeps no copy of the raw bytes (WebCrypto holds them as non-extractable keys) and
 * never puts them in messages.
 *
 * @example
 * ```ts
 * import { generateKey, Keyring } from "./keyring.ts";
 * const oldKey = generateKey(16);
 * const newKey = generateKey(32);
 * const a = await Keyring.create([oldKey]);
 * const b = await Keyring.create([oldKey, newKey]); // oldKey primary, newKey can decrypt
 * const datagram = await a.encrypt(new TextEncoder().encode("hello"));
 * console.log(new TextDecoder().decode(await b.decrypt(datagram))); // hello
 * await a.install(newKey);
 * await a.usePrimary(newKey);
 * await a.remove(oldKey);
 * console.log(a.keys().length, (await b.decrypt(await a.encrypt(new Uint8Array(3)))).length); // 1 3
 * ```
 */
export class Keyring {
  /** Primary first, then the others in installation order. Replaced, never mutated. */
  #entries: readonly Entry[];

  private constructor(entries: readonly Entry[]) {
    this.#entries = entries;
  }

  /** Creates a keyring from `keys`; the first is the primary key. Duplicates are ignored. Throws
   * a {@link KeyringError} for an empty list, more than {@link MAX_KEYS} keys, or a key that is
   * not 16, 24 or 32 bytes. */
  static async create(keys: readonly Uint8Array[]): Promise<Keyring> {
    if (!Array.isArray(keys) || keys.length === 0) {
      throw new KeyringError("empty", "needs at least one key (the first one is the primary)");
    }
    keys.forEach((k, i) => checkKey(k, `keys[${i}]`));
    const made = await Promise.all(keys.map((k, i) => makeEntry(k, `keys[${i}]`)));
    const entries: Entry[] = [];
    for (const e of made) if (!entries.some((x) => x.id === e.id)) entries.push(e);
    if (entries.length > MAX_KEYS) {
      throw new KeyringError(
        "tooManyKeys",
        `holds at most ${MAX_KEYS} keys, got ${entries.length}`,
      );
    }
    return new Keyring(entries);
  }

  /** The installed keys, primary first, by fingerprint. */
  keys(): KeyInfo[] {
    return this.#entries.map((e, i) => ({ ...e.info, primary: i === 0 }));
  }

  /** The fingerprint of the primary key. */
  get primaryFingerprint(): string {
    return this.#entries[0]!.info.fingerprint;
  }

  /** Adds a key that can decrypt (not yet encrypt). Installing a key already there is a no-op.
   * Returns the key's fingerprint. */
  async install(key: Uint8Array): Promise<string> {
    const entry = await makeEntry(key, "key");
    const entries = this.#entries;
    if (!entries.some((e) => e.id === entry.id)) {
      if (entries.length >= MAX_KEYS) {
        throw new KeyringError(
          "tooManyKeys",
          `holds at most ${MAX_KEYS} keys; remove one before installing ${entry.info.fingerprint}`,
        );
      }
      this.#entries = [...entries, entry];
    }
    return entry.info.fingerprint;
  }

  /** Makes an installed key (given by its bytes or fingerprint) the primary key: from now on it
   * encrypts. The former primary stays installed and keeps decrypting. */
  async usePrimary(key: Uint8Array | string): Promise<void> {
    const id = await this.#idOf(key);
    const entries = this.#entries;
    const i = this.#indexOf(entries, id, key);
    if (i === 0) return;
    this.#entries = [entries[i]!, ...entries.filter((_, j) => j !== i)];
  }

  /** Removes an installed key (given by its bytes or fingerprint): datagrams encrypted with it
   * are no longer accepted. The primary key cannot be removed (reason `removePrimary`). */
  async remove(key: Uint8Array | string): Promise<void> {
    const id = await this.#idOf(key);
    const entries = this.#entries;
    const i = this.#indexOf(entries, id, key);
    if (i === 0) {
      throw new KeyringError(
        "removePrimary",
        `cannot remove ${entries[0]!.info.fingerprint}: it is the primary key; make another ` +
          `installed key primary first (usePrimary)`,
      );
    }
    this.#entries = entries.filter((_, j) => j !== i);
  }

  /** A key's identity: the full SHA-256 hex for bytes, or the fingerprint text as given. */
  async #idOf(key: Uint8Array | string): Promise<string> {
    if (typeof key === "string") {
      if (!/^[0-9a-f]{16}$/.test(key)) {
        throw new KeyringError(
          "notInstalled",
          `${JSON.stringify(key)} is not a key fingerprint (16 lowercase hex digits)`,
        );
      }
      return key;
    }
    return (await makeEntry(key, "key")).id;
  }

  #indexOf(entries: readonly Entry[], id: string, key: Uint8Array | string): number {
    const i = typeof key === "string"
      ? entries.findIndex((e) => e.info.fingerprint === id)
      : entries.findIndex((e) => e.id === id);
    if (i < 0) {
      const have = entries.map((e) => e.info.fingerprint).join(", ");
      throw new KeyringError(
        "notInstalled",
        `key ${id.slice(0, 16)} is not installed (installed: ${have}); install it first`,
      );
    }
    return i;
  }

  /** Encrypts one datagram with the primary key: version byte, fresh random nonce, ciphertext
   * and tag. The plaintext is read before this returns, so the caller may reuse its buffer. */
  async encrypt(plaintext: Uint8Array): Promise<Uint8Array> {
    const key = this.#entries[0]!.key;
    const nonce = crypto.getRandomValues(new Uint8Array(NONCE_SIZE));
    const sealed = crypto.subtle.encrypt(
      { name: "AES-GCM", iv: nonce, additionalData: VERSION_AAD, tagLength: TAG_SIZE * 8 },
      key,
      plaintext as Uint8Array<ArrayBuffer>,
    );
    const body = new Uint8Array(await sealed);
    const out = new Uint8Array(1 + NONCE_SIZE + body.length);
    out[0] = ENCRYPTION_VERSION;
    out.set(nonce, 1);
    out.set(body, 1 + NONCE_SIZE);
    return out;
  }

  /** Checks and decrypts one datagram, trying the primary key first and then every other
   * installed key. Throws a {@link DecryptError} when it is too short, has another version
   * byte, or no installed key authenticates it. */
  async decrypt(datagram: Uint8Array): Promise<Uint8Array> {
    if (datagram.length < ENCRYPTION_OVERHEAD) {
      throw new DecryptError(
        "tooShort",
        `${datagram.length} bytes, an encrypted datagram has at least ${ENCRYPTION_OVERHEAD}`,
      );
    }
    if (datagram[0] !== ENCRYPTION_VERSION) {
      const hex = datagram[0]!.toString(16).padStart(2, "0");
      throw new DecryptError(
        "badVersion",
        `first byte is 0x${hex}, expected 0x0${ENCRYPTION_VERSION} (encryption version 1)`,
      );
    }
    // Copy: later attempts run after an await, when the caller's buffer may have changed.
    const nonce = datagram.slice(1, 1 + NONCE_SIZE);
    const body = datagram.slice(1 + NONCE_SIZE);
    const entries = this.#entries;
    for (const e of entries) {
      try {
        const plain = await crypto.subtle.decrypt(
          { name: "AES-GCM", iv: nonce, additionalData: VERSION_AAD, tagLength: TAG_SIZE * 8 },
          e.key,
          body,
        );
        return new Uint8Array(plain);
      } catch {
        // Not this key (or tampered): try the next one.
      }
    }
    throw new DecryptError(
      "noKey",
      `none of the ${entries.length} installed key(s) authenticates it (wrong key or ` +
        `tampered datagram)`,
    );
  }
}

/** The content of a keyring file: the primary key and every key (primary first).
 *
 * @example
 * ```ts
 * import type { KeyringSpec } from "./keyring.ts";
 * const k = new Uint8Array(32);
 * const spec: KeyringSpec = { primary: k, keys: [k] };
 * console.log(spec.keys.length);
 * ```
 */
export interface KeyringSpec {
  /** The key that encrypts. */
  readonly primary: Uint8Array;
  /** Every key that decrypts, the primary first. */
  readonly keys: readonly Uint8Array[];
}

function fileError(source: string, problem: string, cause?: unknown): KeyringError {
  return new KeyringError(
    "badFile",
    `${source}: ${problem}`,
    cause === undefined ? undefined : { cause },
  );
}

function decodeKey(value: unknown, where: string, source: string): Uint8Array {
  if (typeof value !== "string") {
    throw fileError(source, `${where} must be a base64 string, got ${typeName(value)}`);
  }
  let bytes: Uint8Array;
  try {
    bytes = fromBase64(value.trim(), { lastChunkHandling: "strict" });
  } catch (e) {
    throw fileError(
      source,
      `${where} is not valid standard base64 (A-Z a-z 0-9 + /, "=" padding)`,
      e,
    );
  }
  if (bytes.length !== 16 && bytes.length !== 24 && bytes.length !== 32) {
    throw fileError(
      source,
      `${where} decodes to ${bytes.length} bytes; a key must be 16, 24 or 32 bytes ` +
        `(24, 32 or 44 base64 characters)`,
    );
  }
  return bytes;
}

function typeName(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "an array" : typeof v;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Parses the text of a keyring file. The format is JSON:
 *
 * ```json
 * { "primary": "<base64 key>", "keys": ["<base64 key>", "<base64 key>"] }
 * ```
 *
 * Keys are standard base64 (with padding) of 16, 24 or 32 bytes. `primary` must also appear
 * in `keys`; `keys` lists every key that decrypts (at most {@link MAX_KEYS}, no duplicates). No
 * other fields are allowed (a misspelt field is an error, not silently ignored). Errors are
 * {@link KeyringError}s with reason `badFile` that name `source` and the offending field, never
 * the key bytes.
 *
 * @example
 * ```ts
 * import { parseKeyringFile } from "./keyring.ts";
 * const a = new Uint8Array(16).fill(1).toBase64();
 * const b = new Uint8Array(32).fill(2).toBase64();
 * const spec = parseKeyringFile(JSON.stringify({ primary: b, keys: [a, b] }));
 * console.log(spec.keys.map((k) => k.length)); // [ 32, 16 ]
 * ```
 */
export function parseKeyringFile(text: string, source = "keyring file"): KeyringSpec {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw fileError(source, `is not valid JSON (${(e as Error).message})`, e);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw fileError(
      source,
      `must be a JSON object {"primary": "<base64>", "keys": [...]}, got ${typeName(doc)}`,
    );
  }
  const obj = doc as Record<string, unknown>;
  for (const field of Object.keys(obj)) {
    if (field !== "primary" && field !== "keys") {
      throw fileError(
        source,
        `unknown field ${JSON.stringify(field)}; only "primary" and "keys" are allowed`,
      );
    }
  }
  if (!("primary" in obj)) throw fileError(source, `"primary" is missing`);
  if (!("keys" in obj)) throw fileError(source, `"keys" is missing (list the primary there too)`);
  const primary = decodeKey(obj.primary, `"primary"`, source);
  const list = obj.keys;
  if (!Array.isArray(list)) {
    throw fileError(source, `"keys" must be an array of base64 strings, got ${typeName(list)}`);
  }
  if (list.length === 0) throw fileError(source, `"keys" is empty; it must contain the primary`);
  if (list.length > MAX_KEYS) {
    throw fileError(source, `"keys" has ${list.length} entries, at most ${MAX_KEYS} are allowed`);
  }
  const keys = list.map((v, i) => decodeKey(v, `"keys"[${i}]`, source));
  for (let i = 0; i < keys.length; i++) {
    for (let j = 0; j < i; j++) {
      if (sameBytes(keys[i]!, keys[j]!)) {
        throw fileError(source, `"keys"[${i}] is the same key as "keys"[${j}]`);
      }
    }
  }
  const p = keys.findIndex((k) => sameBytes(k, primary));
  if (p < 0) {
    throw fileError(source, `"primary" is not among "keys"; list every key, the primary included`);
  }
  return { primary, keys: [keys[p]!, ...keys.filter((_, i) => i !== p)] };
}

/**
 * Reads a keyring file (format: {@link parseKeyringFile}) and creates the {@link Keyring}.
 * Files larger than {@link MAX_KEYRING_FILE_SIZE} are refused before reading. Needs read
 * permission for `path`. Reads through `node:fs/promises`, so it works on Deno, Node and Bun.
 *
 * @example
 * ```ts
 * import { generateKey, loadKeyringFile } from "./keyring.ts";
 * const key = generateKey().toBase64();
 * const path = await Deno.makeTempFile({ suffix: ".json" });
 * await Deno.writeTextFile(path, JSON.stringify({ primary: key, keys: [key] }));
 * const keyring = await loadKeyringFile(path);
 * console.log(keyring.keys().length); // 1
 * await Deno.remove(path);
 * ```
 */
export async function loadKeyringFile(path: string): Promise<Keyring> {
  let text: string;
  let file: FileHandle | undefined;
  try {
    // One open file for the size check and the read, so the file checked is the file read.
    file = await open(path, "r");
    const info = await file.stat();
    if (!info.isFile()) throw fileError(path, "is not a regular file");
    if (info.size > MAX_KEYRING_FILE_SIZE) {
      throw fileError(
        path,
        `is ${info.size} bytes; a keyring file is at most ${MAX_KEYRING_FILE_SIZE} bytes`,
      );
    }
    // One byte more than allowed, to notice a file that grew after the size check.
    const buf = new Uint8Array(MAX_KEYRING_FILE_SIZE + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await file.read(buf, n, buf.length - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n === buf.length) {
        throw fileError(path, `grew past ${MAX_KEYRING_FILE_SIZE} bytes while it was read`);
      }
    }
    text = new TextDecoder().decode(buf.subarray(0, n));
  } catch (e) {
    if (e instanceof KeyringError) throw e;
    throw fileError(path, `cannot be read: ${(e as Error).message}`, e);
  } finally {
    await file?.close().catch(() => {});
  }
  const spec = parseKeyringFile(text, path);
  return await Keyring.create(spec.keys);
}
