/**
 * Errors of the WireGuard reconciler.
 *
 * @module
 */
import { HearsayError } from "../common/errors.ts";

/** A WireGuard key is not 32 bytes of base64 (standard, or base64url without padding).
 *
 * @example
 * ```ts
 * import { parseWgKey, WgKeyError } from "./mod.ts";
 * try {
 *   parseWgKey("short");
 * } catch (e) {
 *   console.log(e instanceof WgKeyError, (e as Error).message);
 * }
 * ```
 */
export class WgKeyError extends HearsayError {}

/** A `wg` invocation failed or printed something that is not `wg show <if> dump` output.
 * `args` is the argv given to `wg` (private keys never appear in it: they go by file).
 *
 * @example
 * ```ts
 * import { WgCommandError } from "./mod.ts";
 * const e = new WgCommandError(["show", "wg0", "dump"], 1, "Unable to access interface");
 * console.log(e.message);
 * // wg show wg0 dump failed (exit 1): Unable to access interface
 * ```
 */
export class WgCommandError extends HearsayError {
  /** The argv given to `wg`, without the program name. */
  readonly args: readonly string[];
  /** The exit code, or -1 when `wg` could not be started or its output was not understood. */
  readonly code: number;
  /** Creates the error; `detail` is wg's stderr or what was wrong with its output. */
  constructor(args: readonly string[], code: number, detail: string) {
    const shown = args.length > 8 ? [...args.slice(0, 8), `... (${args.length} args)`] : args;
    super(
      `wg ${shown.join(" ")} ${code === -1 ? "failed" : `failed (exit ${code})`}: ${
        detail.trim() || "no message"
      }`,
    );
    this.args = args;
    this.code = code;
  }
}
