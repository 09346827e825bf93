"""`POST /admin/clients/{id}/meta/embedded-signup`: finish Embedded Signup for a tenant."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import HTTPException, status

from meta_gateway.admin.meta_account_access import MetaAccount, graph_failure
from meta_gateway.admin.meta_account_models import EmbeddedSignupIn, SignupOut
from meta_gateway.admin.models import ProviderOut
from wacommon.console.meta_signup import PIN_KEY, NumberTaken, Signup, finish_signup
from wacommon.infra.crypto import mask
from wacommon.infra.errors import RouteTaken
from wacommon.providers.meta.admin import GraphCallFailed
from wacommon.web.api_types import TenantPath

log = structlog.get_logger(__name__)


class SignupRoutes:
    """The signup route, bound to the account's dependencies."""

    def __init__(self, account: MetaAccount) -> None:
        self.account = account

    async def embedded_signup(self, tenant_id: TenantPath, body: EmbeddedSignupIn) -> SignupOut:
        """Finish Embedded Signup: token exchange, app subscription, registration, storage."""
        account, settings = self.account, self.account.settings
        cid = await account.tenant(tenant_id)
        if not settings.meta_app_id or not account.app_secret:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                "Embedded Signup needs META_APP_ID and META_APP_SECRET",
            )
        configured = settings.meta_register_pin
        try:
            async with account.graph() as meta:
                done = await finish_signup(
                    account.pool,
                    account.box,
                    meta,
                    cid,
                    Signup(body.code, body.waba_id, body.phone_number_id, body.event),
                    app_id=settings.meta_app_id,
                    register=True,
                    pin=body.pin,
                    configured_pin=configured.get_secret_value() if configured else None,
                )
        except GraphCallFailed as exc:
            log.warning("meta_signup_failed", tenant_id=cid, step=exc.step, code=exc.code)
            raise graph_failure(exc) from None
        except (NumberTaken, RouteTaken) as exc:
            # the phone id, or its display number, is another tenant's
            raise HTTPException(status.HTTP_409_CONFLICT, _taken_message(exc)) from None
        return SignupOut(
            **_out_fields(done.row), registered=done.registered, pin=done.generated_pin
        )


def _taken_message(exc: Exception) -> str:
    if isinstance(exc, NumberTaken):
        return "phone_number_id is connected to another client"
    return str(exc)


def _out_fields(row: dict[str, Any]) -> dict[str, Any]:
    fields = {k: v for k, v in row.items() if k in ProviderOut.model_fields}
    config = mask(row["config"])
    if config.get(PIN_KEY):
        config[PIN_KEY] = "****"
    fields.update(
        id=str(row["id"]), tenant_id=str(row["client_id"]), config=config, webhook_url=None
    )
    return fields
