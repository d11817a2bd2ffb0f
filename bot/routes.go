package bot

import "net/http"

// addRoutes lists the bot's whole HTTP surface.
func (s *Server) addRoutes(mux *http.ServeMux) {
	mux.Handle("POST /api/messages", s.handleMessages())
	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /readyz", s.handleReadyz())
	for pattern, h := range s.opts.Mounts {
		mux.Handle(pattern, h)
	}
}
