import assert from "node:assert/strict";
import {
  ensureWgPrivateKeyFile,
  generateWgKeyPair,
  isWgKey,
  parseWgKey,
  WgKeyError,
  wgPublicKey,
} from "./mod.ts";

Deno.test("parseWgKey: standard base64 kept, base64url and unpadded converted", () => {
  const bytes = new Uint8Array(32).map((_, i) => i * 8 + 251);
  const std = bytes.toBase64();
  assert.ok(/[+/]/.test(std), std);
  assert.equal(parseWgKey(std), std);
  assert.equal(parseWgKey(std.slice(0, 43)), std);
  assert.equal(parseWgKey(bytes.toBase64({ alphabet: "base64url", omitPadding: true })), std);
});

Deno.test("parseWgKey: refuses wrong lengths, alphabets and trailing bits", () => {
  const good = new Uint8Array(32).fill(1).toBase64();
  for (
    const bad of [
      "",
      "k",
      good.slice(0, 40),
      good + "AAAA",
      new Uint8Array(31).toBase64(),
      new Uint8Array(33).toBase64(),
      good.slice(0, 42) + "B=", // last char has bits a 32-byte key cannot have
      good.slice(0, 10) + "-" + good.slice(11, 43) + "=", // url char with padding
      good.slice(0, 10) + "+" + good.slice(11, 22) + "_" + good.slice(23, 43), // mixed alphabets
      " " + good,
    ]
  ) {
    assert.throws(() => parseWgKey(bad), WgKeyError, JSON.stringify(bad));
    assert.equal(isWgKey(bad), false);
  }
  assert.throws(() => parseWgKey("x"), /expected 32 bytes as standard base64/);
});

Deno.test("wgPublicKey: RFC 7748 vector and generated pairs agree", async () => {
  const priv = Uint8Array.fromHex(
    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
  ).toBase64();
  const pub = Uint8Array.fromHex(
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
  ).toBase64();
  assert.equal(await wgPublicKey(priv), pub);
  const pair = await generateWgKeyPair();
  assert.equal(await wgPublicKey(pair.privateKey), pair.publicKey);
  assert.notEqual(pair.privateKey, (await generateWgKeyPair()).privateKey);
});

Deno.test("wgPublicKey: matches `wg pubkey` when wg is installed", async () => {
  const pair = await generateWgKeyPair();
  let out: Deno.CommandOutput;
  try {
    const child = new Deno.Command("wg", { args: ["pubkey"], stdin: "piped", stdout: "piped" })
      .spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(pair.privateKey + "\n"));
    await w.close();
    out = await child.output();
  } catch {
    console.log("key_test: wg not installed, `wg pubkey` comparison SKIPPED");
    return;
  }
  assert.equal(new TextDecoder().decode(out.stdout).trim(), pair.publicKey);
});

Deno.test("ensureWgPrivateKeyFile: creates 0600, reads back, refuses garbage", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/wg.key`;
    const a = await ensureWgPrivateKeyFile(path);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.equal((await Deno.readTextFile(path)).trim(), a.privateKey);
    assert.deepEqual(await ensureWgPrivateKeyFile(path), a);
    await Deno.writeTextFile(`${dir}/bad.key`, "not a key\n");
    await assert.rejects(() => ensureWgPrivateKeyFile(`${dir}/bad.key`), /bad\.key.*invalid/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
