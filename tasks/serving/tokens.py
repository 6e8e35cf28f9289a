"""The API's tokens: `name:token` pairs (a person's or a bot's name, its secret), compared in
constant time. A token is never shown: errors name the pair's position and its name only."""

from __future__ import annotations

import hmac

MIN_TOKEN_CHARS = 16


class Tokens:
    """The tokens the API accepts, by name; empty when none is configured (writes are off)."""

    def __init__(self, by_name: dict[str, str]) -> None:
        self._by_name = dict(by_name)

    @classmethod
    def parse(cls, text: str | None, where: str) -> Tokens:
        """Read `name:token,name:token`; ValueError naming `where` and the bad pair's position
        (never its token) for a pair without a name, a short token or a name used twice."""
        by_name: dict[str, str] = {}
        for number, pair in enumerate((text or "").split(","), start=1):
            if not pair.strip():
                continue
            name, sep, token = pair.strip().partition(":")
            if not sep or not name.strip():
                raise ValueError(f"{where}: pair {number} is not `name:token`")
            if len(token.strip()) < MIN_TOKEN_CHARS:
                raise ValueError(
                    f"{where}: the token of {name.strip()!r} is shorter than "
                    f"{MIN_TOKEN_CHARS} characters"
                )
            if name.strip() in by_name:
                raise ValueError(f"{where}: {name.strip()!r} is named twice")
            by_name[name.strip()] = token.strip()
        return cls(by_name)

    def __bool__(self) -> bool:
        return bool(self._by_name)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def who(self, presented: str | None) -> str | None:
        """The name whose token was presented, or None. Every token is compared, each in
        constant time, so the time taken says nothing about which (or how much) matched."""
        if not presented:
            return None
        given = presented.encode()
        found = None
        for name, token in self._by_name.items():
            if hmac.compare_digest(given, token.encode()):
                found = name
        return found

    def __repr__(self) -> str:  # never the tokens
        return f"Tokens(names={self.names()})"
