/**
 * Transports and opt-in encryption: the {@link Transport} interface, the UDP transport
 * ({@link bindUdp}), {@link EncryptedTransport} (AES-GCM over any transport, with a
 * {@link Keyring} of rotating keys) and the keyring file format the worker's `--keyring-file`
 * reads.
 *
 * Who needs it: anyone who encrypts and authenticates gossip (an encrypted node cannot talk to
 * plain chitchat nodes, hence not in the root module), manages keyring files (generate keys,
 * fingerprints, parse and validate), or writes or wraps a transport. The UDP transport alone is
 * also in the root module. See docs/SECURITY.md for what encryption protects and what not.
 *
 * @example An encrypted node over UDP
 * ```ts
 * import { GossipNode } from "../../mod.ts";
 * import { bindUdp, EncryptedTransport, generateKey, Keyring } from "./mod.ts";
 *
 * const keyring = await Keyring.create([generateKey()]); // share the key with every node
 * const start = async (nodeId: string, seeds: string[]) =>
 *   GossipNode.start({
 *     nodeId,
 *     clusterId: "secret",
 *     gossipIntervalMs: 50,
 *     seeds,
 *     transport: new EncryptedTransport(await bindUdp({ ip: "127.0.0.1", port: 0 }), keyring),
 *   });
 * const a = await start("a", []);
 * const b = await start("b", [`127.0.0.1:${a.chitchatId.gossipAdvertiseAddr.port}`]);
 * a.set("role", "indexer");
 * for await (const change of b.subscribeKeyChanges("role")) {
 *   console.log(change.chitchatId.nodeId, change.value); // a indexer
 *   break;
 * }
 * await Promise.all([a.close(), b.close()]);
 * ```
 *
 * @module
 */
export type { DatagramHandler, Transport, TransportStats } from "./transport.ts";
export { bindUdp, type BindUdpOptions, type UdpTransport, type UdpTransportStats } from "./udp.ts";
export {
  EncryptedTransport,
  type EncryptedTransportOptions,
  MAX_ENCRYPTED_PLAINTEXT,
} from "./encrypted.ts";
export {
  DecryptError,
  type DecryptErrorReason,
  ENCRYPTION_OVERHEAD,
  ENCRYPTION_VERSION,
  generateKey,
  keyFingerprint,
  type KeyInfo,
  Keyring,
  KeyringError,
  type KeyringErrorReason,
  type KeyringSpec,
  loadKeyringFile,
  MAX_KEYRING_FILE_SIZE,
  MAX_KEYS,
  NONCE_SIZE,
  parseKeyringFile,
  TAG_SIZE,
} from "./keyring.ts";
export { AddressInUseError, ConfigError, HearsayError } from "../common/errors.ts";
export type { SocketAddr } from "../common/types.ts";
