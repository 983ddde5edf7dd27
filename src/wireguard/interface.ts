/**
 * Preparing a WireGuard interface for the reconciler: setting its private key from a file
 * (created when missing) and reading its public key and listen port.
 *
 * @module
 */
import { parseWgDump } from "./dump.ts";
import { ensureWgPrivateKeyFile } from "./key.ts";
import { CommandWgRunner, runWg, type WgRunner } from "./runner.ts";
import { WgCommandError } from "./errors.ts";

/** What {@link prepareWgInterface} found.
 *
 * @example
 * ```ts
 * import { prepareWgInterface, type WgInterfaceInfo, type WgRunner } from "./mod.ts";
 * const pub = new Uint8Array(32).fill(1).toBase64();
 * const runner: WgRunner = {
 *   run: () => Promise.resolve({ code: 0, stderr: "", stdout: `(hidden)\t${pub}\t51821\toff\n` }),
 * };
 * const info: WgInterfaceInfo = await prepareWgInterface("wg0", { runner });
 * console.log(info.publicKey === pub, info.listenPort); // true 51821
 * ```
 */
export interface WgInterfaceInfo {
  /** The interface's public key, standard base64. */
  readonly publicKey: string;
  /** Its UDP listen port. */
  readonly listenPort: number;
}

/** Options of {@link prepareWgInterface}.
 *
 * @example
 * ```ts
 * import { prepareWgInterface, type PrepareWgInterfaceOptions, wgPublicKey } from "./mod.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.remove(path); // prepareWgInterface creates it with a fresh key
 * let pub = "(none)";
 * const calls: string[] = [];
 * const options: PrepareWgInterfaceOptions = {
 *   privateKeyFile: path,
 *   runner: { // a fake wg that takes the key file given to `set` and reports its public key
 *     async run(args) {
 *       calls.push(args.slice(0, 3).join(" "));
 *       if (args[0] === "set") pub = await wgPublicKey((await Deno.readTextFile(args[3]!)).trim());
 *       const stdout = args[0] === "show" ? `(hidden)\t${pub}\t51820\toff\n` : "";
 *       return { code: 0, stdout, stderr: "" };
 *     },
 *   },
 * };
 * const info = await prepareWgInterface("wg0", options);
 * console.log(calls, info.publicKey === pub); // ["set wg0 private-key", "show wg0 dump"] true
 * await Deno.remove(path);
 * ```
 */
export interface PrepareWgInterfaceOptions {
  /** How to run `wg`; default the real one. */
  runner?: WgRunner;
  /** Set the interface's private key from this file (created with a fresh key, mode 0600,
   * when missing). The key goes to `wg` by file name, never on the command line. */
  privateKeyFile?: string;
}

/** Reads an interface's public key and listen port, after setting its private key from
 * `privateKeyFile` when given. Throws a `WgCommandError` when the interface cannot be read or
 * has no private key (and none was given).
 *
 * @example
 * ```ts
 * import { prepareWgInterface, type WgRunner } from "./mod.ts";
 * const pub = new Uint8Array(32).fill(1).toBase64();
 * const runner: WgRunner = {
 *   run: (args) => Promise.resolve({ code: 0, stderr: "",
 *     stdout: args[0] === "show" ? `(hidden)\t${pub}\t51820\toff\n` : "" }),
 * };
 * console.log(await prepareWgInterface("wg0", { runner })); // { publicKey: "AQEB...", listenPort: 51820 }
 * ```
 */
export async function prepareWgInterface(
  iface: string,
  options: PrepareWgInterfaceOptions = {},
): Promise<WgInterfaceInfo> {
  const runner = options.runner ?? new CommandWgRunner();
  let expected: string | undefined;
  if (options.privateKeyFile !== undefined) {
    expected = (await ensureWgPrivateKeyFile(options.privateKeyFile)).publicKey;
    await runWg(runner, ["set", iface, "private-key", options.privateKeyFile]);
  }
  const args = ["show", iface, "dump"];
  const state = parseWgDump(await runWg(runner, args));
  if (state.publicKey === undefined) {
    throw new WgCommandError(
      args,
      -1,
      `interface ${iface} has no private key: set one (wg set ${iface} private-key FILE) ` +
        `or give a private key file`,
    );
  }
  if (expected !== undefined && state.publicKey !== expected) {
    throw new WgCommandError(
      args,
      -1,
      `interface ${iface} reports public key ${state.publicKey} after setting the key from ` +
        `${options.privateKeyFile}, whose public key is ${expected}`,
    );
  }
  return { publicKey: state.publicKey, listenPort: state.listenPort };
}
