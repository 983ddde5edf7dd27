// The WireGuard mode's host side of the built package on whatever runtime runs this file, for
// tests/runtimes_test.ts (no root, no wg needed): CommandWgRunner runs programs with an argv
// (never a shell), reports exit codes and stderr, and rejects a program that cannot start; the
// private key file is created once (mode 0600) and read back; the state file is written
// atomically (mode 0600, no temporary file left) and read back. argv: package folder, a scratch
// folder. Prints one JSON line of results.
import process from "node:process";
import { readdir, readFile, stat, writeFile } from "node:fs/promises";

const [pkg, dir] = process.argv.slice(2);
const { CommandWgRunner, ensureWgPrivateKeyFile, WgCommandError } = await import(
  `${pkg}/src/wireguard/mod.js`
);
const { readWgStateFile, writeWgStateFile } = await import(`${pkg}/src/wireguard/_state_file.js`);

const out = {};
// No shell: "$HOME;x" and the space reach printf as they are.
out.printf = await new CommandWgRunner({ command: "printf" }).run(["%s|%s\n", "a b", "$HOME;x"]);
out.failing = await new CommandWgRunner({ command: "sh" }).run(["-c", "echo bad >&2; exit 3"]);
try {
  await new CommandWgRunner({ command: `${dir}/no-such-wg` }).run(["show"]);
  out.missing = "resolved";
} catch (e) {
  out.missing = {
    wgError: e instanceof WgCommandError,
    code: e.code,
    cannotRun: e.message.includes("cannot run"),
  };
}

const keyFile = `${dir}/wg.key`;
const created = await ensureWgPrivateKeyFile(keyFile);
const again = await ensureWgPrivateKeyFile(keyFile);
out.keyFile = {
  sameKey: created.publicKey === again.publicKey && created.privateKey === again.privateKey,
  mode: (await stat(keyFile)).mode & 0o777,
  text: (await readFile(keyFile, "utf8")) === created.privateKey + "\n",
};
await writeFile(`${dir}/bad.key`, "not a key\n");
try {
  await ensureWgPrivateKeyFile(`${dir}/bad.key`);
  out.badKey = "resolved";
} catch (e) {
  out.badKey = /bad\.key.*invalid/.test(e.message);
}

const stateFile = `${dir}/state/wg0.peers.json`;
out.stateMissing = [...await readWgStateFile(stateFile, "wg0")];
await writeWgStateFile(stateFile, "wg0", [created.publicKey, "A".repeat(43) + "="]);
out.state = {
  read: [...await readWgStateFile(stateFile, "wg0")].sort(),
  text: await readFile(stateFile, "utf8"),
  mode: (await stat(stateFile)).mode & 0o777,
  files: await readdir(`${dir}/state`),
};
try {
  await readWgStateFile(stateFile, "wg1");
  out.otherInterface = "resolved";
} catch (e) {
  out.otherInterface = e.message.includes("not wg1");
}
out.publicKey = created.publicKey;
console.log(JSON.stringify(out));
