package bot

import (
	"context"
	"testing"
)

// BenchmarkValidator measures AuthenticateRequest on a valid RS256 token:
// cold is the full check (the verified-token cache is disabled), warm is a
// token the Validator has verified before (the Bot Connector reuses its token
// for about an hour, so this is the common case).
func BenchmarkValidator(b *testing.B) {
	srv := newOpenIDServer(b)
	header := authTestHeader(b, authTestServiceURL)
	act := authTestActivity()
	ctx := context.Background()
	newV := func(b *testing.B) *Validator {
		v := authTestValidator(b, srv, nil)
		if err := v.Refresh(ctx); err != nil {
			b.Fatal(err)
		}
		return v
	}

	b.Run("cold", func(b *testing.B) {
		v := newV(b)
		v.tokensMax = 0
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.AuthenticateRequest(ctx, act, header, nil, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm", func(b *testing.B) {
		v := newV(b)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.AuthenticateRequest(ctx, act, header, nil, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm-parallel", func(b *testing.B) {
		v := newV(b)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := v.AuthenticateRequest(ctx, act, header, nil, ""); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
