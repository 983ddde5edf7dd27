// How a hostile or malformed datagram is refused, for the codec tests that feed them.
import assert from "node:assert/strict";
import { DecodeError, type DecodeErrorReason } from "../common/errors.ts";
import { decodeMessage } from "./message.ts";

/** `"ok"` when `bytes` decode, else the DecodeError's reason; any other throw fails the test, and
 * so does a message too short to explain the refusal. */
export function reasonOf(bytes: Uint8Array): DecodeErrorReason | "ok" {
  try {
    decodeMessage(bytes);
    return "ok";
  } catch (e) {
    if (!(e instanceof DecodeError)) throw new Error(`non-DecodeError thrown: ${e}`);
    assert.ok(e.message.length > 40, `a reason with an explanation: ${e.message}`);
    return e.reason;
  }
}
