package sandbox

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// maxBatchRequests is the most requests Graph takes in one JSON batch.
const maxBatchRequests = 20

// batchRequestJSON is one request of a JSON batch.
type batchRequestJSON struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"` // relative to the version: /users/{id}/…
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
	// DependsOn is refused: the sandbox does not sequence requests.
	DependsOn []string `json:"dependsOn"`
}

// batchResponseJSON is one answer of a JSON batch, but for its body.
type batchResponseJSON struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	// body is the answer's "body": its JSON body, a base64 string for any
	// other body, nil for none. writeBatch writes it after the fields above.
	body []byte
}

// batch: POST /$batch with {"requests":[{"id","method","url","headers"?,
// "body"?}]}, at most 20 of them with distinct ids → 200
// {"responses":[{"id","status","headers","body"}]}, in request order. Each
// request goes through serveGraph as a top-level one would, on its own:
// throttle, fault, routing, and its own request-id. A batch that is not
// well formed is refused as a whole with 400 BadRequest; a batch inside a
// batch, and dependsOn, are refused too.
//
// Graph API docs: https://learn.microsoft.com/graph/json-batching
func (c *graphCall) batch() {
	if c.batched {
		c.error(http.StatusBadRequest, "BadRequest", "A batch request cannot be nested inside a batch.")
		return
	}
	raw, err := io.ReadAll(io.LimitReader(c.r.Body, 4<<20))
	if err != nil {
		c.error(http.StatusBadRequest, "BadRequest", "The request body could not be read.")
		return
	}
	var in struct {
		Requests []batchRequestJSON `json:"requests"`
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		c.error(http.StatusBadRequest, "BadRequest", "Invalid batch payload format: "+jsonProblem(err)+".")
		return
	}
	if problem := batchProblem(in.Requests); problem != "" {
		c.error(http.StatusBadRequest, "BadRequest", problem)
		return
	}
	out := make([]batchResponseJSON, 0, len(in.Requests))
	for _, br := range in.Requests {
		a, ok := c.batchOne(br)
		if !ok {
			return // the client has gone (see Fault.Delay)
		}
		out = append(out, a)
	}
	c.writeBatch(out)
}

// writeBatch answers 200 {"responses":[…]}. It writes the JSON itself so
// that each body, JSON the sandbox encoded, goes in as it is: encoding/json
// would validate and compact every body again, which costs as much as
// answering.
func (c *graphCall) writeBatch(answers []batchResponseJSON) {
	var buf bytes.Buffer
	buf.WriteString(`{"responses":[`)
	for k, a := range answers {
		if k > 0 {
			buf.WriteByte(',')
		}
		head, _ := json.Marshal(a) // {"id":…,"status":…,"headers":{…}}
		buf.Write(head[:len(head)-1])
		if a.body != nil {
			buf.WriteString(`,"body":`)
			buf.Write(a.body)
		}
		buf.WriteByte('}')
	}
	buf.WriteString("]}\n")
	c.w.Header().Set("Content-Type", graphContentType)
	c.w.WriteHeader(http.StatusOK)
	_, _ = c.w.Write(buf.Bytes())
}

// batchProblem says what makes a batch's requests unacceptable, or "".
func batchProblem(reqs []batchRequestJSON) string {
	switch {
	case len(reqs) == 0:
		return "Invalid batch payload format: the batch holds no requests."
	case len(reqs) > maxBatchRequests:
		return fmt.Sprintf("The batch holds %d requests, which exceeds the limit of %d.", len(reqs), maxBatchRequests)
	}
	ids := make(map[string]bool, len(reqs))
	for _, br := range reqs {
		switch {
		case br.ID == "" || br.Method == "" || br.URL == "":
			return "Invalid batch payload format: every request needs an id, a method and a url."
		case ids[br.ID]:
			return "The batch holds more than one request with the id '" + br.ID + "'."
		case len(br.DependsOn) > 0:
			return "The sandbox does not support dependsOn in batches."
		}
		ids[br.ID] = true
	}
	return ""
}

// batchOne serves one request of a batch and returns its answer; false if
// the batch's request ended before it was answered.
func (c *graphCall) batchOne(br batchRequestJSON) (batchResponseJSON, bool) {
	rel, err := url.Parse(br.URL)
	if err != nil || rel.IsAbs() || rel.Host != "" {
		return c.batchError(br.ID, http.StatusBadRequest, "BadRequest",
			"The url of request '"+br.ID+"' must be relative to the version, e.g. /users/{id}."), true
	}
	var body io.Reader
	if len(br.Body) > 0 {
		body = bytes.NewReader(br.Body)
	}
	target := c.prefix + "/" + strings.TrimPrefix(br.URL, "/")
	r, err := http.NewRequestWithContext(c.r.Context(), strings.ToUpper(br.Method), target, body)
	if err != nil {
		return c.batchError(br.ID, http.StatusBadRequest, "BadRequest", "Request '"+br.ID+"' is not a valid request."), true
	}
	r.Host, r.RemoteAddr, r.TLS = c.r.Host, c.r.RemoteAddr, c.r.TLS
	for k, v := range br.Headers {
		r.Header.Set(k, v)
	}
	if body != nil && r.Header.Get("Content-Type") == "" {
		r.Header.Set("Content-Type", "application/json")
	}
	rec := &recorder{header: http.Header{}}
	c.s.serveGraph(rec, r, c.prefix, true)
	if rec.status == 0 {
		return batchResponseJSON{}, false
	}
	return rec.answer(br.ID), true
}

// batchError is a batch answer carrying a Graph error, for a request the
// sandbox could not even dispatch.
func (c *graphCall) batchError(id string, status int, code, message string) batchResponseJSON {
	rec := &recorder{header: http.Header{}}
	sub := *c
	sub.w = rec
	sub.error(status, code, message)
	return rec.answer(id)
}

// recorder is the http.ResponseWriter of a request inside a batch.
type recorder struct {
	header http.Header
	status int // 0 until the header is written
	body   bytes.Buffer
}

func (rec *recorder) Header() http.Header { return rec.header }

func (rec *recorder) WriteHeader(status int) {
	if rec.status == 0 {
		rec.status = status
	}
}

func (rec *recorder) Write(b []byte) (int, error) {
	rec.WriteHeader(http.StatusOK)
	return rec.body.Write(b)
}

// answer is what the recorder holds as the batch answer to request id:
// every header by name (values joined by ", "), and the body as JSON when
// it is JSON, else as a base64 string, as Graph does.
func (rec *recorder) answer(id string) batchResponseJSON {
	a := batchResponseJSON{ID: id, Status: rec.status, Headers: make(map[string]string, len(rec.header))}
	for k, v := range rec.header {
		a.Headers[k] = strings.Join(v, ", ")
	}
	switch mt, _, _ := mime.ParseMediaType(rec.header.Get("Content-Type")); {
	case rec.body.Len() == 0:
	case mt == "application/json":
		a.body = bytes.TrimSpace(rec.body.Bytes())
	default:
		a.body, _ = json.Marshal(base64.StdEncoding.EncodeToString(rec.body.Bytes()))
	}
	return a
}
