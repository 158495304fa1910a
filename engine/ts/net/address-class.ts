/**
 * Which kind of network an IP address (or a URL's host) belongs to: the public internet, or one
 * of the ranges a server must not be made to fetch from on a client's behalf (loopback, private
 * networks, link-local and the cloud metadata address, carrier-grade NAT, multicast, reserved).
 * Pure and runtime-neutral: remote-fetch.ts asks it for literal hosts and for every address a
 * host name resolves to. IPv6 forms that carry an IPv4 address (mapped ::ffff:a.b.c.d, NAT64
 * 64:ff9b::/96, 6to4 2002::/16) are judged by the IPv4 address inside.
 */

export type AddressClass =
  | "public"
  | "loopback"
  | "private" // RFC 1918, IPv6 unique-local fc00::/7 and the old site-local fec0::/10
  | "link-local" // 169.254/16 (with 169.254.169.254, the metadata service), fe80::/10
  | "shared" // carrier-grade NAT 100.64/10
  | "unspecified" // 0.0.0.0/8, ::
  | "multicast"
  | "reserved"; // documentation, benchmarking, protocol assignments, 240/4, unallocated IPv6

/** [first address as a 32-bit number, prefix length, class] */
const V4_RANGES: [number, number, AddressClass][] = [
  [v4(0, 0, 0, 0), 8, "unspecified"],
  [v4(10, 0, 0, 0), 8, "private"],
  [v4(100, 64, 0, 0), 10, "shared"],
  [v4(127, 0, 0, 0), 8, "loopback"],
  [v4(169, 254, 0, 0), 16, "link-local"],
  [v4(172, 16, 0, 0), 12, "private"],
  [v4(192, 0, 0, 0), 24, "reserved"], // IETF protocol assignments
  [v4(192, 0, 2, 0), 24, "reserved"], // TEST-NET-1
  [v4(192, 88, 99, 0), 24, "reserved"], // 6to4 relay anycast (deprecated)
  [v4(192, 168, 0, 0), 16, "private"],
  [v4(198, 18, 0, 0), 15, "reserved"], // benchmarking
  [v4(198, 51, 100, 0), 24, "reserved"], // TEST-NET-2
  [v4(203, 0, 113, 0), 24, "reserved"], // TEST-NET-3
  [v4(224, 0, 0, 0), 4, "multicast"],
  [v4(240, 0, 0, 0), 4, "reserved"], // with 255.255.255.255, broadcast
];

function v4(a: number, b: number, c: number, d: number): number {
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

/** The class of an IPv4 address given as a 32-bit number. */
function classOfV4(n: number): AddressClass {
  for (const [base, bits, cls] of V4_RANGES) {
    if ((n >>> (32 - bits)) === (base >>> (32 - bits))) return cls;
  }
  return "public";
}

/** Dotted-decimal IPv4 (the form URL parsing and DNS give), as a 32-bit number; undefined otherwise. */
export function parseIPv4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
}

/**
 * IPv6 text (brackets and a %zone allowed, any case, `::` compression, a dotted IPv4 tail) as
 * eight 16-bit groups; undefined when it is not IPv6.
 */
export function parseIPv6(text: string): number[] | undefined {
  let s = text.toLowerCase();
  if (s.startsWith("[") && s.endsWith("]")) s = s.slice(1, -1);
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  if (!s.includes(":")) return undefined;
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    // a dotted IPv4 tail (::ffff:127.0.0.1) is the last two groups written another way
    const n = parseIPv4(s.slice(lastColon + 1));
    if (n === undefined) return undefined;
    s = `${s.slice(0, lastColon + 1)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === "" ? [] : h.split(":"));
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  for (const g of [...head, ...rest]) if (!/^[0-9a-f]{1,4}$/.test(g)) return undefined;
  const explicit = head.length + rest.length;
  if (halves.length === 1 ? explicit !== 8 : explicit > 7) return undefined;
  const zeros = new Array(8 - explicit).fill(0);
  return [...head.map((g) => parseInt(g, 16)), ...zeros, ...rest.map((g) => parseInt(g, 16))];
}

/** The class of an IPv6 address given as eight groups. */
function classOfV6(g: number[]): AddressClass {
  const embeddedV4 = (hi: number, lo: number) => classOfV4(((hi << 16) | lo) >>> 0);
  const zeroUpTo = (k: number) => g.slice(0, k).every((x) => x === 0);
  if (zeroUpTo(7) && g[7] === 0) return "unspecified";
  if (zeroUpTo(7) && g[7] === 1) return "loopback";
  if (zeroUpTo(5) && g[5] === 0xffff) return embeddedV4(g[6], g[7]); // ::ffff:a.b.c.d, mapped
  if (zeroUpTo(4) && g[4] === 0xffff && g[5] === 0) return embeddedV4(g[6], g[7]); // ::ffff:0:a.b.c.d, translated
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return embeddedV4(g[6], g[7]); // NAT64
  if (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1) return "private"; // local-use NAT64 64:ff9b:1::/48
  if (g[0] === 0x2002) return embeddedV4(g[1], g[2]); // 6to4
  if ((g[0] & 0xfe00) === 0xfc00) return "private"; // fc00::/7 unique-local
  if ((g[0] & 0xffc0) === 0xfe80) return "link-local"; // fe80::/10
  if ((g[0] & 0xffc0) === 0xfec0) return "private"; // fec0::/10 site-local (deprecated)
  if ((g[0] & 0xff00) === 0xff00) return "multicast";
  if (g[0] === 0x2001 && g[1] < 0x200) return "reserved"; // 2001::/23 protocol assignments, Teredo 2001::/32
  if (g[0] === 0x2001 && g[1] === 0xdb8) return "reserved"; // documentation
  if (g[0] === 0x3fff && g[1] < 0x1000) return "reserved"; // documentation 3fff::/20
  if ((g[0] & 0xe000) !== 0x2000) return "reserved"; // outside global unicast 2000::/3 (::/96 compat, 100::/64 ...)
  return "public";
}

/** The class of an IP address in text (IPv4 dotted, IPv6 with or without brackets); undefined if it is not one. */
export function classifyAddress(text: string): AddressClass | undefined {
  const n = parseIPv4(text);
  if (n !== undefined) return classOfV4(n);
  const g = parseIPv6(text);
  return g && classOfV6(g);
}

/**
 * The class of a URL's `hostname` as WHATWG URL parsing leaves it (IPv4 in any notation already
 * dotted decimal, IPv6 bracketed and compressed): an address's class, "loopback" for `localhost`
 * and `*.localhost` (RFC 6761; resolvers answer them locally), undefined for other names (they
 * must be resolved to be judged).
 */
export function classifyHost(hostname: string): AddressClass | undefined {
  const name = hostname.toLowerCase().replace(/\.+$/, "");
  if (name === "localhost" || name.endsWith(".localhost")) return "loopback";
  return classifyAddress(name);
}
