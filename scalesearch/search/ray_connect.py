"""Connecting the Ray backend's driver: a local Ray or a cluster by address (bad addresses and
impossible resource requests fail within seconds), and the code the workers need shipped to them."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from scalesearch.errors import ScalesearchError, UsageError
from scalesearch.search.interrupts import Interrupted
from scalesearch.search.ray_records import say


def check_options(
    address: str | None, cpus_per_trial: float, gpus_per_trial: float, max_concurrent: int | None
) -> None:
    """The Ray options of ``run``, checked before anything else (a wrong address fails in seconds)."""
    if cpus_per_trial <= 0:
        raise UsageError(f"--cpus-per-trial must be > 0, but got --cpus-per-trial {cpus_per_trial:g}")
    if gpus_per_trial < 0:
        raise UsageError(f"--gpus-per-trial must be >= 0, but got --gpus-per-trial {gpus_per_trial:g}")
    if max_concurrent is not None and max_concurrent < 1:
        raise UsageError(f"--max-concurrent must be >= 1, but got --max-concurrent {max_concurrent}")
    if address and address not in ("auto",) and not address.startswith("ray://"):
        from scalesearch.cluster.connection import check_reachable

        check_reachable(address)


def _register_by_value() -> None:
    """Ship experiment files' modules by value: the workers do not have the files."""
    import ray.cloudpickle as cloudpickle

    for name, module in list(sys.modules.items()):
        if name.startswith("scalesearch_experiment_") and module is not None:
            cloudpickle.register_pickle_by_value(module)


def _import_eagerly() -> None:
    """Import what the driver needs before Ray starts: inside a Ray job the working directory
    (where scalesearch may be imported from) can be re-created under the running driver."""
    import ray.tune.schedulers  # noqa: F401
    import ray.tune.search.optuna  # noqa: F401

    import scalesearch.search.optuna_sampling  # noqa: F401
    import scalesearch.search.tune_space  # noqa: F401
    import scalesearch.train.loop  # noqa: F401
    from scalesearch.registry import families

    families()


def _code_runtime_env() -> dict[str, Any]:
    """Ship scalesearch and searchspaces to the workers of a cluster we connect to by address."""
    from scalesearch.cluster.connection import package_dir

    return {
        "py_modules": [str(package_dir("scalesearch")), str(package_dir("searchspaces"))],
        "excludes": ["**/__pycache__", "*.pyc"],
    }


def connect(address: str | None) -> None:
    """Start a local Ray or join the cluster at ``address``; bad addresses fail within seconds.

    Token authentication follows Ray's rules: a local or ``auto`` cluster uses a token found in
    RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH / ~/.ray/auth_token; an explicit address needs
    ``RAY_AUTH_MODE=token`` (a token-mode driver on a cluster without authentication, or the
    reverse, does not work, so it is not guessed).
    """
    from scalesearch.cluster.connection import check_reachable, token_available

    if address and address.startswith("ray://"):
        raise UsageError(
            f"--address {address}: Ray Client addresses are not supported; use the cluster's GCS "
            "address (HOST:6379) from a machine of the cluster, or `scalesearch submit`"
        )
    if address and address != "auto":
        check_reachable(address)
    import ray

    kwargs: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
    try:
        if address is None:
            ray.init(include_dashboard=False, **kwargs)
        elif address == "auto":
            ray.init(address="auto", **kwargs)
        else:
            ray.init(address=address, runtime_env=_code_runtime_env(), **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as err:
        hint = ""
        if address and os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
            hint = "; if the cluster uses token authentication, export RAY_AUTH_MODE=token" + (
                ""
                if token_available()
                else " and give its token (RAY_AUTH_TOKEN, or the file "
                "~/.ray/auth_token; `ray get-auth-token` on the head prints it)"
            )
        elif address and not token_available():
            hint = "; RAY_AUTH_MODE=token but no token found (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token)"
        raise ScalesearchError(f"cannot connect to the Ray cluster at {address}: {err}{hint}") from None


def check_resources(cpus_per_trial: float, gpus_per_trial: float) -> None:
    """Fail at once when no node can ever hold one trial (instead of trials pending forever)."""
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    max_cpu = max((n["Resources"].get("CPU", 0.0) for n in nodes), default=0.0)
    max_gpu = max((n["Resources"].get("GPU", 0.0) for n in nodes), default=0.0)
    total_gpu = sum(n["Resources"].get("GPU", 0.0) for n in nodes)
    if gpus_per_trial > max_gpu:
        have = "has no GPUs" if total_gpu == 0 else f"has at most {max_gpu:g} GPU(s) on one node"
        raise ScalesearchError(
            f"--gpus-per-trial {gpus_per_trial:g}: the Ray cluster ({len(nodes)} node(s)) {have}, so no trial "
            "could ever start; use --gpus-per-trial 0 or add GPU nodes"
        )
    if cpus_per_trial > max_cpu:
        raise ScalesearchError(
            f"--cpus-per-trial {cpus_per_trial:g}: no node of the Ray cluster has that many CPUs "
            f"(largest: {max_cpu:g}), so no trial could ever start; lower --cpus-per-trial"
        )


_SIGTERM_BEFORE_RAY: list[Any] = []


def start_ray(address: str | None, cpus_per_trial: float, gpus_per_trial: float) -> None:
    """Connect (local Ray or ``address``), check that a trial fits a node, ship the experiment's code."""
    _import_eagerly()
    os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "5")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # with verbose=0: our one line per trial only
    if threading.current_thread() is threading.main_thread():
        _SIGTERM_BEFORE_RAY[:] = [signal.getsignal(signal.SIGTERM)]  # ray.init installs sys.exit on SIGTERM
    connect(address)
    check_resources(cpus_per_trial, gpus_per_trial)
    _register_by_value()


def stop_ray() -> None:
    """Shut Ray down and give SIGTERM back its handler from before ``ray.init``: Ray's own handler
    (``sys.exit`` from inside whatever runs) must not outlive Ray, or a late SIGTERM during the
    interpreter's teardown prints "Exception ignored ... SystemExit" tracebacks."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    if _SIGTERM_BEFORE_RAY and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _SIGTERM_BEFORE_RAY.pop() or signal.SIG_DFL)


@contextmanager
def stop_on_signals() -> Iterator[list[str]]:
    """SIGINT and SIGTERM stop the run as Tune's own Ctrl-C does: Tune saves the experiment's state
    and returns, so the run resumes; the signal's name is appended to the yielded list. A second
    signal stops at once."""
    received: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        tune_handler = signal.getsignal(signal.SIGUSR1)
        if received or not callable(tune_handler):
            raise Interrupted(name)
        received.append(name)
        logging.getLogger("ray.tune.tune").setLevel(logging.ERROR)  # our line says how to resume
        say(f"{name} received: stopping once Tune has saved its state (send it again to stop at once)")
        os.kill(os.getpid(), signal.SIGUSR1)  # Tune's own stop request (its SIGINT handler is off)

    before_env = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        if before_env is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = before_env
