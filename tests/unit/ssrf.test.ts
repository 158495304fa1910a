/**
 * The address policy behind remote image and video URLs (engine/ts/net/address-class.ts): which
 * hosts count as the public internet. URLs go through `new URL()` first, as the fetch code sees
 * them: WHATWG parsing already turns decimal, octal, hex and short IPv4 forms into dotted
 * decimal and compresses IPv6, so the classifier must judge what comes out. Also the refusal of
 * literal private hosts by the media loader, which needs no network (nothing is connected).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { InvalidRequestError } from "../../engine/ts/errors.ts";
import { loadMediaBytes } from "../../engine/ts/media-source.ts";
import { type AddressClass, classifyAddress, classifyHost, parseIPv6 } from "../../engine/ts/net/address-class.ts";

/** [URL, the class of its host; undefined: a name, judged by what it resolves to] */
const URLS: [string, AddressClass | undefined][] = [
  // IPv4 loopback in every notation URL parsing accepts
  ["http://127.0.0.1/", "loopback"],
  ["http://127.0.0.1:8080/x.png", "loopback"],
  ["http://127.255.255.254/", "loopback"],
  ["http://2130706433/", "loopback"], // decimal
  ["http://0x7f000001/", "loopback"], // hex
  ["http://0x7f.1/", "loopback"], // hex, short
  ["http://0177.0.0.1/", "loopback"], // octal
  ["http://127.1/", "loopback"], // short
  ["http://127.0.0.1./", "loopback"], // trailing dot
  ["http://%31%32%37.0.0.1/", "loopback"], // percent-encoded
  ["http://①②⑦.0.0.1/", "loopback"], // full-width digits (IDNA maps them)
  ["http://evil.example@127.0.0.1/", "loopback"], // userinfo is not the host
  ["http://localhost/", "loopback"],
  ["http://LOCALHOST./", "loopback"],
  ["http://images.localhost/", "loopback"],
  // private, link-local, metadata, CGNAT, this network
  ["http://10.0.0.1/", "private"],
  ["http://10.255.255.255/", "private"],
  ["http://172.16.0.1/", "private"],
  ["http://172.31.255.255/", "private"],
  ["http://192.168.1.1/", "private"],
  ["http://169.254.169.254/latest/meta-data/", "link-local"],
  ["http://169.254.169.254./", "link-local"],
  ["http://0xa9fea9fe/", "link-local"],
  ["http://100.64.0.1/", "shared"],
  ["http://100.127.255.255/", "shared"],
  ["http://0.0.0.0/", "unspecified"],
  ["http://0/", "unspecified"],
  ["http://224.0.0.1/", "multicast"],
  ["http://239.255.255.250/", "multicast"],
  ["http://240.0.0.1/", "reserved"],
  ["http://4294967295/", "reserved"], // 255.255.255.255
  ["http://192.0.2.10/", "reserved"],
  ["http://198.18.0.1/", "reserved"],
  // IPv4 neighbours of those ranges are public
  ["http://172.15.255.255/", "public"],
  ["http://172.32.0.1/", "public"],
  ["http://100.63.255.255/", "public"],
  ["http://100.128.0.1/", "public"],
  ["http://169.253.255.255/", "public"],
  ["http://192.169.0.1/", "public"],
  ["http://11.0.0.1/", "public"],
  ["http://8.8.8.8/", "public"],
  ["http://1.1.1.1./", "public"],
  // IPv6
  ["http://[::1]/", "loopback"],
  ["http://[0:0:0:0:0:0:0:1]/", "loopback"],
  ["http://[::]/", "unspecified"],
  ["http://[::ffff:127.0.0.1]/", "loopback"], // mapped
  ["http://[::FFFF:7F00:1]/", "loopback"], // mapped, upper-case hex
  ["http://[::ffff:169.254.169.254]/", "link-local"],
  ["http://[::ffff:10.1.2.3]/", "private"],
  ["http://[::ffff:0:7f00:1]/", "loopback"], // translated
  ["http://[::ffff:8.8.8.8]/", "public"],
  ["http://[64:ff9b::10.0.0.1]/", "private"], // NAT64 of a private address
  ["http://[64:ff9b::7f00:1]/", "loopback"],
  ["http://[64:ff9b::8.8.8.8]/", "public"], // NAT64 of a public one
  ["http://[64:ff9b:1::1]/", "private"], // local-use NAT64
  ["http://[2002:7f00:1::]/", "loopback"], // 6to4 of 127.0.0.1
  ["http://[2002:808:808::1]/", "public"],
  ["http://[::127.0.0.1]/", "reserved"], // IPv4-compatible (deprecated)
  ["http://[fc00::1]/", "private"],
  ["http://[FD12:3456:789A::1]/", "private"],
  ["http://[fe80::1]/", "link-local"],
  ["http://[FEBF::1]/", "link-local"],
  ["http://[fec0::1]/", "private"],
  ["http://[ff02::1]/", "multicast"],
  ["http://[2001:db8::1]/", "reserved"],
  ["http://[2001::1]/", "reserved"], // Teredo
  ["http://[100::1]/", "reserved"], // discard-only
  ["http://[2606:4700:4700::1111]/", "public"],
  ["http://[2a00:1450:4001::200e]/", "public"],
  // names: judged by what they resolve to
  ["http://example.com/", undefined],
  ["http://example.com./", undefined],
  ["http://localhost.example.com/", undefined],
  ["http://127.0.0.1.nip.io/", undefined],
];

test(`classifyHost: ${URLS.length} URLs as URL parsing leaves their hosts`, () => {
  assert.ok(URLS.length >= 40);
  for (const [url, expected] of URLS) {
    const host = new URL(url).hostname;
    assert.equal(classifyHost(host), expected, `${url} (hostname ${host})`);
  }
});

test("URLs WHATWG parsing refuses never reach the classifier (IPv6 zone ids, IPv4 past 32 bits)", () => {
  for (const url of ["http://[fe80::1%25eth0]/", "http://[fe80::1%eth0]/", "http://4294967296/", "http://[::1::]/"]) {
    assert.throws(() => new URL(url), TypeError, url);
  }
});

test("classifyAddress: addresses as resolvers answer them (zone ids, dotted tails, any case)", () => {
  const table: [string, AddressClass | undefined][] = [
    ["127.0.0.1", "loopback"],
    ["::1", "loopback"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:192.168.0.10", "private"],
    ["fe80::1%eth0", "link-local"],
    ["FE80::FC:FF:FE00:1%2", "link-local"],
    ["fd00::2", "private"],
    ["192.0.2.2", "reserved"],
    ["93.184.215.14", "public"],
    ["2606:2800:21f:cb07:6820:80da:af6b:8b2c", "public"],
    // not addresses
    ["example.com", undefined],
    ["1.2.3", undefined],
    ["256.1.1.1", undefined],
    ["1.2.3.4.5", undefined],
    ["01.2.3.4x", undefined],
    ["::1::", undefined],
    ["12345::", undefined],
    ["1:2:3:4:5:6:7:8:9", undefined],
    ["1:2:3:4:5:6:7::8", undefined],
    [":1", undefined],
    ["::ffff:300.0.0.1", undefined],
  ];
  for (const [text, expected] of table) assert.equal(classifyAddress(text), expected, text);
});

test("parseIPv6 expands compression and dotted tails into eight groups", () => {
  assert.deepEqual(parseIPv6("::"), [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(parseIPv6("[1::]"), [1, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(parseIPv6("1:2:3:4:5:6:7:8"), [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.deepEqual(parseIPv6("::ffff:1.2.3.4"), [0, 0, 0, 0, 0, 0xffff, 0x102, 0x304]);
  assert.deepEqual(parseIPv6("1:2:3:4:5:6:1.2.3.4"), [1, 2, 3, 4, 5, 6, 0x102, 0x304]);
  assert.deepEqual(parseIPv6("a::b"), [0xa, 0, 0, 0, 0, 0, 0, 0xb]);
});

test("the media loader refuses literal private hosts before connecting, with one message", async () => {
  // port 1 is closed, port 9 too; an open one would read the same: nothing is connected
  for (const url of ["http://127.0.0.1:1/a.png", "http://127.0.0.1:9/a.png", "http://[::1]/x", "http://0x7f.1/"]) {
    await assert.rejects(loadMediaBytes(url, { allowPrivate: false }, "image"), (e: unknown) => {
      assert.ok(e instanceof InvalidRequestError);
      assert.equal(e.param, "image");
      assert.match(
        e.message,
        /^image URL \S+ resolves to a private address; the server refuses such URLs unless started with --allow-private-urls$/,
      );
      return true;
    });
  }
  await assert.rejects(
    loadMediaBytes("http://169.254.169.254/latest/meta-data/", { allowPrivate: false }, "video"),
    { name: "InvalidRequestError", message: /^video URL \S+ resolves to a private address/ },
  );
});
