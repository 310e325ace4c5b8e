"""Token authentication for the Ray that raylake starts.

Ray 2.60 binds its GCS, raylet and agent ports on every interface, and an open Ray port lets
anyone run code. With ``RAY_AUTH_MODE=token`` every Ray process and client must present the
cluster token (read from ``RAY_AUTH_TOKEN_PATH``, else ``RAY_AUTH_TOKEN``, else
``~/.ray/auth_token``). Ray would fall back to a token in ``~/.ray/auth_token``, shared by every
Ray on the machine and created world-readable; raylake keeps one per workspace instead, in the
home, readable by its owner only. Processes Ray starts inherit the environment set here.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger(__name__)

TOKEN_FILE = "ray_auth_token"


def token_path(home: Path) -> Path:
    return home / TOKEN_FILE


def ensure_token_file(home: Path) -> Path:
    """The workspace's Ray token file, created once (mode 0600) and kept owner-only."""
    path = token_path(home)
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{TOKEN_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode())  # what `ray get-auth-token` makes
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic and refuses to replace: two starters keep one token
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s was readable by others (mode %o); making it owner-only", path, mode)
        path.chmod(0o600)
    return path


def enable_token_auth(home: Path) -> Path | None:
    """Set this process's environment so the Ray it starts (and that Ray's workers, RayDP's
    JVMs included) require the workspace token. ``RAY_AUTH_MODE=disabled`` set by the user
    is respected. Returns the token file, or None when disabled."""
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        log.warning("RAY_AUTH_MODE=disabled: the local Ray accepts anyone who reaches its ports")
        return None
    path = ensure_token_file(home)
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN_PATH"] = str(path)
    os.environ.pop("RAY_AUTH_TOKEN", None)  # it would win over the file
    # Ray caches the mode and the token per process (C++ singletons): an earlier Ray in this
    # process may have used another workspace's token. Config first, then the token cache
    # (the order Ray's own test utilities use).
    from ray._raylet import AuthenticationTokenLoader, Config

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()
    return path
