/**
 * Reads a byte stream as UTF-8 text, line by line (used by the demo, the UDP benchmark and the
 * tests that drive worker processes, the pool members of src/cli/worker.ts).
 *
 * @module
 */

/** Calls `onLine` for every complete line (without its newline) until the stream ends; a last
 * line without a newline is not reported.
 *
 * @example
 * ```ts
 * import { readLines } from "./lines.ts";
 * const seen: string[] = [];
 * const chunks = ["a\nb", "c\n", "tail"].map((t) => new TextEncoder().encode(t));
 * await readLines(ReadableStream.from(chunks), (l) => seen.push(l));
 * console.log(seen); // [ "a", "bc" ]
 * ```
 */
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
