/**
 * The id records shared by every cluster state of a process: one ChitchatId object, key string,
 * encoded size and hash per node id, and the hash → key table that compact heartbeat entries
 * (PROTOCOL.md §16, format 2) are resolved with. Internal to the state layer.
 *
 * @module
 */
import { chitchatIdKey } from "../common/chitchat_id.ts";
import { chitchatIdEncodedLength, chitchatIdHash } from "../codec/wire.ts";
import type { ChitchatId } from "../common/types.ts";

/** An id, its key, its encoded size and its hash, shared. */
export interface Interned {
  readonly id: ChitchatId;
  readonly key: string;
  readonly idBytes: number;
  readonly hash: number;
}

/** One shared ChitchatId object and one shared key string per node among the clusters of this
 * process (several nodes in one process, as in simulations and tests, then share the codec's
 * per-object caches, and every per-node map of every node is keyed by the same string). Bounded:
 * cleared when full, which only costs cache hits. */
const internedIds = new Map<string, Interned>();
const MAX_INTERNED_IDS = 1 << 16;

/** The shared object and key for `id` (whose key is `key`), registering them when there are
 * none. An object with a different IP spelling is not shared, so every id keeps its own text. */
export function intern(key: string, id: ChitchatId): Interned {
  const hit = internedIds.get(key);
  if (hit !== undefined) {
    return hit.id.gossipAdvertiseAddr.ip === id.gossipAdvertiseAddr.ip
      ? hit
      : { id, key: hit.key, idBytes: hit.idBytes, hash: hit.hash };
  }
  if (internedIds.size >= MAX_INTERNED_IDS) internedIds.clear();
  const fresh = { id, key, idBytes: chitchatIdEncodedLength(id), hash: chitchatIdHash(id) };
  internedIds.set(key, fresh);
  registerHash(fresh.hash, key);
  return fresh;
}

/** Key by id hash, for the ids this process interned (every node id any cluster state of the
 * process held): what a compact heartbeat entry is resolved with. `null` marks a hash that two
 * different ids share; entries with it are ignored. Bounded like `internedIds`: cleared when
 * full, after which the ids interned before no longer resolve (their heartbeats still arrive in
 * digest entries). */
const keyByHash = new Map<number, string | null>();
const MAX_HASHED_IDS = 1 << 20;
/** The hashes in `keyByHash` marked `null`, so that the fast path can skip the map while there
 * are none. */
let ambiguousHashes = 0;

function registerHash(hash: number, key: string): void {
  const had = keyByHash.get(hash);
  if (had === key || had === null) return;
  if (had === undefined) {
    if (keyByHash.size >= MAX_HASHED_IDS) {
      keyByHash.clear();
      ambiguousHashes = 0;
    }
    keyByHash.set(hash, key);
    return;
  }
  keyByHash.set(hash, null);
  ambiguousHashes++;
}

/** {@link intern}'s record by id object: the decoder hands out one object per id, which
 * every node of a process then sees in digest after digest; its key is built once, not once
 * per node. Entries go with their id objects. */
const internedByObject = new WeakMap<ChitchatId, Interned>();

/** The shared record of `id` (see {@link intern}), found by the object itself when it was seen
 * before. ChitchatId objects are treated as immutable (as the codec does): a record is used
 * only while its id still has the fields of `id`. */
export function internById(id: ChitchatId): Interned {
  const hit = internedByObject.get(id);
  if (hit !== undefined) {
    const a = hit.id;
    if (
      a === id ||
      (a.nodeId === id.nodeId && a.generationId === id.generationId &&
        a.gossipAdvertiseAddr.ip === id.gossipAdvertiseAddr.ip &&
        a.gossipAdvertiseAddr.port === id.gossipAdvertiseAddr.port)
    ) {
      return hit;
    }
  }
  const fresh = intern(chitchatIdKey(id), id);
  internedByObject.set(id, fresh);
  return fresh;
}

/** The key of the id this process interned with hash `hash`: undefined when none, null when two
 * different ids share it. */
export function keyOfHash(hash: number): string | null | undefined {
  return keyByHash.get(hash);
}

/** Whether two different ids interned by this process share `hash` (their compact entries are
 * then ignored). Cheap while no hash is shared. */
export function isAmbiguousHash(hash: number): boolean {
  return ambiguousHashes > 0 && keyByHash.get(hash) === null;
}
