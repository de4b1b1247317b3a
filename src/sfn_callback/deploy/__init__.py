"""Declarative stack spec, deterministic Lambda packaging, and an idempotent plan/apply deployer."""
