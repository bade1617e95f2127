"""Chunk translation: tool-call assembly, finish reasons, usage, reasoning."""

from __future__ import annotations

from typing import Any

import pytest
from copass_router_openai.translate import (
    INVALID_ARGUMENTS_KEY,
    ChunkTranslator,
    ToolCallAssembler,
    stop_reason,
)
from openai.types.chat import ChatCompletionChunk

from copass_router import (
    Message,
    StopReason,
    TextDelta,
    ThinkingDelta,
    ThinkingMessage,
    Usage,
)


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> Any:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return ChatCompletionChunk.model_validate(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": choices,
            **extra,
        }
    )


def frag(
    index: int, arguments: str = "", id: str | None = None, name: str | None = None
) -> dict[str, Any]:
    fragment: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if id is not None:
        fragment["id"] = id
        fragment["type"] = "function"
    if name is not None:
        fragment["function"]["name"] = name
    return fragment


def run(chunks: list[Any]) -> tuple[list[Any], ChunkTranslator]:
    translator = ChunkTranslator("openai")
    events = [e for c in chunks for e in translator.feed(c)]
    events += translator.flush() + translator.usage()
    return events, translator


def test_text_deltas_then_one_message() -> None:
    events, translator = run(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Hel"}),
            chunk({"content": "lo"}),
            chunk({}, "stop"),
        ]
    )
    assert [type(e) for e in events] == [TextDelta, TextDelta, Message]
    assert events[-1].text == "Hello"
    assert translator.finished and translator.outcome().stop_reason is StopReason.END_TURN


def test_many_fragments_assemble_into_one_call() -> None:
    arguments = '{"city": "Paris", "days": [1, 2]}'
    pieces = [arguments[i : i + 2] for i in range(0, len(arguments), 2)]
    chunks = [chunk({"tool_calls": [frag(0, "", id="call_a", name="weather")]})]
    chunks += [chunk({"tool_calls": [frag(0, p)]}) for p in pieces]
    chunks.append(chunk({}, "tool_calls"))
    _, translator = run(chunks)
    [call] = translator.outcome().tool_calls
    assert (call.call_id, call.name, dict(call.arguments)) == (
        "call_a",
        "weather",
        {"city": "Paris", "days": [1, 2]},
    )


def test_interleaved_calls_and_several_fragments_in_one_chunk() -> None:
    chunks = [
        chunk({"tool_calls": [frag(0, "", id="c0", name="a"), frag(1, '{"y"', id="c1", name="b")]}),
        chunk({"tool_calls": [frag(0, '{"x": '), frag(1, ": 2}")]}),
        chunk({"tool_calls": [frag(0, "1}")]}),
        chunk({}, "tool_calls"),
    ]
    _, translator = run(chunks)
    calls = translator.outcome().tool_calls
    assert [(c.call_id, c.name, dict(c.arguments)) for c in calls] == [
        ("c0", "a", {"x": 1}),
        ("c1", "b", {"y": 2}),
    ]


def test_reused_index_with_new_id_is_a_new_call() -> None:
    # Some compatible servers put every call on index 0, each complete.
    chunks = [
        chunk({"tool_calls": [frag(0, "{}", id="first", name="a")]}),
        chunk({"tool_calls": [frag(0, '{"k": 1}', id="second", name="b")]}),
        chunk({}, "tool_calls"),
    ]
    _, translator = run(chunks)
    assert [(c.call_id, c.name) for c in translator.outcome().tool_calls] == [
        ("first", "a"),
        ("second", "b"),
    ]


def test_repeated_name_and_id_are_not_doubled_and_missing_id_is_filled() -> None:
    assembler = ToolCallAssembler()
    assembler.add({"index": 0, "function": {"name": "lookup", "arguments": '{"a"'}})
    assembler.add({"index": 0, "function": {"name": "lookup", "arguments": ": 1}"}})
    [call] = assembler.calls()
    assert call.name == "lookup" and dict(call.arguments) == {"a": 1}
    assert call.call_id.startswith("call_") and len(call.call_id) <= 40


def test_invalid_json_is_kept_for_the_tool_to_refuse() -> None:
    assembler = ToolCallAssembler()
    assembler.add({"index": 0, "id": "c", "function": {"name": "f", "arguments": '{"a": '}})
    [call] = assembler.calls()
    assert dict(call.arguments) == {INVALID_ARGUMENTS_KEY: '{"a": '}


def test_length_drops_unfinished_calls() -> None:
    chunks = [chunk({"tool_calls": [frag(0, '{"a": 1', id="c", name="f")]}), chunk({}, "length")]
    _, translator = run(chunks)
    outcome = translator.outcome()
    assert outcome.stop_reason is StopReason.MAX_TOKENS and outcome.tool_calls == ()


@pytest.mark.parametrize(
    ("finish", "refused", "expected"),
    [
        ("stop", False, StopReason.END_TURN),
        ("tool_calls", False, StopReason.END_TURN),
        ("length", False, StopReason.MAX_TOKENS),
        ("content_filter", False, StopReason.REFUSAL),
        ("stop", True, StopReason.REFUSAL),
        ("something_new", False, StopReason.END_TURN),
    ],
)
def test_finish_reasons(finish: str, refused: bool, expected: StopReason) -> None:
    assert stop_reason(finish, refused=refused) is expected


def test_usage_excludes_cached_tokens_from_input() -> None:
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 7,
        "total_tokens": 107,
        "prompt_tokens_details": {"cached_tokens": 60},
    }
    events, _ = run([chunk({"content": "x"}, "stop"), chunk(None, usage=usage)])
    [report] = [e for e in events if isinstance(e, Usage)]
    assert (report.input_tokens, report.output_tokens, report.cache_read_tokens) == (40, 7, 60)
    assert report.provider_data == {"openai": {"completion_id": "chatcmpl-1", "model": "m"}}
    assert isinstance(events[-2], Message)  # the message completes before the usage report


def test_reasoning_becomes_thinking_before_the_text() -> None:
    events, _ = run(
        [
            chunk({"reasoning_content": "hmm "}),
            chunk({"reasoning_content": "ok"}),
            chunk({"content": "answer"}),
            chunk({}, "stop"),
        ]
    )
    assert [type(e) for e in events] == [
        ThinkingDelta,
        ThinkingDelta,
        ThinkingMessage,
        TextDelta,
        Message,
    ]
    assert events[2].text == "hmm ok"


def test_refusal_text_is_shown_and_ends_in_refusal() -> None:
    events, translator = run([chunk({"refusal": "I can't"}), chunk({}, "stop")])
    assert [e.text for e in events if isinstance(e, Message)] == ["I can't"]
    assert translator.outcome().stop_reason is StopReason.REFUSAL


def test_a_stream_without_finish_reason_is_unfinished() -> None:
    _, translator = run([chunk({"content": "partial"})])
    assert not translator.finished


def test_repeated_running_usage_is_counted_once() -> None:
    totals = [
        {"prompt_tokens": 5, "completion_tokens": n, "total_tokens": 5 + n} for n in (1, 2, 3)
    ]
    events, _ = run(
        [
            chunk({"content": "a"}, usage=totals[0]),
            chunk({"content": "b"}, "stop", usage=totals[1]),
            chunk(None, usage=totals[2]),
        ]
    )
    reports = [e for e in events if isinstance(e, Usage)]
    assert [(r.input_tokens, r.output_tokens) for r in reports] == [(5, 3)]


def test_chunks_missing_fields_do_not_break_translation() -> None:
    sparse = ChatCompletionChunk.construct(id="x", choices=[], model="m")  # no usage attribute
    translator = ChunkTranslator("openai-compatible")
    assert translator.feed(sparse) == []
