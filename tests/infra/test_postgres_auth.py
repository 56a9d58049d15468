"""The dev stack's PostgreSQL asks every connection for its password: none is trusted."""

from __future__ import annotations

from urllib.parse import urlsplit

import asyncpg
import pytest


@pytest.mark.parametrize("user", ["fleetstate", "postgres"])
async def test_a_connection_without_a_password_is_refused(base_settings, user, tmp_path):
    url = urlsplit(base_settings.database_url)
    empty = tmp_path / "no.pgpass"  # no ~/.pgpass nor PGPASSWORD may supply one either
    empty.write_text("")
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError, match="password"):
        conn = await asyncpg.connect(
            host=url.hostname, port=url.port, user=user, database="fleetstate", passfile=empty
        )
        await conn.close()


async def test_a_wrong_password_is_refused_and_the_configured_one_works(base_settings):
    url = urlsplit(base_settings.database_url)
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(
            host=url.hostname,
            port=url.port,
            user="fleetstate",
            password="wrong",
            database="fleetstate",
        )
    conn = await asyncpg.connect(base_settings.database_url)
    try:
        assert await conn.fetchval("select current_user") == "fleetstate"
    finally:
        await conn.close()
