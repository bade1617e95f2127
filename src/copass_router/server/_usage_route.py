"""``GET /v1/usage``: the usage ledger rows of the calling key's tenant, and no one else's."""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from copass_router._errors import InvalidRequestError
from copass_router.accounting._usage import DEFAULT_TENANT
from copass_router.run._requests import check_id
from copass_router.serving._problems import problem_for


def _day(request: Request, name: str) -> dt.date | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidRequestError(f"{name} must be a date (YYYY-MM-DD)", field=name) from None


async def get_usage(request: Request) -> Response:
    """Rows per end user, provider, model and day (``since``, ``until``, ``end_user_id``
    filter them). A key sees its own tenant only; without keys, the default tenant."""
    state = request.app.state.copass_router
    principal = state.authenticate(request)
    if isinstance(principal, Response):
        return principal
    tenant = principal.key_id or DEFAULT_TENANT
    end_user = request.query_params.get("end_user_id")
    try:
        if end_user is not None:
            check_id(end_user, "end_user_id")
        rows = await state.router.usage(
            tenant=tenant,
            end_user_id=end_user,
            since=_day(request, "since"),
            until=_day(request, "until"),
        )
    except InvalidRequestError as exc:
        return problem_for(exc)
    return JSONResponse({"tenant": tenant, "usage": [row.as_dict() for row in rows]})
