"""The workspace HTTP API (and, later, its web pages): ``create_app(ws)`` builds the app."""

from raylake.web.app import create_app

__all__ = ["create_app"]
