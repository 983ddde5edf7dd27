import assert from "node:assert/strict";
import { resolveConfig } from "./config.ts";
import { ConfigError } from "../common/errors.ts";

const base = { nodeId: "a", clusterId: "c", listenAddr: "127.0.0.1:7000" };

Deno.test("config: failureDetectorBackend defaults to wasm; wasm, compact and typescript accepted", () => {
  assert.equal(resolveConfig(base).failureDetectorBackend, "wasm");
  for (const b of ["wasm", "compact", "typescript"] as const) {
    assert.equal(resolveConfig({ ...base, failureDetectorBackend: b }).failureDetectorBackend, b);
  }
  assert.throws(
    () => resolveConfig({ ...base, failureDetectorBackend: "gpu" as never }),
    (e: unknown) =>
      e instanceof ConfigError && e.field === "failureDetectorBackend" &&
      e.message.includes('"wasm", "compact" or "typescript"') && e.message.includes('"gpu"'),
  );
});

Deno.test("config: pastOneDatagram defaults to off and refuses other modes", () => {
  assert.equal(resolveConfig(base).pastOneDatagram, "off");
  assert.throws(
    () => resolveConfig({ ...base, pastOneDatagram: "sometimes" as never }),
    (e: unknown) => e instanceof ConfigError && e.field === "pastOneDatagram",
  );
});
