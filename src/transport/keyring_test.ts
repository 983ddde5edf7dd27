import assert from "node:assert/strict";
import {
  DecryptError,
  ENCRYPTION_OVERHEAD,
  generateKey,
  keyFingerprint,
  Keyring,
  KeyringError,
  loadKeyringFile,
  MAX_KEYRING_FILE_SIZE,
  MAX_KEYS,
  NONCE_SIZE,
  parseKeyringFile,
} from "./keyring.ts";

const SIZES = [16, 24, 32] as const;

function key(fill: number, size: 16 | 24 | 32 = 32): Uint8Array {
  return new Uint8Array(size).fill(fill);
}

function plaintext(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);
}

async function rejectsWith<E extends Error>(
  p: Promise<unknown>,
  cls: new (...args: never[]) => E,
  check: (e: E) => void,
): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${e}`);
    check(e);
    return true;
  });
}

Deno.test("Keyring matches the AES-GCM known answers for 128, 192 and 256-bit keys", async () => {
  // McGrew & Viega's GCM test cases 2, 8 and 14 (zero key, zero 96-bit IV, 16 zero bytes, no
  // AAD). Our frame binds the version byte as AAD, so check the primitive WebCrypto gives us.
  const expected: Record<number, string> = {
    16: "0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf",
    24: "98e7247c07f0fe411c267e4384b0f6002ff58d80033927ab8ef4d4587514f0fb",
    32: "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919",
  };
  for (const size of SIZES) {
    const k = await crypto.subtle.importKey("raw", new Uint8Array(size), "AES-GCM", false, [
      "encrypt",
    ]);
    const out = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: new Uint8Array(12) },
      k,
      new Uint8Array(16),
    );
    assert.equal(new Uint8Array(out).toHex(), expected[size], `AES-${size * 8}-GCM`);
  }
});

Deno.test("Keyring round-trips datagrams with 128, 192 and 256-bit keys", async () => {
  for (const size of SIZES) {
    const ring = await Keyring.create([generateKey(size)]);
    assert.equal(ring.keys()[0]!.bits, size * 8);
    for (const n of [0, 1, 15, 16, 17, 1400, 65_478]) {
      const p = plaintext(n);
      const d = await ring.encrypt(p);
      assert.equal(d.length, n + ENCRYPTION_OVERHEAD);
      assert.equal(d[0], 1);
      assert.deepEqual(await ring.decrypt(d), p, `AES-${size * 8}, ${n} bytes`);
    }
  }
});

Deno.test("Keyring.encrypt() uses a fresh nonce for every datagram", async () => {
  const ring = await Keyring.create([key(1)]);
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const d = await ring.encrypt(plaintext(10));
    seen.add(d.subarray(1, 1 + NONCE_SIZE).toHex());
  }
  assert.equal(seen.size, 200);
});

Deno.test("Keyring.encrypt() reads the plaintext before returning (caller may reuse it)", async () => {
  const ring = await Keyring.create([key(1)]);
  const buf = plaintext(64);
  const original = buf.slice();
  const pending = ring.encrypt(buf);
  buf.fill(0);
  assert.deepEqual(await ring.decrypt(await pending), original);
});

Deno.test("Keyring.decrypt() rejects a datagram shorter than the frame overhead", async () => {
  const ring = await Keyring.create([key(1)]);
  for (const n of [0, 1, 28]) {
    await rejectsWith(ring.decrypt(new Uint8Array(n).fill(1)), DecryptError, (e) => {
      assert.equal(e.reason, "tooShort");
      assert.match(e.message, new RegExp(`${n} bytes, .* at least 29`));
    });
  }
});

Deno.test("Keyring.decrypt() rejects another version byte, such as a plain chitchat datagram", async () => {
  const ring = await Keyring.create([key(1)]);
  const d = await ring.encrypt(plaintext(40));
  for (const v of [0, 2, 0x53, 0xff]) {
    const copy = d.slice();
    copy[0] = v;
    await rejectsWith(ring.decrypt(copy), DecryptError, (e) => {
      assert.equal(e.reason, "badVersion");
      assert.match(e.message, /expected 0x01/);
    });
  }
});

Deno.test("Keyring.decrypt() rejects every single-byte change after the version byte", async () => {
  const ring = await Keyring.create([key(1), key(2)]);
  const d = await ring.encrypt(plaintext(48));
  for (let i = 1; i < d.length; i++) {
    for (const mask of [0x01, 0x80]) {
      const copy = d.slice();
      copy[i]! ^= mask;
      await rejectsWith(ring.decrypt(copy), DecryptError, (e) => assert.equal(e.reason, "noKey"));
    }
  }
  // Truncated or extended frames fail too.
  await rejectsWith(ring.decrypt(d.subarray(0, d.length - 1)), DecryptError, (e) => {
    assert.equal(e.reason, "noKey");
  });
  const longer = new Uint8Array(d.length + 1);
  longer.set(d);
  await rejectsWith(ring.decrypt(longer), DecryptError, (e) => assert.equal(e.reason, "noKey"));
});

Deno.test("Keyring.decrypt() rejects a datagram sealed with a key it does not hold", async () => {
  const a = await Keyring.create([key(1)]);
  const b = await Keyring.create([key(2), key(3, 16)]);
  await rejectsWith(b.decrypt(await a.encrypt(plaintext(30))), DecryptError, (e) => {
    assert.equal(e.reason, "noKey");
    assert.match(e.message, /none of the 2 installed key\(s\)/);
  });
});

Deno.test("Keyring decrypts with any installed key and encrypts only with the primary", async () => {
  const k1 = key(1);
  const k2 = key(2, 24);
  const both = await Keyring.create([k1, k2]);
  const only1 = await Keyring.create([k1]);
  const only2 = await Keyring.create([k2]);
  const p = plaintext(100);
  assert.deepEqual(await both.decrypt(await only1.encrypt(p)), p);
  assert.deepEqual(await both.decrypt(await only2.encrypt(p)), p);
  // Encrypted with k1 (the primary): k2 alone cannot read it.
  await rejectsWith(only2.decrypt(await both.encrypt(p)), DecryptError, (e) => {
    assert.equal(e.reason, "noKey");
  });
  assert.deepEqual(await only1.decrypt(await both.encrypt(p)), p);
});

Deno.test("Keyring rotation: install, usePrimary, remove", async () => {
  const k1 = key(1);
  const k2 = key(2);
  const ring = await Keyring.create([k1]);
  const old = await Keyring.create([k1]);
  const f1 = await keyFingerprint(k1);
  const f2 = await ring.install(k2);
  assert.equal(f2, await keyFingerprint(k2));
  assert.deepEqual(ring.keys(), [
    { fingerprint: f1, bits: 256, primary: true },
    { fingerprint: f2, bits: 256, primary: false },
  ]);
  assert.equal(await ring.install(k2), f2, "installing twice is a no-op");
  assert.equal(ring.keys().length, 2);
  await ring.usePrimary(k2);
  assert.equal(ring.primaryFingerprint, f2);
  assert.deepEqual(ring.keys().map((k) => k.primary), [true, false]);
  // Now sealed with k2: a node holding only k1 cannot read it, but k1 traffic is still accepted.
  await rejectsWith(old.decrypt(await ring.encrypt(plaintext(5))), DecryptError, () => {});
  assert.deepEqual(await ring.decrypt(await old.encrypt(plaintext(5))), plaintext(5));
  await ring.remove(k1);
  assert.deepEqual(ring.keys(), [{ fingerprint: f2, bits: 256, primary: true }]);
  await rejectsWith(ring.decrypt(await old.encrypt(plaintext(5))), DecryptError, (e) => {
    assert.equal(e.reason, "noKey");
  });
});

Deno.test("Keyring accepts fingerprints in usePrimary() and remove()", async () => {
  const ring = await Keyring.create([key(1), key(2)]);
  const f2 = await keyFingerprint(key(2));
  await ring.usePrimary(f2);
  assert.equal(ring.primaryFingerprint, f2);
  await ring.remove(await keyFingerprint(key(1)));
  assert.equal(ring.keys().length, 1);
  await rejectsWith(ring.usePrimary("not-a-fingerprint"), KeyringError, (e) => {
    assert.equal(e.reason, "notInstalled");
    assert.match(e.message, /16 lowercase hex digits/);
  });
});

Deno.test("Keyring.remove() refuses to remove the primary key", async () => {
  const ring = await Keyring.create([key(1), key(2)]);
  const f1 = await keyFingerprint(key(1));
  await rejectsWith(ring.remove(key(1)), KeyringError, (e) => {
    assert.equal(e.reason, "removePrimary");
    assert.match(e.message, new RegExp(`cannot remove ${f1}: it is the primary key`));
  });
  assert.equal(ring.keys().length, 2);
});

Deno.test("Keyring.usePrimary() and remove() refuse a key that is not installed", async () => {
  const ring = await Keyring.create([key(1)]);
  const f9 = await keyFingerprint(key(9));
  for (const op of [() => ring.usePrimary(key(9)), () => ring.remove(key(9))]) {
    await rejectsWith(op(), KeyringError, (e) => {
      assert.equal(e.reason, "notInstalled");
      assert.match(e.message, new RegExp(`key ${f9} is not installed`));
    });
  }
});

Deno.test("Keyring rejects keys of the wrong size and empty key lists", async () => {
  for (const n of [0, 8, 15, 17, 31, 33, 64]) {
    await rejectsWith(Keyring.create([new Uint8Array(n)]), KeyringError, (e) => {
      assert.equal(e.reason, "badKey");
      assert.match(e.message, new RegExp(`keys\\[0\\] is ${n} bytes; .* 16, 24 or 32 bytes`));
    });
  }
  await rejectsWith(Keyring.create([]), KeyringError, (e) => assert.equal(e.reason, "empty"));
  const ring = await Keyring.create([key(1)]);
  await rejectsWith(ring.install(new Uint8Array(20)), KeyringError, (e) => {
    assert.equal(e.reason, "badKey");
  });
  await rejectsWith(ring.install("abc" as unknown as Uint8Array), KeyringError, (e) => {
    assert.equal(e.reason, "badKey");
  });
  assert.throws(() => generateKey(20 as 16), KeyringError);
});

Deno.test("Keyring holds at most MAX_KEYS keys", async () => {
  const keys = Array.from({ length: MAX_KEYS }, (_, i) => key(i + 1, 16));
  const ring = await Keyring.create(keys);
  await rejectsWith(ring.install(key(200, 16)), KeyringError, (e) => {
    assert.equal(e.reason, "tooManyKeys");
  });
  await rejectsWith(Keyring.create([...keys, key(200, 16)]), KeyringError, (e) => {
    assert.equal(e.reason, "tooManyKeys");
  });
});

Deno.test("Keyring errors and key listings never contain the key bytes", async () => {
  const secret = key(0xab);
  const b64 = secret.toBase64();
  const hex = secret.toHex();
  const ring = await Keyring.create([secret, key(1)]);
  const texts: string[] = [JSON.stringify(ring.keys())];
  await ring.remove(secret).catch((e: Error) => texts.push(e.message));
  const other = await Keyring.create([key(2)]);
  await other.remove(secret).catch((e: Error) => texts.push(e.message));
  await other.decrypt(await ring.encrypt(plaintext(4))).catch((e: Error) => texts.push(e.message));
  assert.equal(texts.length, 4);
  for (const t of texts) {
    assert.ok(!t.includes(b64) && !t.includes(hex) && !t.includes("171,171"), t);
  }
});

Deno.test("Keyring state changes are atomic: a decrypt in flight keeps its key list", async () => {
  const k1 = key(1);
  const ring = await Keyring.create([k1, key(2)]);
  const sealed = await (await Keyring.create([k1])).encrypt(plaintext(9));
  // Start a decrypt, then switch the primary and remove k1 before it finishes.
  const pending = ring.decrypt(sealed);
  await ring.usePrimary(key(2));
  await ring.remove(k1);
  assert.deepEqual(await pending, plaintext(9));
  await rejectsWith(ring.decrypt(sealed), DecryptError, (e) => assert.equal(e.reason, "noKey"));
});

// ---------------------------------------------------------------- keyring file

const K16 = key(1, 16).toBase64();
const K24 = key(2, 24).toBase64();
const K32 = key(3, 32).toBase64();

function badFile(text: string, pattern: RegExp): void {
  assert.throws(() => parseKeyringFile(text, "ring.json"), (e: unknown) => {
    assert.ok(e instanceof KeyringError, String(e));
    assert.equal(e.reason, "badFile");
    assert.match(e.message, /^keyring: ring\.json: /);
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("parseKeyringFile() reads the primary and every key, primary first", () => {
  const spec = parseKeyringFile(JSON.stringify({ primary: K24, keys: [K16, K24, K32] }));
  assert.deepEqual(spec.primary, key(2, 24));
  assert.deepEqual(spec.keys, [key(2, 24), key(1, 16), key(3, 32)]);
});

Deno.test("parseKeyringFile() rejects text that is not a JSON object", () => {
  badFile("{primary:", /is not valid JSON/);
  badFile("[]", /must be a JSON object .* got an array/);
  badFile("null", /got null/);
});

Deno.test("parseKeyringFile() rejects missing and unknown fields", () => {
  badFile(JSON.stringify({ keys: [K16] }), /"primary" is missing/);
  badFile(JSON.stringify({ primary: K16 }), /"keys" is missing/);
  badFile(
    JSON.stringify({ primary: K16, keys: [K16], primay: K16 }),
    /unknown field "primay"; only "primary" and "keys" are allowed/,
  );
  badFile(JSON.stringify({ primary: K16, keys: K16 }), /"keys" must be an array .* got string/);
  badFile(JSON.stringify({ primary: K16, keys: [] }), /"keys" is empty/);
});

Deno.test("parseKeyringFile() rejects bad base64 and wrong key lengths", () => {
  badFile(JSON.stringify({ primary: "not base64!", keys: [K16] }), /"primary" is not valid/);
  badFile(JSON.stringify({ primary: K16, keys: [K16, "AAA"] }), /"keys"\[1\] is not valid/);
  badFile(JSON.stringify({ primary: 42, keys: [K16] }), /"primary" must be a base64 string/);
  badFile(
    JSON.stringify({ primary: K16, keys: [K16, new Uint8Array(20).toBase64()] }),
    /"keys"\[1\] decodes to 20 bytes; a key must be 16, 24 or 32 bytes/,
  );
});

Deno.test("parseKeyringFile() rejects a primary missing from keys and duplicate keys", () => {
  badFile(JSON.stringify({ primary: K32, keys: [K16, K24] }), /"primary" is not among "keys"/);
  badFile(
    JSON.stringify({ primary: K16, keys: [K16, K24, K16] }),
    /"keys"\[2\] is the same key as "keys"\[0\]/,
  );
  const many = Array.from({ length: MAX_KEYS + 1 }, (_, i) => key(i + 1, 16).toBase64());
  badFile(JSON.stringify({ primary: many[0], keys: many }), /17 entries, at most 16/);
});

Deno.test("parseKeyringFile() error messages never contain the keys", () => {
  const secret = key(0x5a, 32).toBase64();
  assert.throws(
    () => parseKeyringFile(JSON.stringify({ primary: secret, keys: [K16] })),
    (e: unknown) => !(e as Error).message.includes(secret),
  );
});

Deno.test("loadKeyringFile() loads a file into a working keyring", async () => {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(path, JSON.stringify({ primary: K32, keys: [K16, K32] }));
    const ring = await loadKeyringFile(path);
    assert.deepEqual(ring.keys().map((k) => [k.bits, k.primary]), [[256, true], [128, false]]);
    const fromK16 = await Keyring.create([key(1, 16)]);
    assert.deepEqual(await ring.decrypt(await fromK16.encrypt(plaintext(3))), plaintext(3));
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("loadKeyringFile() names the file in its errors and refuses oversize files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await rejectsWith(loadKeyringFile(`${dir}/missing.json`), KeyringError, (e) => {
      assert.equal(e.reason, "badFile");
      assert.match(e.message, /missing\.json: cannot be read/);
    });
    const big = `${dir}/big.json`;
    await Deno.writeTextFile(big, " ".repeat(MAX_KEYRING_FILE_SIZE + 1));
    await rejectsWith(loadKeyringFile(big), KeyringError, (e) => {
      assert.match(e.message, /big\.json: is 65537 bytes; a keyring file is at most 65536/);
    });
    await rejectsWith(loadKeyringFile(dir), KeyringError, (e) => {
      assert.match(e.message, /is not a regular file/);
    });
    const bad = `${dir}/bad.json`;
    await Deno.writeTextFile(bad, JSON.stringify({ primary: K16, keys: [K24] }));
    await rejectsWith(loadKeyringFile(bad), KeyringError, (e) => {
      assert.match(e.message, /bad\.json: "primary" is not among "keys"/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
