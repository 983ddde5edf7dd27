/**
 * Reads a byte stream as UTF-8 text, line by line (used by the demo and the tests that drive
 * worker processes).
 *
 * @example
 * ```ts
 * import { readLines } from "./lines.ts";
 * const seen: string[] = [];
 * await readLines(ReadableStream.from([new TextEncoder().encode("a\nb\n")]), (l) => seen.push(l));
 * console.log(seen); // ["a", "b"]
 * ```
 *
 * @module
 */

/** Calls `onLine` for every complete line (without its newline) until the stream ends. */
export async function readLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      onLine(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
    }
  }
}
