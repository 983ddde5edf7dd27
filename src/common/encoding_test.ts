// The base64/hex fallback (used on Node 22 and 24) must give exactly what the native Uint8Array
// methods give (Deno, Bun, Node 25+): same text, same bytes, a SyntaxError for the same inputs.
import assert from "node:assert/strict";
import {
  type Encoding,
  fallbackEncoding,
  type FromBase64Options,
  nativeEncoding,
  type ToBase64Options,
} from "./_encoding.ts";
import { createRandom } from "./random.ts";

const native: Encoding = nativeEncoding!;
const fallback = fallbackEncoding;

/** What `f` returns, or the class name of what it throws. */
function outcome<T>(f: () => T): T | string {
  try {
    return f();
  } catch (e) {
    return `throws ${(e as Error).constructor.name}`;
  }
}

const TO_OPTIONS: (ToBase64Options | undefined)[] = [
  undefined,
  { alphabet: "base64url" },
  { omitPadding: true },
  { alphabet: "base64url", omitPadding: true },
];
const FROM_OPTIONS: (FromBase64Options | undefined)[] = [
  undefined,
  { alphabet: "base64url" },
  { lastChunkHandling: "strict" },
  { alphabet: "base64url", lastChunkHandling: "strict" },
];

Deno.test("encoding: this Deno has the native methods, so the comparisons below are real", () => {
  assert.notEqual(nativeEncoding, null);
});

Deno.test("encoding: toBase64 and toHex, fallback and native, agree on 3000 random byte strings", () => {
  const random = createRandom(11n);
  for (let i = 0; i < 3000; i++) {
    const bytes = new Uint8Array(i % 67);
    for (let j = 0; j < bytes.length; j++) bytes[j] = random.int(256);
    for (const options of TO_OPTIONS) {
      assert.equal(fallback.toBase64(bytes, options), native.toBase64(bytes, options));
    }
    assert.equal(fallback.toHex(bytes), native.toHex(bytes));
  }
});

Deno.test("encoding: fromBase64 agrees with native on valid, damaged and odd inputs", () => {
  const random = createRandom(12n);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_= \n\t.";
  const inputs: string[] = [
    "",
    "=",
    "==",
    "A",
    "AA",
    "AAA",
    "AA=",
    "AA==",
    "AAA=",
    "AAB=",
    "AB==",
    "AAAA=",
    "AA===",
    " QU E= \n",
    "QUJD",
    "QUJ\tD",
    "-_-_",
    "+/+/",
    "é===",
  ];
  for (let i = 0; i < 2000; i++) {
    const bytes = new Uint8Array(i % 23);
    for (let j = 0; j < bytes.length; j++) bytes[j] = random.int(256);
    const text = native.toBase64(bytes, TO_OPTIONS[i % 4]);
    inputs.push(text);
    // One character replaced by a random one (often still valid, often not).
    if (text.length > 0) {
      const at = random.int(text.length);
      inputs.push(
        text.slice(0, at) + alphabet[random.int(alphabet.length)] + text.slice(at + 1),
      );
    }
  }
  let threw = 0;
  for (const text of inputs) {
    for (const options of FROM_OPTIONS) {
      const want = outcome(() => native.fromBase64(text, options));
      assert.deepEqual(
        outcome(() => fallback.fromBase64(text, options)),
        want,
        JSON.stringify([text, options]),
      );
      if (typeof want === "string") threw++;
    }
  }
  assert.ok(threw > 500, `only ${threw} inputs were invalid: the damaged cases are too few`);
});

Deno.test("encoding: fromHex agrees with native, including odd lengths and bad digits", () => {
  for (const text of ["", "00", "0aFf", "abc", "zz", "0g", " 00", "DEADbeef", "1"]) {
    assert.deepEqual(
      outcome(() => fallback.fromHex(text)),
      outcome(() => native.fromHex(text)),
      text,
    );
  }
});
