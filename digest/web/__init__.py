"""The readers' side of digest (``digest serve``): subscribe, confirm, preferences,
one-click unsubscribe and the archive, as a Starlette app. Start at :mod:`digest.web.app`."""

from digest.web.app import create_app

__all__ = ["create_app"]
