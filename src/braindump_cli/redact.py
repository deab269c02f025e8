"""Keep passwords and tokens out of everything bd prints or logs.

Redaction errs on the side of masking too much: a password containing `@`, `/`, `?` or `#` (legal
in SQLAlchemy URLs, which split the user info at the last `@`) must not leak its tail, so the user
info of a URL is masked up to the last `@` of the same whitespace-free token.
"""

from __future__ import annotations

import re

MASK = "***"

# scheme://user:password@  (the password runs to the LAST `@` of the token, see the module docstring)
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*):(?P<pw>\S*)@")
# password=..., DB_PASSWORD: ..., "api_key": "...", --token=...  (keys that END in a secret word, so
# `num_tokens: 16` or `password_file=...` stay readable)
_SENSITIVE_KEYS = (
    r"password|passwd|pwd|passphrase|token|secret|api[_-]?key|access[_-]?key|private[_-]?key|secret[_-]?key"
    r"|key[_-]data|credentials?"
)
_KEY_VALUE = re.compile(
    rf"(?P<key>\b[\w.\-]*?(?P<word>{_SENSITIVE_KEYS})[\"']?\s*[=:]\s*[\"']?)(?P<val>[^\s&;,'\"]+)",
    re.IGNORECASE,
)
_AUTH_HEADER = re.compile(r"(?P<key>\bauthorization[\"']?\s*[=:]\s*[\"']?(?:\w+\s+)?)(?P<val>[^\s,;'\"]+)", re.I)
_BEARER = re.compile(r"(?P<key>\bbearer\s+)(?P<val>[A-Za-z0-9._~+/=\-]+)", re.IGNORECASE)
_INTEGER = re.compile(r"[+-]?\d+")


def redact_url(url: str) -> str:
    """`postgresql://user:secret@host/db` -> `postgresql://user:***@host/db`; URLs without secrets unchanged.

    Query parameters such as `?password=...` are masked too.
    """
    return redact_text(url)


def _mask_pair(m: re.Match[str]) -> str:
    # A Cassandra token (`token: -9223372036854775808`) is a ring position, not a credential.
    if m["word"].lower() == "token" and _INTEGER.fullmatch(m["val"]):
        return m[0]
    return f"{m['key']}{MASK}"


def redact_text(text: str, *, secrets: tuple[str, ...] = ()) -> str:
    """Mask URL passwords, `password=...`-style pairs, bearer tokens and any given literal secrets.

    Literal secrets shorter than 3 characters are not masked: replacing every `a` would garble the
    text while hiding nothing worth hiding.
    """
    out = text
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and len(secret) >= 3:
            out = out.replace(secret, MASK)
    out = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", out)
    out = _AUTH_HEADER.sub(lambda m: f"{m['key']}{MASK}", out)
    out = _BEARER.sub(lambda m: f"{m['key']}{MASK}", out)
    return _KEY_VALUE.sub(_mask_pair, out)
