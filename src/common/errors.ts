/**
 * Typed errors. Every error hearsay throws on purpose is a {@link HearsayError}.
 *
 * @module
 */

/** Base class of every error hearsay throws on purpose.
 *
 * @example
 * ```ts
 * import { HearsayError } from "./errors.ts";
 * try {
 *   throw new HearsayError("boom");
 * } catch (e) {
 *   console.log(e instanceof HearsayError);
 * }
 * ```
 */
export class HearsayError extends Error {
  /** Creates an error with a message. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Why a datagram failed to decode. Used as the drop-counter label.
 *
 * @example
 * ```ts
 * import type { DecodeErrorReason } from "./errors.ts";
 * const r: DecodeErrorReason = "badMagic";
 * console.log(r);
 * ```
 */
export type DecodeErrorReason =
  | "tooShort"
  | "tooLarge"
  | "badMagic"
  | "badVersion"
  | "badType"
  | "truncated"
  | "invalidUtf8"
  | "badIpTag"
  | "badStatus"
  | "badBlock"
  | "decompression"
  | "badOp"
  | "deltaRule";

/** A datagram (or part of one) does not decode as chitchat 0.10. Names the reason and the
 * byte offset where decoding stopped.
 *
 * @example
 * ```ts
 * import { DecodeError } from "./errors.ts";
 * const e = new DecodeError("truncated", 12, "digest entry");
 * console.log(e.reason, e.offset, e.message);
 * ```
 */
export class DecodeError extends HearsayError {
  /** Machine-readable reason. */
  readonly reason: DecodeErrorReason;
  /** Offset in the datagram (or in the delta op stream, see the message) where it failed. */
  readonly offset: number;
  /** Creates a decode error. `detail` says what was being read and what was expected. */
  constructor(reason: DecodeErrorReason, offset: number, detail: string) {
    super(`cannot decode chitchat message: ${reason} at offset ${offset}: ${detail}`);
    this.reason = reason;
    this.offset = offset;
  }
}

/** A value cannot be encoded (string too long, key that crashes Rust receivers, ...).
 *
 * @example
 * ```ts
 * import { EncodeError } from "./errors.ts";
 * console.log(new EncodeError("key must not start with a multi-byte character").message);
 * ```
 */
export class EncodeError extends HearsayError {}

/** A configuration or argument is invalid. `field` names the offending option.
 *
 * @example
 * ```ts
 * import { ConfigError } from "./errors.ts";
 * const e = new ConfigError("gossipIntervalMs", "must be a positive number, got -1");
 * console.log(e.field, e.message);
 * ```
 */
export class ConfigError extends HearsayError {
  /** The option that is wrong. */
  readonly field: string;
  /** Creates a config error for `field`. */
  constructor(field: string, problem: string) {
    super(`invalid config: ${field} ${problem}`);
    this.field = field;
  }
}

/** One or more timer callbacks threw while a `VirtualClock` was advancing. The clock still ran
 * every other due timer and reached its target time; `errors` holds what was thrown, in order,
 * and `cause` is the first of them.
 *
 * @example
 * ```ts
 * import { TimerCallbackError } from "./errors.ts";
 * const e = new TimerCallbackError([new Error("boom")]);
 * console.log(e.errors.length, e.message);
 * ```
 */
export class TimerCallbackError extends HearsayError {
  /** Everything the callbacks threw, in the order they threw it. */
  readonly errors: readonly unknown[];
  /** Creates the error from the collected exceptions (at least one). */
  constructor(errors: readonly unknown[]) {
    const first = errors[0];
    const text = first instanceof Error ? `${first.name}: ${first.message}` : String(first);
    super(
      `${errors.length} timer callback(s) threw while the virtual clock advanced; first: ${text}`,
      { cause: first },
    );
    this.errors = errors;
  }
}

/** A transport cannot bind its address because something else holds it.
 *
 * @example
 * ```ts
 * import { AddressInUseError } from "./errors.ts";
 * const e = new AddressInUseError("127.0.0.1:7946");
 * console.log(e.address, e.message);
 * ```
 */
export class AddressInUseError extends HearsayError {
  /** The address that was asked for, as text (`ip:port` or `[v6]:port`). */
  readonly address: string;
  /** Creates the error for `address`. */
  constructor(address: string, options?: ErrorOptions) {
    super(
      `cannot bind ${address}: address already in use; choose another port or use port 0`,
      options,
    );
    this.address = address;
  }
}

/** The JavaScript runtime lacks something hearsay needs (zstd in node:zlib: Node 22.15 or later,
 * Deno 2, Bun 1.2.17 or later). Thrown when the codec loads, naming the runtime and the version
 * needed.
 *
 * @example
 * ```ts
 * import { HearsayError, UnsupportedRuntimeError } from "./errors.ts";
 * const e = new UnsupportedRuntimeError("hearsay needs Node 22.15 or later (this is Node 20.19.0)");
 * console.log(e instanceof HearsayError, e.name); // true UnsupportedRuntimeError
 * ```
 */
export class UnsupportedRuntimeError extends HearsayError {}
