"""The Octavia v2 API, served under /v2/lbaas and /v2.0/lbaas (docs/architecture.md)."""
