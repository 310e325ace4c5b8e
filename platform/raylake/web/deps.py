"""What route handlers get injected: the app's workspace."""

from __future__ import annotations

from fastapi import Request

from raylake.workspace import Workspace


def workspace(request: Request) -> Workspace:
    return request.app.state.workspace
