package signing

import (
	jose "github.com/go-jose/go-jose/v4"
)

// SETType is the typ header of a Security Event Token (RFC 8417 §2.3): it
// keeps a SET from ever passing as an access token (typ at+jwt).
const SETType = "secevent+jwt"

// SignSET signs payload, the claims of a Security Event Token, as a
// compact JWS with typ secevent+jwt (RFC 8417 §2.3).
func (l *Loaded) SignSET(payload []byte) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(l.Algorithm), Key: l.private},
		(&jose.SignerOptions{}).WithType(SETType))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
