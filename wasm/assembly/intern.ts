// Interning of decoded ChitchatIds. The decoder sees the same few ids over and over (every
// digest names every node), so the host keeps one object per distinct id encoding and this
// table maps the encoding (u16 node-id length, node id, u64 generation, IP tag, IP, u16 port:
// the exact wire bytes) to its index. A known id then costs a hash and a compare instead of
// string decoding and allocation on the host.
//
// Entries are 16 bytes: arena offset, length, hash, and the entry that followed this one in the
// last batch (a guess for the next batch).
//
// Bounded: at most ENTRIES ids of at most MAX_ID_BYTES each. When a batch would overflow, the
// table stops interning for the rest of that batch and starts empty at the next batch
// (`internBatch` returns 1 then, and the host drops its objects too). Hostile input can only
// make it clear more often.

const ENTRIES: u32 = 16384;
const SLOTS: u32 = 32768; // power of two, twice ENTRIES
const ARENA: u32 = 1 << 20;
const MAX_ID_BYTES: u32 = 160;
/** Index written for an id that is not interned. */
const NONE: u32 = 0xffffffff;

/** Bytes the host must reserve (64-byte aligned) for {@link internSetup}. */
export function internRegionBytes(): u32 {
  return SLOTS * 4 + ENTRIES * 16 + ARENA;
}

let slots: usize = 0;
let entries: usize = 0;
let arena: usize = 0;
let count: u32 = 0;
let used: u32 = 0;
let full = false;
/** The entry that started the last batch (the first guess of the next one). */
let first: u32 = NONE;

/** Takes the region at `at` (internRegionBytes() long) and empties the table. */
export function internSetup(at: usize): void {
  slots = at;
  entries = at + <usize>SLOTS * 4;
  arena = entries + <usize>ENTRIES * 16;
  clear();
}

function clear(): void {
  memory.fill(slots, 0, <usize>SLOTS * 4);
  count = 0;
  used = 0;
  full = false;
  first = NONE;
}

/** Number of ids in the table. */
export function internCount(): u32 {
  return count;
}

@inline function mix(h: u64, v: u64): u64 {
  h = (h ^ v) * 0x9e3779b97f4a7c15;
  return h ^ (h >> 29);
}

function hashBytes(p: usize, n: u32): u32 {
  let h: u64 = <u64>n * 0xff51afd7ed558ccd;
  let i: u32 = 0;
  for (; i + 8 <= n; i += 8) h = mix(h, load<u64>(p + <usize>i));
  let tail: u64 = 0;
  for (let k: u32 = 0; i < n; i++, k += 8) tail |= <u64>load<u8>(p + <usize>i) << k;
  h = mix(h, tail);
  return <u32>(h ^ (h >> 32));
}

/** Whether the `n` bytes at `a` and `b` are equal. */
function sameBytes(a: usize, b: usize, n: u32): bool {
  let i: u32 = 0;
  for (; i + 8 <= n; i += 8) {
    if (load<u64>(a + <usize>i) != load<u64>(b + <usize>i)) return false;
  }
  for (; i < n; i++) {
    if (load<u8>(a + <usize>i) != load<u8>(b + <usize>i)) return false;
  }
  return true;
}

/** Whether entry `idx` holds the `n` bytes at `p`. */
@inline function holds(idx: u32, p: usize, n: u32): bool {
  const e = entries + (<usize>idx << 4);
  return load<u32>(e, 4) == n && sameBytes(arena + <usize>load<u32>(e), p, n);
}

/** The index of the id encoded in `n` bytes at `p`, inserting it when new; NONE when it is too
 * long or the table is full. */
function lookup(p: usize, n: u32): u32 {
  if (n > MAX_ID_BYTES) return NONE;
  const h = hashBytes(p, n);
  const mask = SLOTS - 1;
  let s = h & mask;
  while (true) {
    const v = load<u32>(slots + (<usize>s << 2));
    if (v == 0) break;
    if (load<u32>(entries + (<usize>(v - 1) << 4), 8) == h && holds(v - 1, p, n)) return v - 1;
    s = (s + 1) & mask;
  }
  if (count == ENTRIES || used + n > ARENA) {
    full = true;
    return NONE;
  }
  const idx = count++;
  const e = entries + (<usize>idx << 4);
  store<u32>(e, used);
  store<u32>(e, n, 4);
  store<u32>(e, h, 8);
  store<u32>(e, NONE, 12);
  memory.copy(arena + <usize>used, p, <usize>n);
  used += n;
  store<u32>(slots + (<usize>s << 2), idx + 1);
  return idx;
}

/** Writes the intern index (or NONE) at +60 of every id record (kind 0 or 3) among the `n`
 * 64-byte decode records at `rec`. Returns 1 when the table was emptied first (every index
 * handed out before is void), else 0. */
export function internBatch(rec: usize, n: i32): i32 {
  let cleared = 0;
  if (full) {
    clear();
    cleared = 1;
  }
  // Digests list the same ids in the same (sorted) order time after time, so each entry
  // remembers which entry followed it last time (+12), and that is the first guess: in a steady
  // cluster a whole digest is matched without hashing.
  let prev: u32 = NONE;
  for (let i = 0; i < n; i++) {
    const r = rec + (<usize>i << 6);
    const kind = load<u32>(r);
    if (kind != 0 && kind != 3) continue;
    const idLen = 2 + load<u32>(r, 8) + 8 + 1 + (load<u32>(r, 12) == 4 ? 4 : 16) + 2;
    const p = <usize>load<u32>(r, 4) - 2;
    const guess = prev == NONE ? first : load<u32>(entries + (<usize>prev << 4), 12);
    const idx = guess < count && holds(guess, p, idLen) ? guess : lookup(p, idLen);
    store<u32>(r, idx, 60);
    if (idx != NONE) {
      if (prev == NONE) first = idx;
      else if (guess != idx) store<u32>(entries + (<usize>prev << 4), idx, 12);
    }
    prev = idx;
  }
  return cleared;
}
