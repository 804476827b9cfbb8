package jwks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// TestVerifyAgreesWithGoJose: Token.Verify checks signatures with the
// standard library over the token's own signing input; for every algorithm
// and for valid, tampered, truncated, padded and foreign-key signatures it
// must give go-jose's verdict.
func TestVerifyAgreesWithGoJose(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	otherRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	other256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	otherEd, _, _ := ed25519.GenerateKey(rand.Reader)
	cases := []struct {
		alg        jose.SignatureAlgorithm
		priv       crypto.Signer
		pub, wrong any
	}{
		{jose.RS256, rsaKey, &rsaKey.PublicKey, &otherRSA.PublicKey},
		{jose.RS384, rsaKey, &rsaKey.PublicKey, &otherRSA.PublicKey},
		{jose.RS512, rsaKey, &rsaKey.PublicKey, &otherRSA.PublicKey},
		{jose.PS256, rsaKey, &rsaKey.PublicKey, &otherRSA.PublicKey},
		{jose.PS384, rsaKey, &rsaKey.PublicKey, &otherRSA.PublicKey},
		{jose.PS512, rsaKey, &rsaKey.PublicKey, &otherRSA.PublicKey},
		{jose.ES256, p256, &p256.PublicKey, &other256.PublicKey},
		{jose.ES384, p384, &p384.PublicKey, nil},
		{jose.ES512, p521, &p521.PublicKey, nil},
		{jose.EdDSA, edKey, edPub, otherEd},
	}
	algs := []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
		jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}
	for _, c := range cases {
		t.Run(string(c.alg), func(t *testing.T) {
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: c.alg, Key: c.priv}, (&jose.SignerOptions{}).WithType("at+jwt"))
			if err != nil {
				t.Fatal(err)
			}
			jws, err := signer.Sign([]byte(`{"iss":"https://as.example","exp":4102444800}`))
			if err != nil {
				t.Fatal(err)
			}
			good, _ := jws.CompactSerialize()
			dot := strings.LastIndexByte(good, '.')
			sig, _ := base64.RawURLEncoding.DecodeString(good[dot+1:])
			withSig := func(s []byte) string { return good[:dot+1] + base64.RawURLEncoding.EncodeToString(s) }
			flipped := append([]byte(nil), sig...)
			flipped[len(flipped)/2] ^= 1
			tokens := map[string]string{
				"valid":     good,
				"flipped":   withSig(flipped),
				"truncated": withSig(sig[:len(sig)-1]),
				"padded":    withSig(append(append([]byte(nil), sig...), 0)),
				"zero":      withSig(make([]byte, len(sig))),
				"other payload": good[:strings.IndexByte(good, '.')+1] +
					base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"https://evil.example"}`)) + good[dot:],
			}
			keys := map[string]any{"right key": c.pub}
			if c.wrong != nil {
				keys["foreign key"] = c.wrong
			}
			for tname, tok := range tokens {
				for kname, pub := range keys {
					parsed, err := Parse(tok, algs)
					if err != nil {
						t.Fatalf("%s: Parse: %v", tname, err)
					}
					_, ours := parsed.Verify(Key{Public: pub, Algorithm: string(c.alg)})
					jj, err := jose.ParseSignedCompact(tok, algs)
					if err != nil {
						t.Fatal(err)
					}
					_, theirs := jj.Verify(pub)
					if (ours == nil) != (theirs == nil) {
						t.Errorf("%s, %s: Verify err %v, go-jose err %v", tname, kname, ours, theirs)
					}
					if want := tname == "valid" && kname == "right key"; (ours == nil) != want {
						t.Errorf("%s, %s: Verify err %v, want success %v", tname, kname, ours, want)
					}
				}
			}
		})
	}
}
