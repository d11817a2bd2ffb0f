package bot

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/infracloudio/msbotbuilder-go/schema"
)

// BenchmarkTurn is one whole turn through the HTTP handler: JWT
// verification (the verified-token cache warm, as with the Bot Connector's
// hour-long tokens), the duplicate check in a real Redis, the handler, and
// the reply POSTed to a loopback connector stand-in.
//
//	go test ./bot -run '^$' -bench BenchmarkTurn -benchmem
func BenchmarkTurn(b *testing.B) {
	tb := newAuthedTestBot(b)
	base := tb.activity(schema.Message, "", "hello")
	header := authTestHeader(b, base.ServiceURL)
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a := base
			a.ID = "bench-" + strconv.FormatInt(n.Add(1), 10) + "-" + uniqueID(b)
			if rec := tb.post(b, a, header); rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}
