/**
 * The demo's terminal style (tools/demo.ts and its overlay phases in tools/_demo_overlay.ts):
 * colours on a terminal unless NO_COLOR is set, and every line stamped with the seconds since
 * the demo started.
 *
 * @module
 */

const tty = Deno.stdout.isTerminal() && !Deno.env.get("NO_COLOR");
const paint = (code: number) => (s: string): string => tty ? `\x1b[${code}m${s}\x1b[0m` : s;
/** Faint text (timestamps, details). */
export const dim: (s: string) => string = paint(2);
/** Bold text (phase headings). */
export const bold: (s: string) => string = paint(1);
/** Green (joins, success). */
export const green: (s: string) => string = paint(32);
/** Red (leaves, failures). */
export const red: (s: string) => string = paint(31);
/** Yellow (updates, warnings). */
export const yellow: (s: string) => string = paint(33);
/** Cyan (the Rust chitchat node, WireGuard). */
export const cyan: (s: string) => string = paint(36);

const t0 = performance.now();
/** Milliseconds since the demo started. */
export const elapsedMs = (): number => performance.now() - t0;
const clock = () => dim(`[${(elapsedMs() / 1000).toFixed(2).padStart(6)}s]`);
/** Prints one line stamped with the time since start. */
export const say = (s: string): void => console.log(`${clock()} ${s}`);
