"""Field types of request bodies: exactly what PostgreSQL can store, stated in the OpenAPI.

PostgreSQL `text` and `jsonb` cannot hold the NUL character (U+0000); a request carrying one
used to reach the database and fail there (a 500). These types refuse it at the boundary
with a 422 naming the field, and say so in the schema (`pattern`), so clients and the
fuzzer know it before sending.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import Field
from typing_extensions import TypeAliasType

NUL_FREE = r"^[^\x00]*$"

NulFreeStr = Annotated[str, Field(pattern=NUL_FREE)]

# The admin and form URLs name the tenant `{client_id}` (/admin/clients/{client_id}/...), and
# their OpenAPI parameter keeps that name for the API's callers; the handlers call it tenant_id.
TenantPath = Annotated[str, Path(alias="client_id")]

# any JSON value whose strings (and object keys) hold no NUL: what a jsonb column stores
Json = TypeAliasType(
    "Json",
    "dict[NulFreeStr, Json] | list[Json] | NulFreeStr | int | float | bool | None",
)
JsonObject = dict[NulFreeStr, Json]
