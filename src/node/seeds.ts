/**
 * Seed addresses: `"ip:port"` seeds are parsed once, `"host:port"` seeds are resolved through
 * DNS (every address of the name), again whenever the node refreshes them.
 *
 * @module
 */
import { formatSocketAddr, parseSocketAddr } from "../common/socket_addr.ts";
import type { SocketAddr } from "../common/types.ts";

/** The configured seeds, split into literal addresses and names to resolve. */
export interface SeedSpec {
  /** Literal seeds, formatted to parsed. */
  readonly fixed: ReadonlyMap<string, SocketAddr>;
  /** `host:port` seeds (the host is a name, resolved by {@link resolveSeeds}). */
  readonly names: readonly string[];
}

/** Splits `seeds` into literal addresses and host names.
 *
 * @example
 * ```ts
 * import { splitSeeds } from "./seeds.ts";
 * const spec = splitSeeds(["127.0.0.1:7946", "seed.example:7946"]);
 * console.log([...spec.fixed.keys()], spec.names); // [ "127.0.0.1:7946" ] [ "seed.example:7946" ]
 * ```
 */
export function splitSeeds(seeds: readonly string[]): SeedSpec {
  const fixed = new Map<string, SocketAddr>();
  const names: string[] = [];
  for (const s of seeds) {
    try {
      const addr = parseSocketAddr(s);
      fixed.set(formatSocketAddr(addr), addr);
    } catch {
      names.push(s);
    }
  }
  return { fixed, names };
}

/** The seed addresses of `spec`: its literal ones plus every address its names resolve to. A
 * name that does not resolve is reported to `warn` and skipped.
 *
 * @example
 * ```ts
 * import { resolveSeeds, splitSeeds } from "./seeds.ts";
 * const seeds = await resolveSeeds(splitSeeds(["127.0.0.1:7946", "localhost:7000"]), console.warn);
 * console.log(seeds.has("127.0.0.1:7946"), seeds.size >= 2); // true true
 * ```
 */
export async function resolveSeeds(
  spec: SeedSpec,
  warn: (message: string) => void,
): Promise<Map<string, SocketAddr>> {
  const next = new Map(spec.fixed);
  if (spec.names.length > 0) {
    const { lookup } = await import("node:dns/promises");
    await Promise.all(spec.names.map(async (seed) => {
      const colon = seed.lastIndexOf(":");
      const host = seed.slice(0, colon).replace(/^\[|\]$/g, "");
      const port = Number(seed.slice(colon + 1));
      try {
        for (const { address } of await lookup(host, { all: true })) {
          const addr = parseSocketAddr(
            address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`,
          );
          next.set(formatSocketAddr(addr), addr);
        }
      } catch (e) {
        warn(`cannot resolve seed ${seed}: ${(e as Error).message}`);
      }
    }));
  }
  return next;
}
