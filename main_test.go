package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smartswap/mfabot/internal/config"
)

func TestRunServesAndStopsGracefully(t *testing.T) {
	port := freePort(t)
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"mfabot"}, env(map[string]string{"PORT": strconv.Itoa(port)}), &logs, &logs)
	}()
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	ready := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ready = true
				break
			}
		}
	}
	if !ready {
		cancel()
		t.Fatalf("bot never became ready; logs:\n%s", logs.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("run did not stop after its context ended")
	}
	out := logs.String()
	for _, want := range []string{`"mode":"local"`, `"redis":"embedded (miniredis; state is not durable)"`, `"listen":"127.0.0.1:`, `"msg":"stopped"`} {
		if !strings.Contains(out, want) {
			t.Errorf("start-up/shutdown logs lack %s:\n%s", want, out)
		}
	}
}

func TestRunRefusesBadConfiguration(t *testing.T) {
	err := run(context.Background(), nil, env(map[string]string{"MicrosoftAppId": "not-a-guid"}), os.Stdout, os.Stderr)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Var != "MicrosoftAppId" {
		t.Fatalf("err = %v, want a configError naming MicrosoftAppId", err)
	}
}

func TestRunRefusesBadStepsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "steps.json")
	os.WriteFile(path, []byte(`{"version":1,"steps":[]}`), 0o600)
	err := run(context.Background(), nil, env(map[string]string{"STEPS_FILE": path, "PORT": strconv.Itoa(freePort(t))}), os.Stdout, os.Stderr)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want one naming %s", err, path)
	}
	err = run(context.Background(), nil, env(map[string]string{"STEPS_FILE": path + ".missing"}), os.Stdout, os.Stderr)
	if err == nil || !strings.Contains(err.Error(), "STEPS_FILE") {
		t.Fatalf("missing file: err = %v", err)
	}
}
