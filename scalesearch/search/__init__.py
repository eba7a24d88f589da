"""Search backends: Optuna on one machine, Ray Tune on a cluster."""
