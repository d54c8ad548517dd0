"""Models the parity suite probes: one small table per kind of behaviour (JSON, strings, numbers, times)."""
