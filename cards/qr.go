package cards

import (
	"encoding/base64"
	"fmt"

	"github.com/skip2/go-qrcode"
)

// qrSize is the side of a store QR code image in pixels: large enough to
// scan from a laptop screen, small enough to keep the card far under
// Teams' size limit (about 1 KB of PNG each).
const qrSize = 160

// qrDataURI renders s as a QR code PNG in a data: URI.
func qrDataURI(s string) (string, error) {
	png, err := qrcode.Encode(s, qrcode.Medium, qrSize)
	if err != nil {
		return "", fmt.Errorf("qr code for %q: %w", s, err)
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(png), nil
}
