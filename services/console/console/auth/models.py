"""The signed-in user and their session as the routes see them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

Role = Literal["operator", "owner", "agent"]


@dataclass(frozen=True, slots=True)
class CurrentUser:
    id: UUID
    email: str
    name: str
    role: Role
    tenant_id: UUID | None  # None for operators
    locale: str = "pt-BR"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CurrentUser:
        client = row.get("client_id")
        return cls(
            id=UUID(str(row["id"])),
            email=str(row["email"]),
            name=str(row["name"]),
            role=row["role"],
            tenant_id=UUID(str(client)) if client else None,
            locale=str(row.get("locale") or "pt-BR"),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "email": self.email,
            "name": self.name,
            "role": self.role,
            "tenant_id": str(self.tenant_id) if self.tenant_id else None,
            "locale": self.locale,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CurrentUser:
        tenant = data.get("tenant_id")
        return cls(
            id=UUID(data["id"]),
            email=data["email"],
            name=data["name"],
            role=data["role"],
            tenant_id=UUID(tenant) if tenant else None,
            locale=data.get("locale", "pt-BR"),
        )


@dataclass(frozen=True, slots=True)
class ActingTenant:
    """The tenant an operator chose to work in (kept in their session, shown in a banner)."""

    id: UUID
    name: str

    def to_json(self) -> dict[str, str]:
        return {"id": str(self.id), "name": self.name}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ActingTenant | None:
        if not data:
            return None
        return cls(id=UUID(str(data["id"])), name=str(data["name"]))


@dataclass(frozen=True, slots=True)
class Session:
    """A server-side session: `id` is the cookie value, `csrf_token` goes in pages and headers.

    `acting` is set for operators only, once they pick a tenant in the chooser (`/clientes`).
    """

    id: str
    user: CurrentUser
    csrf_token: str
    created_at: float
    acting: ActingTenant | None = None
