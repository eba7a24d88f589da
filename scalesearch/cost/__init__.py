"""Cost of a point: params, FLOPs, activations (fvcore or analytic) and measured latency."""
