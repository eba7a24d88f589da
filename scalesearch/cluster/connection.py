"""Reaching a Ray cluster: token authentication, addresses and reachability, package locations.

Token authentication: a token in ``RAY_AUTH_TOKEN``, the file ``RAY_AUTH_TOKEN_PATH`` or
``~/.ray/auth_token`` goes to the job server as a bearer header (harmless where the cluster
does not check it) unless ``RAY_AUTH_MODE=disabled`` is set explicitly. Authentication is
never switched off here. Used by the job client and by the Ray backend's driver.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

from scalesearch.errors import ScalesearchError, UsageError

CONNECT_TIMEOUT_S = 3.0
DEFAULT_DASHBOARD_PORT = 8265


# --------------------------------------------------------------------------- authentication


def token_available() -> bool:
    return auth_token() is not None


def auth_token() -> str | None:
    """The cluster token, looked up as Ray does: RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token."""
    token = os.environ.get("RAY_AUTH_TOKEN", "").strip()
    if token:
        return token
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path:
        try:
            token = Path(path).expanduser().read_text().strip()
        except OSError as err:
            raise ScalesearchError(f"RAY_AUTH_TOKEN_PATH={path} cannot be read: {err.strerror}") from None
        if not token:
            raise ScalesearchError(f"RAY_AUTH_TOKEN_PATH={path} is empty")
        return token
    default = Path.home() / ".ray" / "auth_token"
    if default.is_file():
        return default.read_text().strip() or None
    return None


def auth_headers() -> dict[str, str]:
    """The bearer header for the job server, when a token is at hand and auth is not disabled."""
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return {}
    token = auth_token()
    return {"Authorization": f"Bearer {token}"} if token else {}


# --------------------------------------------------------------------------- addresses


def _host_port(address: str, default_port: int | None) -> tuple[str, int]:
    text = address if "://" in address else f"//{address}"
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"--address {address}: the port is not a number") from None
    if not parts.hostname:
        raise UsageError(f"--address {address}: give HOST:PORT, e.g. 127.0.0.1:6379 or http://HEAD:8265")
    port = port or default_port
    if port is None:
        raise UsageError(f"--address {address}: give HOST:PORT, e.g. 127.0.0.1:6379")
    return parts.hostname, port


def check_reachable(
    address: str, timeout: float = CONNECT_TIMEOUT_S, default_port: int | None = None
) -> None:
    """Fail within ``timeout`` seconds, with a clear message, when nothing listens at ``address``."""
    host, port = _host_port(address, default_port)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return
    except TimeoutError:
        why = f"no answer within {timeout:g} s"
    except OSError as err:
        why = err.strerror or str(err)
    raise ScalesearchError(
        f"cannot reach the Ray cluster at {address} ({host}:{port}: {why}); check the "
        "address, or start a cluster with `ray start --head`"
    )


def dashboard_address(address: str | None) -> str:
    address = address or os.environ.get("RAY_API_SERVER_ADDRESS") or ""
    if not address:
        raise UsageError(
            "give the Ray job server address: --address http://HEAD:8265 (or set RAY_API_SERVER_ADDRESS)"
        )
    if "://" not in address:
        address = f"http://{address}"
    return address.rstrip("/")


def package_dir(name: str) -> Path:
    """The directory of an imported package (namespace packages included)."""
    import importlib

    module = importlib.import_module(name)
    if module.__file__:
        return Path(module.__file__).resolve().parent
    return Path(next(iter(module.__path__))).resolve()
