"""The notifier: the one module that talks to apprise (Slack, email, a generic webhook...). The
target URL is a secret handed in at run time; it is never logged or stored."""

from __future__ import annotations

from pydantic import BaseModel


class Delivery(BaseModel):
    """Whether one notification went out (no URL configured: not attempted)."""

    title: str
    attempted: bool
    delivered: bool


class Notifier:
    """Sends notifications to one apprise URL (None: notifications are off)."""

    def __init__(self, url: str | None) -> None:
        self._url = url

    @property
    def enabled(self) -> bool:
        return bool(self._url)

    def send(self, title: str, body: str) -> Delivery:
        if not self._url:
            return Delivery(title=title, attempted=False, delivered=False)
        import apprise

        target = apprise.Apprise()  # apprise's own connect/read timeouts: 4 s each
        if not target.add(self._url):
            return Delivery(title=title, attempted=True, delivered=False)
        return Delivery(
            title=title, attempted=True, delivered=bool(target.notify(body=body, title=title))
        )

    def __repr__(self) -> str:  # never show the secret URL
        return f"Notifier(enabled={self.enabled})"
