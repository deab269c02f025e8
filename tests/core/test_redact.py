"""Passwords and tokens never reach a message: URLs, key=value pairs, bearer tokens, literal secrets."""

from __future__ import annotations

import pytest

from braindump_cli.redact import MASK, redact_text, redact_url
from braindump_cli.settings import resolve_airflow_db

URLS = [
    ("postgresql://user:secret@host/db", "postgresql://user:***@host/db"),
    (
        "postgresql+psycopg2://airflow:pw@db.internal:5432/airflow",
        "postgresql+psycopg2://airflow:***@db.internal:5432/airflow",
    ),
    # special characters, percent-encoded or not: `@`, `:`, `/`, `#`, `?` inside the password
    ("mysql+pymysql://u:p%40ss%3Aw0rd@h:3306/af", "mysql+pymysql://u:***@h:3306/af"),
    ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),
    ("postgresql://u:a:b/c#d?e@h:1/db", "postgresql://u:***@h:1/db"),
    ("postgresql://u:pw@[::1]:5432/db", "postgresql://u:***@[::1]:5432/db"),
    ("postgresql://u:pw@[2001:db8::7]/db", "postgresql://u:***@[2001:db8::7]/db"),
    ("postgresql://:onlypw@h/db", "postgresql://:***@h/db"),
    # secrets in the query string
    ("postgresql://u@h/db?password=hunter2&sslmode=require", "postgresql://u@h/db?password=***&sslmode=require"),
    ("postgresql://h/db?sslpassword=abc;other=1", "postgresql://h/db?sslpassword=***;other=1"),
    ("https://api.example/v1?access_token=eyJhbGci.x.y&page=2", "https://api.example/v1?access_token=***&page=2"),
]

UNCHANGED = [
    "sqlite:////home/me/airflow/airflow.db",
    "sqlite:///relative.db",
    "postgresql://user@host:5432/db",
    "https://127.0.0.1:6443/api",
    "num_tokens: 16",
    "token: -9223372036854775808 owned by 127.0.0.2",
    "--password-file /run/secrets/cql",
    "Tokens: 256, replicas=3",
]


@pytest.mark.parametrize(("url", "expected"), URLS)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected
    assert redact_text(f"cannot connect to {url}: refused") == f"cannot connect to {expected}: refused"


@pytest.mark.parametrize("text", UNCHANGED)
def test_text_without_secrets_is_unchanged(text: str) -> None:
    assert redact_text(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter2", "password=***"),
        ("DB_PASSWORD=hunter2 next", "DB_PASSWORD=*** next"),
        ("BD_CASSANDRA_PASSWORD: hunter2", "BD_CASSANDRA_PASSWORD: ***"),
        ('{"password": "hunter2", "user": "u"}', '{"password": "***", "user": "u"}'),
        ("api-key=abc123 apiKey: zzz", "api-key=*** apiKey: ***"),
        ("client-key-data: LS0tLS1CRUdJTi", "client-key-data: ***"),
        ("--token=abc.def.ghi", "--token=***"),
        ("secret_key = s3cr3t", "secret_key = ***"),
        ("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.sig", "Authorization: Bearer ***"),
        ("authorization: Basic dXNlcjpwYXNz", "authorization: Basic ***"),
        ("header bearer abc-def_ghi", "header bearer ***"),
    ],
)
def test_redact_key_values_and_tokens(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_literal_secrets_are_masked_longest_first() -> None:
    text = "login with s3cret and s3cret-suffix failed"
    assert redact_text(text, secrets=("s3cret", "s3cret-suffix")) == f"login with {MASK} and {MASK} failed"


def test_literal_secrets_with_regex_characters() -> None:
    secret = "p.a*s+s(w)o[r]d$"
    assert redact_text(f"bad credentials {secret} for user", secrets=(secret,)) == f"bad credentials {MASK} for user"


def test_very_short_literal_secrets_are_left_alone() -> None:
    assert redact_text("a b", secrets=("a", "")) == "a b"


def test_settings_never_show_the_password_in_repr_or_display() -> None:
    settings = resolve_airflow_db(conn="postgresql://af:topsecret@h/db", env={})
    assert "topsecret" not in repr(settings)
    assert settings.display_url == "postgresql://af:***@h/db"
