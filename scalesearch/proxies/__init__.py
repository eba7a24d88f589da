"""Zero-cost proxies: scores of an untrained network on one batch, always shown beside their
baselines (params, FLOPs, activations), since on public benchmarks the best proxy barely beats the
parameter count.

- :mod:`.scores`: the five proxies (synflow, NASWOT, grad_norm, snip, jacob_cov);
- :mod:`.evaluate`: their Spearman, Kendall and top-10 % precision against a run's accuracies;
- :mod:`.rank`: a sample of points ranked by a proxy or a baseline, the top k kept (a stage's
  :class:`~scalesearch.experiment.Prefilter`).

This module imports no torch: the names are read by the experiment validation.
"""

from __future__ import annotations

PROXIES = ("synflow", "naswot", "grad_norm", "snip", "jacob_cov")
"""The zero-cost proxies; for each, higher means predicted better."""
BASELINES = ("params", "flops", "activations")
"""Cost baselines shown beside the proxies (FLOPs: fvcore's convention, 1 multiply-add = 1 flop)."""
SCORES = PROXIES + BASELINES

__all__ = ["BASELINES", "PROXIES", "SCORES"]
