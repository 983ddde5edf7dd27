/**
 * UTF-8 byte counts of JavaScript strings, without encoding them: the state layer's size limits
 * and the codec's exact encoded lengths both need them, and neither should load the other.
 *
 * @module
 */

/** Number of UTF-8 bytes of `text` (lone surrogates count as U+FFFD, 3 bytes, as encoders write).
 *
 * @example
 * ```ts
 * import { utf8Length } from "./_utf8.ts";
 * console.log(utf8Length("héllo"), new TextEncoder().encode("héllo").length); // 6 6
 * ```
 */
export function utf8Length(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      n += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 2; // 4 bytes for 2 code units
        i++;
      } else {
        n += 2;
      }
    } else {
      n += 2;
    }
  }
  return n;
}
