"""Messages of parts over the wire: JSON parts (base64 bytes or URLs) into a hosted router,
RemoteRouter sending them, and refusals as problems naming the part."""

from __future__ import annotations

import base64

from copass_router import FilePart, ImagePart, Message
from copass_router.testing import SAMPLE_PDF, SAMPLE_PNG

from .conftest import Hosted

IMAGE = ImagePart("image/png", SAMPLE_PNG)
DOCUMENT = FilePart("application/pdf", SAMPLE_PDF, name="invoice.pdf")


async def test_remote_router_sends_the_bytes_and_the_model_gets_them(hosted: Hosted) -> None:
    async with hosted.remote() as remote:
        events = [e async for e in remote.run(provider="echo", message=["/parts", IMAGE, DOCUMENT])]
        later = await remote.complete(
            provider="echo", message="/parts", session_id=events[-1].session_id
        )
    text = "".join(e.text for e in events if isinstance(e, Message))
    expected = (
        f"parts: image image/png {IMAGE.sha256[:12]}; file application/pdf {DOCUMENT.sha256[:12]}"
    )
    assert text == expected and later.text == expected


async def test_json_parts_with_base64_and_urls_are_taken(hosted: Hosted) -> None:
    message = [
        {"type": "text", "text": "/parts"},
        {"type": "image", "media_type": "image/png", "data": base64.b64encode(SAMPLE_PNG).decode()},
        {"type": "file", "media_type": "application/pdf", "url": "https://example.com/a.pdf"},
    ]
    async with hosted.http() as http:
        response = await http.post("/v1/runs", json={"provider": "echo", "message": message})
        assert response.status_code == 200
        assert (
            f"parts: image image/png {IMAGE.sha256[:12]}; "
            "file application/pdf https://example.com/a.pdf"
        ) in response.text


async def test_bad_or_untaken_parts_are_problems_naming_the_part(hosted: Hosted) -> None:
    bad = {"type": "image", "media_type": "image/png", "data": "%%%"}
    image = {"type": "image", "media_type": "image/png", "data": IMAGE.base64}
    async with hosted.http() as http:
        broken = await http.post("/v1/runs", json={"provider": "echo", "message": ["x", bad]})
        untaken = await http.post(
            "/v1/runs", json={"provider": "scripted", "message": ["x", image]}
        )
    assert broken.status_code == 400
    assert broken.json()["field"] == "message" and "base64" in broken.json()["detail"]
    assert untaken.status_code == 400
    detail = untaken.json()["detail"]
    assert "provider 'scripted' cannot take message[1]" in detail and "echo" in detail


async def test_open_responses_input_images_and_files_reach_the_model(hosted: Hosted) -> None:
    from openai import AsyncOpenAI

    from .conftest import KEY_ALPHA

    client = AsyncOpenAI(base_url=hosted.url + "/v1", api_key=KEY_ALPHA, max_retries=0)
    response = await client.responses.create(
        model="echo/echo-1",
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "/parts"},
                    {
                        "type": "input_image",
                        "image_url": f"data:image/png;base64,{IMAGE.base64}",
                        "detail": "auto",
                    },
                    {
                        "type": "input_file",
                        "filename": "invoice.pdf",
                        "file_data": f"data:application/pdf;base64,{DOCUMENT.base64}",
                    },
                    {
                        "type": "input_image",
                        "image_url": "https://example.com/p.jpg",
                        "detail": "auto",
                    },
                ],
            }
        ],
    )
    assert response.output_text == (
        f"parts: image image/png {IMAGE.sha256[:12]}; file application/pdf "
        f"{DOCUMENT.sha256[:12]}; image image/jpeg https://example.com/p.jpg"
    )
    async with hosted.http() as http:
        refused = await http.post(
            "/v1/responses",
            json={
                "model": "echo/echo-1",
                "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f-1"}]}],
            },
        )
    assert refused.status_code == 400 and "file_id is not taken" in refused.text
