/**
 * The published API, checked on the real package: the root module stays small (at most 60
 * symbols as `deno doc --json` counts them), internals stay out of it, every sub-path export of
 * deno.json resolves and exports its documented key symbols, and every exported symbol carries
 * an `@example`. These tests fail when the API balloons again or an entry point loses a symbol.
 *
 * @module
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);

/** Most symbols the root module may export (issue 10: "at most 60"). */
const MAX_ROOT_SYMBOLS = 60;

/** Key symbols each sub-path export must provide, values and types alike. Adding a sub-path to
 * deno.json means listing it here. */
const ENTRY_POINTS: Readonly<Record<string, readonly string[]>> = {
  ".": [
    "GossipPool",
    "GossipPoolConfig",
    "TopologyEvent",
    "PeerInfo",
    "encodePeerInfo",
    "decodePeerInfo",
    "GossipNode",
    "GossipNodeOptions",
    "presets",
    "NodeState",
    "ChitchatId",
    "SocketAddr",
    "parseSocketAddr",
    "formatSocketAddr",
    "HearsayError",
    "ConfigError",
    "SubscriberLaggedError",
    "Transport",
    "bindUdp",
  ],
  "./codec": [
    "encodeMessage",
    "decodeMessage",
    "DeltaWriter",
    "encodeDigest",
    "decodeDigest",
    "encodeDelta",
    "decodeDelta",
    "ChitchatMessage",
    "Digest",
    "Delta",
    "DecodeError",
  ],
  "./testing": ["MemoryNetwork", "VirtualClock", "createRandom", "Clock", "Random"],
  "./transport": [
    "Transport",
    "bindUdp",
    "EncryptedTransport",
    "Keyring",
    "loadKeyringFile",
    "parseKeyringFile",
    "generateKey",
    "KeyringError",
  ],
  "./pool": ["GossipPool", "PeerInfo", "workerKey", "parseWorkerKey", "decodePeerInfo"],
  "./wireguard": [
    "WireGuardReconciler",
    "planReconcile",
    "wgSetArgs",
    "parseWgDump",
    "parseWgKey",
    "WgCommandError",
  ],
  "./worker": ["runWorker", "parseWorkerArgs", "WorkerOptions"],
};

/** Internals that must never come back to the root module. */
const ROOT_INTERNALS = [
  "ClusterState",
  "AsyncQueue",
  "resolveConfig",
  "ResolvedConfig",
  "compareUtf8",
  "sortedDigestEntries",
  "phiReference",
  "GOSSIP_FANOUT",
  "FailureDetector",
  "utf8Length",
  "digestEncodedLength",
  "nodeDeltaOpsLength",
];

/** Exported symbols, declared in modules whose owners have not yet given them a real example,
 * that may still lack an `@example` or have only examples that print `typeof`. New exports must
 * not join this list: give them an example that shows what they do. */
const KNOWN_WITHOUT_REAL_EXAMPLE: ReadonlySet<string> = new Set([
  "BLOCK_THRESHOLD",
  "DEFAULT_LIMITS",
  "DeltaWriterOptions",
  "EncodeDeltaOptions",
  "EncodeMessageOptions",
  "GossipMetrics",
  "KeyChangeEvent",
  "LiveNodes",
  "MAX_DATAGRAM_SIZE",
  "MemoryNetworkStats",
  "MIN_DELTA_BUDGET",
]);

interface DocSymbol {
  name: string;
  declarations?: {
    location?: { filename?: string };
    jsDoc?: { tags?: { kind: string; doc?: string }[] };
  }[];
}

async function docSymbols(entry: string): Promise<DocSymbol[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["doc", "--json", entry],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, `deno doc --json ${entry}: ${new TextDecoder().decode(out.stderr)}`);
  const json = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    nodes: Record<string, { symbols?: DocSymbol[] }>;
  };
  return Object.values(json.nodes).flatMap((n) => n.symbols ?? []);
}

async function exportsMap(): Promise<Record<string, string>> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root))) as {
    exports: Record<string, string>;
  };
  return config.exports;
}

Deno.test("api: the root module exports at most 60 symbols and no internals", async () => {
  const names = new Set((await docSymbols("mod.ts")).map((s) => s.name));
  assert(names.size > 20, `only ${names.size} root symbols read: the count would be vacuous`);
  assert(
    names.size <= MAX_ROOT_SYMBOLS,
    `mod.ts exports ${names.size} symbols, at most ${MAX_ROOT_SYMBOLS} allowed: ${
      [...names].sort().join(", ")
    }`,
  );
  assert.deepEqual(ROOT_INTERNALS.filter((n) => names.has(n)), []);
});

Deno.test("api: deno.json lists exactly the documented entry points", async () => {
  assert.deepEqual(Object.keys(await exportsMap()).sort(), Object.keys(ENTRY_POINTS).sort());
});

Deno.test("api: every sub-path export resolves and exports its key symbols", async () => {
  const map = await exportsMap();
  for (const [subpath, file] of Object.entries(map)) {
    const names = new Set((await docSymbols(file)).map((s) => s.name));
    const missing = (ENTRY_POINTS[subpath] ?? []).filter((n) => !names.has(n));
    assert.deepEqual(missing, [], `${subpath} (${file}) lacks ${missing.join(", ")}`);
    // The module loads, and its runtime exports are what deno doc reports.
    const mod = await import(new URL(file, root).href) as Record<string, unknown>;
    for (const value of Object.keys(mod)) {
      assert(names.has(value), `${subpath}: runtime export ${value} is not documented`);
    }
  }
  const root_ = await import(new URL(map["."]!, root).href) as Record<string, unknown>;
  assert.equal(typeof root_["GossipPool"], "function");
  const codec = await import(new URL(map["./codec"]!, root).href) as {
    encodeMessage: (m: unknown) => Uint8Array;
    decodeMessage: (b: Uint8Array) => { type: string };
  };
  const bytes = codec.encodeMessage({ type: "badCluster" });
  assert.equal(codec.decodeMessage(bytes).type, "badCluster");
});

Deno.test("api: every exported symbol of every entry point has a real @example", async () => {
  const lacking = new Set<string>();
  let checked = 0;
  for (const file of Object.values(await exportsMap())) {
    for (const s of await docSymbols(file)) {
      checked++;
      const examples = (s.declarations ?? []).flatMap((d) =>
        (d.jsDoc?.tags ?? []).filter((t) => t.kind === "example").map((t) => t.doc ?? "")
      );
      // An example that only prints `typeof` something tests nothing.
      const real = examples.filter((e) => !/console\.log\(typeof /.test(e));
      if (real.length > 0 || KNOWN_WITHOUT_REAL_EXAMPLE.has(s.name)) continue;
      const where = (s.declarations?.[0]?.location?.filename ?? "").replace(root.href, "");
      lacking.add(`${s.name} (${where})`);
    }
  }
  assert(checked > 100, `only ${checked} symbols read: the check would be vacuous`);
  assert.deepEqual([...lacking].sort(), []);
});
