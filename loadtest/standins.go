package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// botIssuer is the iss of tokens from the Bot Framework channel.
const botIssuer = "https://api.botframework.com"

// server is an http.Server on a loopback port that counts the TCP
// connections it accepts (a client whose pool is too small keeps opening
// new ones).
type server struct {
	srv      *http.Server
	ln       net.Listener
	url      string // http://127.0.0.1:port
	newConns atomic.Int64
}

func startServer(h http.Handler) (*server, error) {
	s, err := listenServer()
	if err != nil {
		return nil, err
	}
	s.serve(h)
	return s, nil
}

// listenServer binds a loopback port; serve starts answering on it. Split
// so that a handler that reads the server's URL never races its creation.
func listenServer() (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return &server{ln: ln, url: "http://" + ln.Addr().String()}, nil
}

func (s *server) serve(h http.Handler) {
	s.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.newConns.Add(1)
			}
		},
	}
	go s.srv.Serve(s.ln)
}

func (s *server) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s.srv.Shutdown(ctx) != nil {
		s.srv.Close()
	}
}

// login stands in for login.botframework.com (OpenID metadata and the
// signing keys) and for the Entra ID token endpoint of the bot's tenant.
type login struct {
	*server
	key    *rsa.PrivateKey
	kid    string
	appID  string
	secret string
	tenant string
	token  string // the one access token handed out

	metaReqs, keyReqs, tokenReqs, badTokenReqs atomic.Int64
}

func newLogin(appID, secret, tenant string) (*login, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	l := &login{key: key, kid: "lt-" + randHex(8), appID: appID, secret: secret, tenant: tenant, token: "lt-access-" + randHex(24)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/.well-known/openidconfiguration", l.serveMetadata)
	mux.HandleFunc("GET /v1/.well-known/keys", l.serveKeys)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", l.serveToken)
	if l.server, err = listenServer(); err != nil {
		return nil, err
	}
	l.server.serve(mux)
	return l, nil
}

// metadataURL is ToBotFromChannelOpenIdMetadataUrl.
func (l *login) metadataURL() string { return l.url + "/v1/.well-known/openidconfiguration" }

// authority is ToChannelFromBotLoginUrl: the token endpoint is
// authority + /oauth2/v2.0/token.
func (l *login) authority() string { return l.url + "/" + l.tenant }

func (l *login) serveMetadata(w http.ResponseWriter, r *http.Request) {
	l.metaReqs.Add(1)
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                botIssuer,
		"jwks_uri":                              l.url + "/v1/.well-known/keys",
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"private_key_jwt"},
	})
}

func (l *login) serveKeys(w http.ResponseWriter, r *http.Request) {
	l.keyReqs.Add(1)
	pub := l.key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]any{{
		"kty":          "RSA",
		"use":          "sig",
		"kid":          l.kid,
		"n":            base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e":            base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		"endorsements": []string{"msteams"},
	}}})
}

// serveToken answers the client-credentials grant as Entra ID does.
func (l *login) serveToken(w http.ResponseWriter, r *http.Request) {
	l.tokenReqs.Add(1)
	if err := r.ParseForm(); err != nil ||
		r.PathValue("tenant") != l.tenant ||
		r.PostForm.Get("grant_type") != "client_credentials" ||
		r.PostForm.Get("client_id") != l.appID ||
		r.PostForm.Get("client_secret") != l.secret ||
		r.PostForm.Get("scope") != "https://api.botframework.com/.default" {
		l.badTokenReqs.Add(1)
		writeJSON(w, http.StatusUnauthorized, map[string]any{
			"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided (load test stand-in).",
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600, "access_token": l.token,
	})
}

// sign returns an RS256 token as the Bot Connector sends to the bot: issued
// by api.botframework.com, for the bot's app id, bound to serviceURL, valid
// for an hour.
func (l *login) sign(serviceURL string, now time.Time) (string, error) {
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": l.kid, "typ": "JWT"})
	claims, _ := json.Marshal(map[string]any{
		"serviceurl": serviceURL,
		"nbf":        now.Add(-5 * time.Minute).Unix(),
		"exp":        now.Add(time.Hour).Unix(),
		"iss":        botIssuer,
		"aud":        l.appID,
	})
	signing := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, l.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// reply is one activity the bot sent to a conversation.
type reply struct {
	at     time.Time // when the whole body had arrived
	method string
	id     string // the id the connector gave it
	body   []byte
}

// connector stands in for the Bot Connector at serviceUrl: it answers
// POST/PUT …/v3/conversations/{id}/activities[/{id}] and hands each
// activity to the simulated user of that conversation.
type connector struct {
	*server
	serviceURL string // as sent in activities: with a path and a trailing slash, like Teams'
	token      string // the bearer token the bot must present

	mu    sync.RWMutex
	convs map[string]*simUser

	posts, puts, unknownConv, unauthorized, badRequests, overflow atomic.Int64
	seq                                                           atomic.Int64
}

func newConnector(token, tenant string) (*connector, error) {
	c := &connector{token: token, convs: map[string]*simUser{}}
	var err error
	if c.server, err = listenServer(); err != nil {
		return nil, err
	}
	c.serviceURL = c.url + "/amer/" + tenant + "/" // Teams' regional form
	c.server.serve(c)
	return c, nil
}

// register routes the replies to conversation conv to u (nil: forget it).
func (c *connector) register(conv string, u *simUser) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if u == nil {
		delete(c.convs, conv)
		return
	}
	c.convs[conv] = u
}

func (c *connector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const marker = "/v3/conversations/"
	i := strings.Index(r.URL.Path, marker)
	if i < 0 {
		c.badRequests.Add(1)
		http.NotFound(w, r)
		return
	}
	conv, tail, _ := strings.Cut(r.URL.Path[i+len(marker):], "/")
	if tail != "activities" && !strings.HasPrefix(tail, "activities/") {
		c.badRequests.Add(1)
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+c.token {
		c.unauthorized.Add(1)
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Authorization has been denied for this request."})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		c.badRequests.Add(1)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	at := time.Now()
	status := http.StatusCreated
	switch r.Method {
	case http.MethodPost:
		c.posts.Add(1)
	case http.MethodPut:
		c.puts.Add(1)
		status = http.StatusOK
	default:
		c.badRequests.Add(1)
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	id := strconv.FormatInt(at.UnixMilli(), 10) + "-" + strconv.FormatInt(c.seq.Add(1), 10)
	c.mu.RLock()
	u := c.convs[conv]
	c.mu.RUnlock()
	if u == nil {
		c.unknownConv.Add(1) // seeding users, and stragglers of an earlier pass
	} else {
		select {
		case u.replies <- reply{at: at, method: r.Method, id: id, body: body}:
		default:
			c.overflow.Add(1)
		}
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	io.WriteString(w, `{"id":"`+id+`"}`)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// randB64 returns n random base64url characters.
func randB64(n int) string {
	b := make([]byte, (n*3+3)/4)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// newGUID returns a random lower-case version 4 GUID.
func newGUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// freePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

var errStopped = errors.New("stopped")
