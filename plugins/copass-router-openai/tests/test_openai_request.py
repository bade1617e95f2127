"""Neutral messages -> the request body: ids and names OpenAI accepts, consistently mapped."""

from __future__ import annotations

from copass_router_openai.request import ToolNames, wire_call_id, wire_messages, wire_tools

from copass_router import ChatMessage, ToolCallRequest, ToolSpec


def test_acceptable_ids_pass_unchanged_and_foreign_ones_map_stably() -> None:
    assert wire_call_id("call_abc-123") == "call_abc-123"
    foreign = "toolu_" + "x" * 60  # longer than OpenAI's 40 characters
    mapped = wire_call_id(foreign)
    assert mapped == wire_call_id(foreign) and len(mapped) <= 40
    assert wire_call_id("adk:weird/id") != wire_call_id("adk:other/id")


def test_call_and_result_map_to_the_same_id() -> None:
    foreign = "functions.lookup:0 with spaces and a very long tail"
    messages = [
        ChatMessage("user", "hi"),
        ChatMessage("assistant", "", tool_calls=(ToolCallRequest(foreign, "lookup", {"k": 1}),)),
        ChatMessage("tool", "out", call_id=foreign, name="lookup"),
        ChatMessage("assistant", ""),  # empty: dropped
    ]
    wired = wire_messages(messages, ToolNames())
    assert len(wired) == 3
    assert wired[1]["content"] is None
    assert wired[1]["tool_calls"][0]["id"] == wired[2]["tool_call_id"]
    assert wired[1]["tool_calls"][0]["function"]["arguments"] == '{"k": 1}'


def test_tool_names_map_there_and_back() -> None:
    names = ToolNames(["crm.lookup", "plain_name"])
    specs = [ToolSpec("crm.lookup", "d", {"type": "object"}), ToolSpec("plain_name")]
    wired = wire_tools(specs, names)
    sent = wired[0]["function"]["name"]
    assert sent != "crm.lookup" and sent.startswith("crm_lookup")
    assert wired[1]["function"]["name"] == "plain_name"
    assert wired[0]["function"]["parameters"] == {"type": "object", "properties": {}}
    [call] = names.restore([ToolCallRequest("c", sent, {})])
    assert call.name == "crm.lookup"
