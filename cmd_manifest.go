package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/smartswap/mfabot/manifest"
)

// runManifest is `mfabot manifest [-out app.zip]`: it writes the Teams app
// package for the bot named by MicrosoftAppId and BOT_DOMAIN (see package
// manifest) and exits; it starts no server.
func runManifest(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("manifest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "app.zip", "where to write the Teams app package")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: mfabot manifest [-out app.zip]

Writes the Teams app package (manifest.json, color.png, outline.png,
en-us.json in one flat zip) to upload in the Teams admin center.

Environment:
  MicrosoftAppId  the Azure Bot's Microsoft App ID (GUID): app id and bot id
  BOT_DOMAIN      the bot's public host name, e.g. mfabot.example.com

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return &usageError{"manifest: " + err.Error()}
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return &usageError{fmt.Sprintf("manifest: unexpected argument %q (the only flag is -out)", fs.Arg(0))}
	}
	if *out == "" {
		return errors.New("manifest: -out is empty")
	}

	var pkg bytes.Buffer
	if err := manifest.Build(&pkg, strings.TrimSpace(getenv("MicrosoftAppId")), strings.TrimSpace(getenv("BOT_DOMAIN"))); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if err := writeFileAtomic(*out, pkg.Bytes()); err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %s (%d bytes): %s\n", *out, pkg.Len(), strings.Join(manifest.Files, ", "))
	return nil
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it, so that path never holds a partial zip.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
