/**
 * The reconciler's state file: the public keys of the peers it configured on one interface, so
 * that a restarted reconciler removes its own peers that left while it was down (and nobody
 * else's). JSON, `{"version":1,"interface":"wg0","peers":["<key>", ...]}`, written atomically
 * (a temporary file in the same folder, mode 0600, then a rename).
 *
 * @module
 */
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import process from "node:process";
import { parseWgKey } from "./key.ts";

/** Refuse to read a state file larger than this (about 150 000 keys). */
export const MAX_STATE_FILE_BYTES = 8 * 1024 * 1024;

/** The keys recorded in `path` for `iface`; an empty set when the file does not exist. Throws
 * with what was wrong when it exists but is not a state file of this interface. */
export async function readWgStateFile(path: string, iface: string): Promise<Set<string>> {
  let text: string;
  try {
    const info = await stat(path);
    if (info.size > MAX_STATE_FILE_BYTES) {
      throw new Error(
        `state file ${path} is ${info.size} bytes, more than the ${MAX_STATE_FILE_BYTES} allowed`,
      );
    }
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as { code?: unknown }).code === "ENOENT") return new Set();
    throw e;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new Error(`state file ${path} is not JSON: ${(e as Error).message}`);
  }
  const d = data as { version?: unknown; interface?: unknown; peers?: unknown };
  if (
    typeof data !== "object" || data === null || d.version !== 1 || !Array.isArray(d.peers)
  ) {
    throw new Error(
      `state file ${path} is not a hearsay WireGuard state file (expected ` +
        `{"version":1,"interface":...,"peers":[...]})`,
    );
  }
  if (d.interface !== iface) {
    throw new Error(
      `state file ${path} belongs to interface ${JSON.stringify(d.interface)}, not ${iface}`,
    );
  }
  const keys = new Set<string>();
  for (const k of d.peers) {
    if (typeof k !== "string") throw new Error(`state file ${path}: a peer key is not a string`);
    keys.add(parseWgKey(k));
  }
  return keys;
}

/** Writes the keys atomically: a temporary file next to `path` (mode 0600), then a rename. The
 * folder is created when missing. */
export async function writeWgStateFile(
  path: string,
  iface: string,
  keys: Iterable<string>,
): Promise<void> {
  const slash = path.lastIndexOf("/");
  if (slash > 0) await mkdir(path.slice(0, slash), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  const body = JSON.stringify({ version: 1, interface: iface, peers: [...keys].sort() }) + "\n";
  await writeFile(tmp, body, { mode: 0o600 });
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    throw e;
  }
}

/** The worker's default state file for `iface`: `<iface>.peers.json` in the folder of the
 * private key file when there is one, else in /var/lib/hearsay. */
export function defaultWgStateFile(iface: string, privateKeyFile?: string): string {
  const dir = privateKeyFile === undefined
    ? "/var/lib/hearsay"
    : privateKeyFile.includes("/")
    ? privateKeyFile.slice(0, privateKeyFile.lastIndexOf("/")) || "/"
    : ".";
  return `${dir === "/" ? "" : dir}/${iface}.peers.json`;
}
