import assert from "node:assert/strict";
import {
  AddressParseError,
  canonicalIp,
  formatIp,
  formatSocketAddr,
  parseIp,
  parseSocketAddr,
} from "./socket_addr.ts";
import {
  chitchatIdEquals,
  chitchatIdKey,
  compareChitchatIds,
  compareUtf8,
  formatChitchatId,
} from "./chitchat_id.ts";
import { id } from "../codec/_test_utils.ts";

Deno.test("parseSocketAddr() parses IPv4 and bracketed IPv6", () => {
  assert.deepEqual(parseSocketAddr("1.2.3.4:5"), { ip: "1.2.3.4", port: 5 });
  assert.deepEqual(parseSocketAddr("[2001:DB8:0:0::1]:7946"), { ip: "2001:db8::1", port: 7946 });
  assert.deepEqual(parseSocketAddr("[::ffff:1.2.3.4]:1"), { ip: "::ffff:1.2.3.4", port: 1 });
  assert.deepEqual(parseSocketAddr("0.0.0.0:65535"), { ip: "0.0.0.0", port: 65535 });
});

Deno.test("parseSocketAddr() rejects bad text with a typed error naming it", () => {
  for (
    const bad of [
      "",
      "1.2.3.4",
      "1.2.3.4:",
      "1.2.3.4:65536",
      "1.2.3:5",
      "01.2.3.4:5",
      "256.1.1.1:5",
      "localhost:80",
      "::1:80",
      "[::1]",
      "[::1]80",
      "[1:2:3:4:5:6:7:8:9]:1",
      "[1::2::3]:1",
      "[::1%2]:1",
      "[12345::]:1",
      " 1.2.3.4:5",
      "1.2.3.4:-1",
      "[1.2.3.4]:5",
    ]
  ) {
    assert.throws(() => parseSocketAddr(bad), (e: unknown) => {
      assert.ok(e instanceof AddressParseError, bad);
      assert.equal(e.text, bad);
      assert.ok(e.message.includes(JSON.stringify(bad)));
      return true;
    });
  }
});

Deno.test("formatIp() prints IPv6 like Rust's Display (RFC 5952)", () => {
  const cases: [string, string][] = [
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // leftmost of equal runs
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group stays
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // the longest run wins
    ["::ffff:10.0.0.1", "::ffff:10.0.0.1"], // IPv4-mapped
    ["::1.2.3.4", "::102:304"], // IPv4-compatible prints as hex
    ["FE80::ABCD", "fe80::abcd"],
    ["1:0:0:0:0:0:0:0", "1::"],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
  ];
  for (const [input, want] of cases) assert.equal(canonicalIp(input), want, input);
  assert.equal(formatIp(new Uint8Array([127, 0, 0, 1])), "127.0.0.1");
  assert.equal(parseIp("::ffff:1.2.3.4").length, 16);
});

Deno.test("formatSocketAddr() prints Rust's SocketAddr Display", () => {
  assert.equal(formatSocketAddr({ ip: "1.2.3.4", port: 5 }), "1.2.3.4:5");
  assert.equal(formatSocketAddr({ ip: "2001:db8::1", port: 5 }), "[2001:db8::1]:5");
  for (const t of ["1.2.3.4:5", "[2001:db8::1]:5", "[::]:0", "[::ffff:1.2.3.4]:9"]) {
    assert.equal(formatSocketAddr(parseSocketAddr(t)), t);
  }
});

Deno.test("compareChitchatIds() orders like chitchat: UTF-8 bytes, generation, v4 < v6, ip, port", () => {
  const sorted = [
    id("a", 5n, "10.0.0.1", 7000),
    id("a", 5n, "10.0.0.1", 7001),
    id("a", 5n, "10.0.0.2", 1),
    id("a", 5n, "255.255.255.255", 65535),
    id("a", 5n, "::", 0),
    id("a", 5n, "::1", 7000),
    id("a", 5n, "::ffff:0.0.0.1", 0),
    id("a", 6n, "0.0.0.0", 0),
    id("a", (1n << 64n) - 1n, "0.0.0.0", 0),
    id("b", 0n, "10.0.0.2", 7000),
    id("b\uFFFD", 0n, "10.0.0.2", 7000),
    id("b\u{1F600}", 0n, "10.0.0.2", 7000), // after U+FFFD in UTF-8, before it in UTF-16
  ];
  for (let i = 0; i < sorted.length; i++) {
    for (let j = 0; j < sorted.length; j++) {
      const c = compareChitchatIds(sorted[i]!, sorted[j]!);
      assert.equal(Math.sign(c), Math.sign(i - j), `${i} vs ${j}`);
    }
  }
  assert.ok(compareUtf8("\u{10000}", "\uE000") > 0);
  assert.ok(compareUtf8("ab", "abc") < 0);
});

Deno.test("chitchatIdKey() and chitchatIdEquals() agree and canonicalise the IP", () => {
  const a = id("n:1", 3n, "2001:db8::1", 9);
  const b = id("n:1", 3n, "2001:DB8:0::1", 9);
  const c = id("n:1", 3n, "2001:db8::1", 10);
  assert.ok(chitchatIdEquals(a, b));
  assert.equal(chitchatIdKey(a), chitchatIdKey(b));
  assert.ok(!chitchatIdEquals(a, c));
  assert.notEqual(chitchatIdKey(a), chitchatIdKey(c));
  // A node id containing the separator cannot collide with another split.
  assert.notEqual(chitchatIdKey(id("x|1", 0n, "::1", 1)), chitchatIdKey(id("x", 0n, "::1", 1)));
  assert.equal(formatChitchatId(a), "n:1/3@[2001:db8::1]:9");
});
