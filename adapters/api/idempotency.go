package api

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/batonbot/baton/flows"
)

// idem is a write's idempotency.
type idem struct {
	key         string // the engine's key (flows.Event.Key)
	fingerprint string // the request's (flows.Event.Fingerprint); "" without an Idempotency-Key
	header      string // the Idempotency-Key as sent
}

// idemKey returns the idempotency of a write: the Idempotency-Key header
// scoped to the token and the route (method and path), or a fresh key, and
// the request's fingerprint, a hash of its body as canonical JSON. A retry
// of the same request, however its JSON is spelled, so gets the first
// answer, and another request under the same key gets the first
// request's fingerprint back with it: keyReused refuses it. ok false means
// an error was written.
func idemKey(w http.ResponseWriter, r *http.Request, body []byte) (idem, bool) {
	scope := "api:" + tokenOf(r).Hash[:16] + ":"
	k := r.Header.Get("Idempotency-Key")
	if k == "" {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		return idem{key: scope + "auto:" + hex.EncodeToString(b)}, true
	}
	if len(k) > 200 || strings.IndexFunc(k, func(c rune) bool { return c <= ' ' || c > '~' }) >= 0 {
		writeError(w, r, http.StatusBadRequest, "bad_request", "Idempotency-Key: at most 200 printable ASCII characters, no spaces (a UUID is fine)", nil)
		return idem{}, false
	}
	route := sha256.Sum256([]byte(r.Method + " " + strings.ToUpper(r.URL.Path))) // instance ids are read in any case
	return idem{key: scope + hex.EncodeToString(route[:8]) + ":" + k, fingerprint: fingerprint(body), header: k}, true
}

// keyReused reports whether out answers another request than the one of
// id under the same Idempotency-Key (and then writes the refusal: the
// first request's outcome is not this one's to see, and nothing was
// changed). An outcome without a fingerprint is an earlier build's: it is
// taken for a retry, as that build took it.
func keyReused(w http.ResponseWriter, r *http.Request, id idem, out flows.Outcome) bool {
	if id.fingerprint == "" || out.Fingerprint == "" || out.Fingerprint == id.fingerprint {
		return false
	}
	writeError(w, r, http.StatusUnprocessableEntity, "idempotency_key_reused", fmt.Sprintf(
		"Idempotency-Key %s was used for a different request to %s %s (another body); nothing was changed: send a new key for a new request, or the first request again for its answer",
		id.header, r.Method, r.URL.Path), nil)
	return true
}

// fingerprint returns the hash of a JSON body (decode checked it) as
// canonical JSON: the same for any spelling of the same value.
func fingerprint(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil { // not after decode: the bytes, then
		sum := sha256.Sum256(body)
		return hex.EncodeToString(sum[:16])
	}
	var b bytes.Buffer
	canonical(&b, v)
	sum := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(sum[:16])
}

// canonical writes v, a JSON value decoded with UseNumber, as canonical
// JSON: no spaces, an object's members in the order of their names,
// strings escaped as encoding/json escapes them, and numbers as
// canonicalNumber writes them.
func canonical(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case map[string]any:
		b.WriteByte('{')
		for i, k := range slices.Sorted(maps.Keys(x)) {
			if i > 0 {
				b.WriteByte(',')
			}
			canonical(b, k)
			b.WriteByte(':')
			canonical(b, x[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			canonical(b, e)
		}
		b.WriteByte(']')
	case json.Number:
		b.WriteString(canonicalNumber(string(x)))
	default: // a string, a bool, null
		s, _ := json.Marshal(x)
		b.Write(s)
	}
}

// canonicalNumber writes a JSON number as its digits without leading or
// trailing zeros and a power of ten (1450, 1450.0 and 1.45e3 are all
// 145e1; zero is 0), exactly: nothing is rounded. A number whose exponent
// is out of range is left as it was written.
func canonicalNumber(s string) string {
	neg := strings.HasPrefix(s, "-")
	mant, exp, _ := strings.Cut(strings.TrimPrefix(s, "-"), "e")
	if i := strings.IndexByte(mant, 'E'); i >= 0 && exp == "" {
		mant, exp = mant[:i], mant[i+1:]
	}
	e := 0
	if exp != "" {
		n, err := strconv.Atoi(exp)
		if err != nil || n > 1<<40 || n < -1<<40 {
			return s
		}
		e = n
	}
	whole, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(whole+frac, "0")
	e -= len(frac)
	trimmed := strings.TrimRight(digits, "0")
	e += len(digits) - len(trimmed)
	if trimmed == "" {
		return "0"
	}
	if neg {
		trimmed = "-" + trimmed
	}
	return trimmed + "e" + strconv.Itoa(e)
}
