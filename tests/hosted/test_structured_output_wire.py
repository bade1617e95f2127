"""Structured output over the wire: the schema travels as JSON, the value comes back as a
``structured_output`` event, a class given to ``RemoteRouter.complete`` comes back an instance."""

from __future__ import annotations

import pydantic

from copass_router import StructuredOutput

from .conftest import Hosted


class Parcel(pydantic.BaseModel):
    tracking: str
    weight_grams: int


async def test_the_value_comes_back_through_a_hosted_router(hosted: Hosted) -> None:
    async with hosted.remote() as remote:
        result = await remote.complete(provider="echo", message="PX-9", output_schema=Parcel)
    assert result.output == Parcel(tracking="echo: PX-9", weight_grams=0)
    assert isinstance(result.events[-2], StructuredOutput)


async def test_the_wire_event_and_a_bad_schema_refused_as_a_problem(hosted: Hosted) -> None:
    schema = Parcel.model_json_schema()
    async with hosted.http() as http:
        stream = await http.post(
            "/v1/runs", json={"provider": "echo", "message": "PX-1", "output_schema": schema}
        )
        refused = await http.post(
            "/v1/runs",
            json={"provider": "echo", "message": "hi", "output_schema": {"type": "array"}},
        )
    assert '"type":"structured_output"' in stream.text.replace(" ", "")
    assert '"tracking":"echo: PX-1"' in stream.text.replace('": "', '":"')
    assert refused.status_code == 400
    problem = refused.json()
    assert problem["field"] == "output_schema" and "must describe an object" in problem["detail"]
