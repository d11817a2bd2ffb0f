// Package manifest builds the Microsoft Teams app package of the bot: the
// zip that an administrator uploads in the Teams admin center (or a
// developer sideloads) so that employees can add the bot.
//
// The package is flat: manifest.json (schema v1.30), color.png (192×192),
// outline.png (32×32) and en-us.json, the English strings. The manifest's
// own strings are Japanese (localizationInfo.defaultLanguageTag "ja-jp", the
// language Teams falls back to); clients set to English get en-us.json.
//
// manifest.json is a template with two placeholders, filled by Build:
//
//	${{BOT_ID}}      the Azure Bot's Microsoft App ID (MicrosoftAppId), which
//	                 is also the Teams app id and the webApplicationInfo id
//	${{BOT_DOMAIN}}  the bot's public host name (BOT_DOMAIN), for validDomains
//	                 and the webApplicationInfo resource api://BOT_DOMAIN/BOT_ID
//
// The developer URLs point at intranet.example.com, a placeholder for the
// company's own pages: replace them in manifest.json before publishing the
// app beyond a test tenant. Raise "version" for every package uploaded again.
//
// The icons are drawn by ColorIcon and OutlineIcon (icons.go); the committed
// PNGs must equal what they render, and
//
//	go test ./manifest -run TestManifestIcons -update
//
// rewrites them. The tests validate the built package offline against the
// official JSON schemas bundled in npm @microsoft/app-manifest
// (e2e/validate-manifest.js).
//
// The package performs no I/O beyond writing the zip to the given writer.
package manifest
