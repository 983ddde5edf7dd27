/**
 * WireGuard keys: parsing (standard base64 as `wg` prints it, or base64url without padding as
 * some PeerInfo publishers use), and X25519 key generation with WebCrypto, whose keys are
 * WireGuard keys.
 *
 * @module
 */
import { chmod, readFile, writeFile } from "node:fs/promises";
import { WgKeyError } from "./errors.ts";
import { fromBase64, fromHex, toBase64 } from "../common/_encoding.ts";

const STD = /^[A-Za-z0-9+/]{43}=?$/;
const URL_SAFE = /^[A-Za-z0-9_-]{43}$/;

/** Parses a WireGuard key (public, private or preshared: 32 bytes) and returns its standard
 * base64 form with padding, the form `wg` prints and reads. Accepts standard base64 (padding
 * optional) and base64url without padding; refuses anything else, including non-canonical
 * trailing bits.
 *
 * @example
 * ```ts
 * import { parseWgKey } from "./mod.ts";
 * const std = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
 * console.log(parseWgKey(std) === std); // true
 * console.log(parseWgKey("yAnz5TF-lXXJte14tji3zlMNq-hd2rYUIgJBgB3fBmk")); // the same key
 * ```
 */
export function parseWgKey(text: string): string {
  return toBase64(wgKeyBytes(text));
}

/** The 32 bytes of a WireGuard key in either accepted text form (see {@link parseWgKey}).
 *
 * @example
 * ```ts
 * import { wgKeyBytes } from "./mod.ts";
 * console.log(wgKeyBytes("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").length); // 32
 * ```
 */
export function wgKeyBytes(text: string): Uint8Array {
  if (typeof text !== "string") throw new WgKeyError(`a WireGuard key must be a string`);
  const shown = text.length > 60 ? `${JSON.stringify(text.slice(0, 60))}...` : JSON.stringify(text);
  let bytes: Uint8Array | undefined;
  try {
    if (STD.test(text)) {
      bytes = fromBase64(text.endsWith("=") ? text : text + "=");
    } else if (URL_SAFE.test(text)) {
      bytes = fromBase64(text, { alphabet: "base64url" });
    }
  } catch {
    bytes = undefined;
  }
  if (bytes === undefined || bytes.length !== 32) {
    throw new WgKeyError(
      `invalid WireGuard key ${shown}: expected 32 bytes as standard base64 (44 characters ` +
        `ending in "=", as wg prints) or base64url without padding (43 characters)`,
    );
  }
  const canonical = toBase64(bytes);
  const back = /[-_]/.test(text)
    ? toBase64(bytes, { alphabet: "base64url", omitPadding: true })
    : canonical;
  if (back.replace(/=$/, "") !== text.replace(/=$/, "")) {
    throw new WgKeyError(
      `invalid WireGuard key ${shown}: non-canonical base64 (the last character has bits set ` +
        `that a 32-byte key cannot have)`,
    );
  }
  return bytes;
}

/** Whether a text is a valid WireGuard key in an accepted form.
 *
 * @example
 * ```ts
 * import { isWgKey } from "./mod.ts";
 * console.log(isWgKey("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), isWgKey("k")); // true false
 * ```
 */
export function isWgKey(text: string): boolean {
  try {
    wgKeyBytes(text);
    return true;
  } catch {
    return false;
  }
}

/** A WireGuard key pair in standard base64.
 *
 * @example
 * ```ts
 * import { wgKeyBytes, type WgKeyPair, wgPublicKey } from "./mod.ts";
 * // RFC 7748 section 6.1, Alice's key pair.
 * const privateKey = Uint8Array.fromHex(
 *   "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
 * ).toBase64();
 * const pair: WgKeyPair = { privateKey, publicKey: await wgPublicKey(privateKey) };
 * console.log(wgKeyBytes(pair.publicKey).toHex());
 * // 8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a
 * ```
 */
export interface WgKeyPair {
  /** The private key (what `wg genkey` prints). */
  readonly privateKey: string;
  /** The public key (what `wg pubkey` prints for it). */
  readonly publicKey: string;
}

/** Generates a WireGuard key pair with WebCrypto X25519 (no `wg` needed).
 *
 * @example
 * ```ts
 * import { generateWgKeyPair, wgPublicKey } from "./mod.ts";
 * const pair = await generateWgKeyPair();
 * console.log(await wgPublicKey(pair.privateKey) === pair.publicKey); // true
 * ```
 */
export async function generateWgKeyPair(): Promise<WgKeyPair> {
  const pair = await crypto.subtle.generateKey({ name: "X25519" }, true, [
    "deriveBits",
  ]) as CryptoKeyPair;
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const pub = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return { privateKey: toBase64(pkcs8.subarray(pkcs8.length - 32)), publicKey: toBase64(pub) };
}

// DER prefix of a PKCS#8 X25519 private key (RFC 8410); the 32 key bytes follow it.
const PKCS8_X25519 = fromHex("302e020100300506032b656e04220420");

/** The public key of a WireGuard private key (like `wg pubkey`), computed with WebCrypto.
 *
 * @example
 * ```ts
 * import { wgPublicKey } from "./mod.ts";
 * // RFC 7748 section 6.1, Alice's key pair.
 * const priv = Uint8Array.fromHex(
 *   "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
 * ).toBase64();
 * console.log((await wgPublicKey(priv)) ===
 *   Uint8Array.fromHex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
 *     .toBase64()); // true
 * ```
 */
export async function wgPublicKey(privateKey: string): Promise<string> {
  const raw = wgKeyBytes(privateKey);
  const der = new Uint8Array(PKCS8_X25519.length + 32);
  der.set(PKCS8_X25519);
  der.set(raw, PKCS8_X25519.length);
  const key = await crypto.subtle.importKey("pkcs8", der, { name: "X25519" }, true, [
    "deriveBits",
  ]);
  const jwk = await crypto.subtle.exportKey("jwk", key);
  if (typeof jwk.x !== "string") throw new WgKeyError("WebCrypto gave no public key");
  return toBase64(fromBase64(jwk.x, { alphabet: "base64url" }));
}

/** Reads a WireGuard private key file (one key, as `wg genkey` writes it), creating it with a
 * fresh key and mode 0600 when it does not exist. Returns the key pair.
 *
 * @example
 * ```ts
 * import { ensureWgPrivateKeyFile } from "./mod.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.remove(path);
 * const a = await ensureWgPrivateKeyFile(path); // created
 * const b = await ensureWgPrivateKeyFile(path); // read back
 * console.log(a.publicKey === b.publicKey, (await Deno.stat(path)).mode! & 0o777); // true 384
 * await Deno.remove(path);
 * ```
 */
export async function ensureWgPrivateKeyFile(path: string): Promise<WgKeyPair> {
  let text: string | undefined;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as { code?: unknown }).code !== "ENOENT") throw e;
  }
  if (text === undefined) {
    const pair = await generateWgKeyPair();
    // flag "wx" (create new): never overwrite a key file that appeared meanwhile.
    await writeFile(path, pair.privateKey + "\n", { mode: 0o600, flag: "wx" });
    await chmod(path, 0o600);
    return pair;
  }
  let privateKey: string;
  try {
    privateKey = parseWgKey(text.trim());
  } catch (e) {
    throw new WgKeyError(`private key file ${path}: ${(e as Error).message}`);
  }
  return { privateKey, publicKey: await wgPublicKey(privateKey) };
}
