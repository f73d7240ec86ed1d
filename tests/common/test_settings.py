"""Settings: environment names, URL normalisation, fail-fast secrets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dyndash_common.settings import Settings


def test_plain_urls_get_async_drivers() -> None:
    settings = Settings(database_url="postgresql://u@h/db", redis_url="")
    assert settings.database_url == "postgresql+asyncpg://u@h/db"
    assert settings.redis_url is None
    assert settings.embedded


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite:///x.db")
    monkeypatch.setenv("REDIS_URL", "redis://r:6379/0")
    monkeypatch.setenv("DYNDASH_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("DYNDASH_ADMIN_PORT", "9001")
    settings = Settings()
    assert settings.database_url == "sqlite+aiosqlite:///x.db"
    assert settings.redis_url == "redis://r:6379/0"
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.admin_port == 9001


def test_production_requires_a_real_pepper() -> None:
    with pytest.raises(ValidationError, match="DYNDASH_KEY_PEPPER must be set"):
        Settings(env="production")
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(env="production", key_pepper="short")
    assert Settings(env="production", key_pepper="p" * 32).env == "production"


def test_bootstrap_key_longer_than_the_key_format_allows_is_refused() -> None:
    with pytest.raises(ValidationError, match="24 to 128"):
        Settings(bootstrap_api_key="k" * 129)
    assert Settings(bootstrap_api_key="k" * 128).bootstrap_api_key == "k" * 128


def test_short_bootstrap_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="24 to 128"):
        Settings(bootstrap_api_key="short")
