"""Helpers shared by the test suites: a real lbaas-server process and an HTTP client."""
