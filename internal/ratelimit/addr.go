package ratelimit

import "net/netip"

// IPv6Prefix is the prefix length IPv6 clients are bucketed by: a /64 is one
// subnet (RFC 4291 §2.5.4) and usually one subscriber, who can rotate through
// all of its 2^64 addresses at will (RFC 8981), so per-address buckets would
// be effectively unlimited.
const IPv6Prefix = 64

// AddrKey returns the rate-limit key of a client address: an IPv4 address
// (also when IPv4-mapped) as is, an IPv6 address as its /64 prefix. A string
// that is not an IP address is returned unchanged.
func AddrKey(host string) string {
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(IPv6Prefix)
	if err != nil {
		return host
	}
	return p.String()
}
