package registry

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// tokenPrefix makes a leaked token recognisable to secret scanners and people.
const tokenPrefix = "mkrt_"

// NewReportToken returns a fresh report token and the hash to store. The token has
// 256 random bits, so a plain SHA-256 is enough: there is nothing to brute-force.
func NewReportToken() (token, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("registry: report token: %w", err)
	}
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token), nil
}

// HashToken returns the hex SHA-256 of a token, the form stores keep.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// VerifyToken reports whether token matches hash, in constant time.
func VerifyToken(token, hash string) bool {
	if hash == "" || !strings.HasPrefix(token, tokenPrefix) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(HashToken(token)), []byte(hash)) == 1
}
