package graph

import (
	"context"
	"fmt"

	abs "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
)

// maxPages bounds @odata.nextLink following; a user has a handful of methods.
const maxPages = 20

// pageRequest makes the GET request of a collection's first page (next is
// "") or of the page at next, an @odata.nextLink. Each list call writes its
// own from its request builder:
//
//	func(ctx context.Context, next string) (*abs.RequestInformation, error) {
//		if next != "" {
//			rb = rb.WithUrl(next)
//		}
//		return rb.ToGetRequestInformation(ctx, nil)
//	}
//
// rather than through a generic helper constrained by the builders' methods:
// that helper grew the bot's binary from 27 MB to 58 MB (the linker then kept
// the builders' other methods and, through them, the Graph model).
type pageRequest func(ctx context.Context, next string) (*abs.RequestInformation, error)

// listPages reads a collection for op: the first page, then the pages its
// @odata.nextLink chain names, at most maxPages in all. newItem decodes one
// item into an itemView[T]. The whole chain is one call of c.call: one
// timeout, one Observer report, throttling retries per page.
func listPages[T any](ctx context.Context, c *Client, op string, newItem absser.ParsableFactory, req pageRequest) ([]T, error) {
	var out []T
	newPage := pageOf[T](newItem)
	err := c.call(ctx, op, func(ctx context.Context) error {
		next := ""
		for n := 1; ; n++ {
			ri, err := req(ctx, next)
			if err != nil {
				return err
			}
			res, err := c.adapter.Send(ctx, ri, newPage, odataErrorMapping)
			if err != nil {
				return err
			}
			p, _ := res.(*page[T])
			if p == nil {
				return nil
			}
			out = append(out, p.value...)
			if p.nextLink == "" {
				return nil
			}
			if n >= maxPages {
				return invalidArg(op, fmt.Sprintf("more than %d pages of methods", maxPages))
			}
			next = p.nextLink
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// eachPage reads a collection for op page by page, without a bound on the
// number of pages, starting at from (an @odata.nextLink a previous walk
// handed out, or "" for the first page), and hands each page to fn with the
// link of the page after it ("" after the last) before asking for that
// page, so a caller can persist where to resume. Unlike listPages, every
// page is a call of its own (one timeout, one Observer report, throttling
// retries each): a tenant's users take many pages and more than one call's
// time. A canceled ctx ends the walk at the next page with a canceled
// Error. fn runs outside c.call: its error is returned as is, and the time
// it takes counts against no timeout. An empty page with a next link is
// handed to fn too, so that the cursor still moves on.
func eachPage[T any](ctx context.Context, c *Client, op, from string, newItem absser.ParsableFactory, req pageRequest, fn func(page []T, next string) error) error {
	newPage := pageOf[T](newItem)
	next := from
	for {
		var p *page[T]
		err := c.call(ctx, op, func(ctx context.Context) error {
			ri, err := req(ctx, next)
			if err != nil {
				return err
			}
			res, err := c.adapter.Send(ctx, ri, newPage, odataErrorMapping)
			if err != nil {
				return err
			}
			p, _ = res.(*page[T])
			return nil
		})
		if err != nil {
			return err
		}
		if p == nil {
			return fn(nil, "")
		}
		if err := fn(p.value, p.nextLink); err != nil {
			return err
		}
		if p.nextLink == "" {
			return nil
		}
		next = p.nextLink
	}
}
