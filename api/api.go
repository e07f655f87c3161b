// Package api embeds silo's OpenAPI document, the contract of /api/v1.
package api

import _ "embed"

// Spec is api/openapi.yaml, the source of truth for /api/v1.
//
//go:embed openapi.yaml
var Spec []byte
