package manifest

import (
	"archive/zip"
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"
)

//go:embed manifest.json en-us.json color.png outline.png
var files embed.FS

// Files are the names of the files in the app package, in zip order. The
// package is flat: no directories.
var Files = []string{"manifest.json", "color.png", "outline.png", "en-us.json"}

// Placeholders in manifest.json.
const (
	botIDPlaceholder     = "${{BOT_ID}}"
	botDomainPlaceholder = "${{BOT_DOMAIN}}"
)

// zipTime is the modification time of every file in the zip, so that the
// same inputs give the same bytes.
var zipTime = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

var (
	guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	labelRE     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	numericRE   = regexp.MustCompile(`^[0-9]+$`)
)

// Build writes the Teams app package (a zip) for the bot whose Microsoft App
// ID is botID (a GUID: MicrosoftAppId) and whose public host name is
// botDomain (BOT_DOMAIN, e.g. mfabot.example.com: no scheme, port or path).
// Nothing is written when an argument is invalid; the error names the
// variable.
func Build(w io.Writer, botID, botDomain string) error {
	m, err := fill(botID, botDomain)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(w)
	for _, name := range Files {
		data := m
		if name != "manifest.json" {
			if data, err = files.ReadFile(name); err != nil {
				return fmt.Errorf("read embedded %s: %w", name, err)
			}
		}
		method := zip.Deflate
		if strings.HasSuffix(name, ".png") {
			method = zip.Store // already compressed
		}
		h := &zip.FileHeader{Name: name, Method: method, Modified: zipTime}
		h.SetMode(0o644)
		f, err := zw.CreateHeader(h)
		if err != nil {
			return fmt.Errorf("write %s to the app package: %w", name, err)
		}
		if _, err := f.Write(data); err != nil {
			return fmt.Errorf("write %s to the app package: %w", name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write the app package: %w", err)
	}
	return nil
}

// fill checks the arguments and returns manifest.json with the
// placeholders replaced.
func fill(botID, botDomain string) ([]byte, error) {
	id, err := checkBotID(botID)
	if err != nil {
		return nil, err
	}
	domain, err := checkBotDomain(botDomain)
	if err != nil {
		return nil, err
	}
	tmpl, err := files.ReadFile("manifest.json")
	if err != nil {
		return nil, fmt.Errorf("read embedded manifest.json: %w", err)
	}
	// Both values are checked to contain no JSON-special characters, so
	// plain text replacement keeps the JSON valid.
	m := bytes.ReplaceAll(tmpl, []byte(botIDPlaceholder), []byte(id))
	m = bytes.ReplaceAll(m, []byte(botDomainPlaceholder), []byte(domain))
	if i := bytes.Index(m, []byte("${{")); i >= 0 {
		end := min(i+40, len(m))
		return nil, fmt.Errorf("manifest.json has a placeholder Build does not fill: %s", m[i:end])
	}
	if !json.Valid(m) {
		return nil, fmt.Errorf("manifest.json is not valid JSON after filling the placeholders")
	}
	return m, nil
}

// checkBotID returns the app id in lower case, or an error naming
// MicrosoftAppId.
func checkBotID(id string) (string, error) {
	switch {
	case id == "":
		return "", fmt.Errorf("MicrosoftAppId is not set: the app package needs the Azure Bot's Microsoft App ID (a GUID such as 00000000-0000-0000-0000-000000000000)")
	case !guidPattern.MatchString(id):
		return "", fmt.Errorf("MicrosoftAppId %q is not a GUID: give the Azure Bot's Microsoft App ID (such as 00000000-0000-0000-0000-000000000000)", id)
	}
	return strings.ToLower(id), nil
}

// checkBotDomain returns the host name in lower case, or an error naming
// BOT_DOMAIN. It accepts DNS names of at least two labels (the bot must be
// reachable from Teams over https), not IP addresses.
func checkBotDomain(domain string) (string, error) {
	const example = "such as mfabot.example.com or mfabot.azurewebsites.net"
	if domain == "" {
		return "", fmt.Errorf("BOT_DOMAIN is not set: the app package needs the bot's public host name (%s)", example)
	}
	if strings.Contains(domain, "://") || strings.ContainsAny(domain, "/:?#@") {
		return "", fmt.Errorf("BOT_DOMAIN %q must be a host name only, without scheme, port or path (%s)", domain, example)
	}
	d := strings.ToLower(domain)
	labels := strings.Split(d, ".")
	if len(d) > 253 || len(labels) < 2 {
		return "", fmt.Errorf("BOT_DOMAIN %q is not a public DNS host name (%s)", domain, example)
	}
	for _, l := range labels {
		if !labelRE.MatchString(l) {
			return "", fmt.Errorf("BOT_DOMAIN %q is not a valid DNS host name: label %q (%s)", domain, l, example)
		}
	}
	if numericRE.MatchString(labels[len(labels)-1]) {
		return "", fmt.Errorf("BOT_DOMAIN %q is an IP address; Teams needs the bot's DNS host name (%s)", domain, example)
	}
	return d, nil
}
