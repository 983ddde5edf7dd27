/**
 * Seedable pseudo-random numbers. Simulations pass a seed so that every run makes the same
 * choices; real nodes use {@link defaultRandom}, seeded from WebCrypto.
 *
 * The generator is xoshiro128** (32-bit state words, period 2^128 - 1), with its 128-bit state
 * filled from the seed by SplitMix64. It is fast and statistically good, and it is NOT a
 * cryptographic generator.
 *
 * @module
 */
import { ConfigError } from "./errors.ts";

/** A source of pseudo-random numbers.
 *
 * @example
 * ```ts
 * import { createRandom, type Random } from "./random.ts";
 * const r: Random = createRandom(42);
 * console.log(r.next() < 1, r.int(6) < 6, r.shuffle([1, 2, 3]).length);
 * ```
 */
export interface Random {
  /** A number in [0, 1) with 53 random bits. */
  next(): number;
  /** An integer in [0, n), uniform (no modulo bias). `n` must be an integer in 1..2^53;
   * anything else throws a {@link ConfigError}. */
  int(n: number): number;
  /** Shuffles `a` in place (Fisher-Yates, every order equally likely) and returns it. */
  shuffle<T>(a: T[]): T[];
}

const MASK64 = (1n << 64n) - 1n;
const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;

/** SplitMix64 step: returns [new state, output]. Used only to expand the seed. */
function splitmix64(state: bigint): [bigint, bigint] {
  const s = (state + 0x9e3779b97f4a7c15n) & MASK64;
  let z = s;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return [s, z ^ (z >> 31n)];
}

/** Maps any number or bigint seed to 64 bits. Integers map to themselves (mod 2^64, two's
 * complement for negatives); other numbers (fractions, NaN, infinities) map to their IEEE-754
 * bits, so distinct seeds stay distinct. */
function seedBits(seed: number | bigint): bigint {
  if (typeof seed === "bigint") return seed & MASK64;
  if (Number.isSafeInteger(seed)) return BigInt(seed) & MASK64;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, seed);
  return view.getBigUint64(0);
}

class Xoshiro128ss implements Random {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;

  constructor(words: readonly [number, number, number, number]) {
    [this.#s0, this.#s1, this.#s2, this.#s3] = words;
    // The all-zero state is the one fixed point of the generator; never start there.
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1;
  }

  /** The next 32-bit output, as an unsigned integer. */
  u32(): number {
    const s0 = this.#s0;
    const s1 = this.#s1;
    const s2 = this.#s2 ^ s0;
    const s3 = this.#s3 ^ s1;
    const m = Math.imul(s1, 5);
    const result = Math.imul((m << 7) | (m >>> 25), 9) >>> 0;
    this.#s0 = s0 ^ s3;
    this.#s1 = s1 ^ s2;
    this.#s2 = s2 ^ (s1 << 9);
    this.#s3 = (s3 << 11) | (s3 >>> 21);
    return result;
  }

  next(): number {
    // 27 high bits of one output and 26 of the next make a 53-bit fraction.
    const hi = this.u32() >>> 5;
    const lo = this.u32() >>> 6;
    return (hi * 67108864 + lo) / TWO_POW_53;
  }

  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_53) {
      throw new ConfigError(
        "Random.int(n)",
        `needs an integer n with 1 <= n <= 2^53, got ${n}`,
      );
    }
    if (n <= TWO_POW_32) {
      // Rejection sampling: accept only outputs below the largest multiple of n.
      const limit = TWO_POW_32 - (TWO_POW_32 % n);
      for (;;) {
        const x = this.u32();
        if (x < limit) return x % n;
      }
    }
    // Large ranges: 53-bit rejection sampling over next().
    const limit = TWO_POW_53 - (TWO_POW_53 % n);
    for (;;) {
      const x = this.next() * TWO_POW_53;
      if (x < limit) return x % n;
    }
  }

  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = a[i] as T;
      a[i] = a[j] as T;
      a[j] = tmp;
    }
    return a;
  }
}

/** Creates a deterministic generator: the same seed always gives the same sequence, on every
 * platform. Any number (including fractions and negatives) or bigint is a valid seed; bigints are
 * taken modulo 2^64.
 *
 * @example
 * ```ts
 * import { createRandom } from "./random.ts";
 * const a = createRandom(7);
 * const b = createRandom(7n);
 * console.log(a.next() === b.next()); // true
 * ```
 */
export function createRandom(seed: number | bigint): Random {
  let state = seedBits(seed);
  const words: number[] = [];
  for (let i = 0; i < 2; i++) {
    const [next, out] = splitmix64(state);
    state = next;
    words.push(Number(out >> 32n), Number(out & 0xffffffffn));
  }
  return new Xoshiro128ss(words as [number, number, number, number]);
}

/** Creates a generator seeded with 128 bits from `crypto.getRandomValues` (different in every
 * call). Used by real nodes for peer selection.
 *
 * @example
 * ```ts
 * import { defaultRandom } from "./random.ts";
 * const r = defaultRandom();
 * console.log(r.int(10) < 10);
 * ```
 */
export function defaultRandom(): Random {
  const words = crypto.getRandomValues(new Uint32Array(4));
  return new Xoshiro128ss([words[0] ?? 0, words[1] ?? 0, words[2] ?? 0, words[3] ?? 1]);
}
