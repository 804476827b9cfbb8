package cimd

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

// ErrForbiddenAddress is returned (wrapped) when a client_id host is, or
// resolves to, an address the fetcher refuses to connect to.
var ErrForbiddenAddress = errors.New("cimd: refusing to connect to a non-public address")

// blocked are the special-purpose ranges (IANA IPv4 and IPv6 Special-Purpose
// Address Registries) a client metadata fetch must never reach:
// draft-ietf-oauth-client-id-metadata-document-00 §6 (SSRF) and the MCP
// security best practices (SSRF against authorization servers).
var blocked = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network", unspecified
		"10.0.0.0/8",      // private (RFC 1918)
		"100.64.0.0/10",   // carrier-grade NAT (RFC 6598)
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local, cloud metadata services
		"172.16.0.0/12",   // private
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"192.88.99.0/24",  // 6to4 relay anycast
		"192.168.0.0/16",  // private
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, broadcast
		"::/128",          // unspecified
		"::1/128",         // loopback
		"::/96",           // IPv4-compatible (deprecated)
		"64:ff9b:1::/48",  // local-use NAT64 (RFC 8215)
		"100::/64",        // discard-only
		"2001::/23",       // IETF protocol assignments, incl. Teredo
		"2001:db8::/32",   // documentation
		"2002::/16",       // 6to4: embeds an arbitrary IPv4 address
		"3fff::/20",       // documentation
		"fc00::/7",        // unique local
		"fe80::/10",       // link-local
		"fec0::/10",       // site-local (deprecated)
		"ff00::/8",        // multicast
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// nat64 is the well-known NAT64 prefix (RFC 6052): its addresses stand for
// the IPv4 address in their last 32 bits, which is checked instead.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// AddressAllowed reports whether the fetcher may connect to ip: a globally
// routable unicast address. With allowLoopback (tests only), 127.0.0.0/8 and
// ::1 are allowed too.
func AddressAllowed(ip netip.Addr, allowLoopback bool) bool {
	return checkAddr(ip, allowLoopback) == nil
}

func checkAddr(ip netip.Addr, allowLoopback bool) error {
	ip = ip.Unmap().WithZone("")
	if nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
	}
	if !ip.IsValid() {
		return ErrForbiddenAddress
	}
	if allowLoopback && ip.IsLoopback() {
		return nil
	}
	for _, p := range blocked {
		if p.Contains(ip) {
			return fmt.Errorf("%w (%s)", ErrForbiddenAddress, ip)
		}
	}
	if !ip.IsGlobalUnicast() {
		return fmt.Errorf("%w (%s)", ErrForbiddenAddress, ip)
	}
	return nil
}

// dialControl returns a net.Dialer.Control hook that checks the address
// actually being connected to, after DNS resolution, so a hostname that
// resolves (or re-resolves: DNS rebinding) to an internal address is
// refused before any packet is sent to it.
func dialControl(allowLoopback bool) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		switch network {
		case "tcp", "tcp4", "tcp6":
		default:
			return fmt.Errorf("%w: network %s", ErrForbiddenAddress, network)
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w: %q", ErrForbiddenAddress, address)
		}
		return checkAddr(ap.Addr(), allowLoopback)
	}
}
