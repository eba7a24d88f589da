"""Latency models calibrated per device: a designed sample measured once, a model fitted on exact
analytic counts, saved as a device profile that screens latency budgets without timing anything.

sample (which points) -> measure (trustworthy timings) -> features (analytic counts) -> model (fit,
chosen by held-out error) -> profile (JSON in the cache directory, refused on a setting mismatch)
-> predict (cost, screen, solve with ``--latency-profile``)."""
