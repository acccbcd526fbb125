"""MCP, end to end with the SDK's own client: `kzqa mcp` spawned over stdio in the real article's
project, and `kzqa serve`'s /mcp over streamable HTTP. Each tool returns its CLI twin's JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from typer.testing import CliRunner

from conftest import serving
from kzqa import store
from kzqa.cli import app
from test_server import QUESTION
from test_server import call as http_call

pytestmark = pytest.mark.slow
runner = CliRunner()
TOOLS = {"ask", "status", "index", "read"}


@asynccontextmanager
async def stdio_session(cwd: Path) -> AsyncIterator[ClientSession]:
    # The SDK passes the server only a safe part of the environment (no KZQA_CONFIG).
    params = StdioServerParameters(command=sys.executable, args=["-m", "kzqa", "mcp"], cwd=cwd)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict:
    """A tool's JSON: its text is the CLI's JSON line, its structured content the same."""
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, result.content
    data = json.loads(result.content[0].text)  # type: ignore[union-attr]
    assert result.structured_content == data
    return data


async def error(session: ClientSession, tool: str, **arguments: Any) -> str:
    result = await session.call_tool(tool, arguments)
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert "Traceback" not in text
    return text


def cli(*args: str) -> dict:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_stdio_tools_answer_as_the_cli_does(real_project: Path) -> None:
    async def session() -> None:
        async with stdio_session(real_project) as mcp:
            tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
            assert set(tools) == TOOLS
            assert "offsets" in tools["ask"].description
            assert "answered: false" in tools["ask"].description
            assert "verified" in tools["read"].description
            assert "offsets" in tools["read"].description

            answer = await call(mcp, "ask", question=QUESTION, k=3)
            assert answer == cli("ask", QUESTION, "-k", "3", "--json")
            assert answer["answered"] is True

            cited = answer["results"][0]["citation"]
            start, end = cited["start_char"], cited["end_char"]
            span = await call(
                mcp, "read", source=cited["source"], start_char=start, end_char=end, context=30
            )
            text = (real_project / cited["source"]).read_text(encoding="utf-8")
            assert span["text"] == text[start:end] == answer["results"][0]["text"]
            assert span["before"] == text[start - 30 : start]
            assert span["after"] == text[end : end + 30]
            assert span["verified"] is True
            assert span["start_line"] == cited["start_line"]
            assert span == cli(
                "read", cited["source"], str(start), str(end), "--context", "30", "--json"
            )
            whole = await call(mcp, "read", source=cited["source"])  # the whole text
            assert whole["text"] == text and whole == cli("read", cited["source"], "--json")

            assert await call(mcp, "status") == cli("status", "--json")

    anyio.run(session)


def test_stdio_index_and_errors(real_project: Path) -> None:
    async def session() -> None:
        async with stdio_session(real_project) as mcp:
            (real_project / "corpus" / "astana.txt").write_text(
                "Astana became the capital of Kazakhstan in 1997.\n", encoding="utf-8"
            )
            message = await error(mcp, "read", source="corpus/astana.txt", start_char=0, end_char=6)
            assert "corpus/astana.txt is not an indexed file" in message
            assert "kzqa index" in message  # the hint

            report = await call(mcp, "index")
            assert report["added"] == ["astana.txt"]
            assert set(report) == set(cli("index", "--json"))
            span = await call(mcp, "read", source="corpus/astana.txt", start_char=0, end_char=6)
            assert span["text"] == "Astana"

            answer = await call(mcp, "ask", question="When did Astana become the capital?", k=1)
            assert answer["results"][0]["citation"]["source"] == "corpus/astana.txt"

            with store.write_lock(real_project / "index"):  # another build is running
                assert "another `kzqa index` is updating" in await error(mcp, "index")
            assert "the span is empty" in await error(
                mcp, "read", source="corpus/astana.txt", start_char=6, end_char=6
            )
            assert "question is empty" in await error(mcp, "ask", question=" ")

    anyio.run(session)


@pytest.mark.parametrize("processes", [1, 2])
def test_http_mcp_at_serve(real_project: Path, processes: int) -> None:
    with serving(processes=processes) as srv:
        assert (srv.service.answerers is not None) == (processes > 1)

        async def session() -> dict:
            async with (
                streamable_http_client(srv.url + "/mcp") as (read, write),
                ClientSession(read, write) as mcp,
            ):
                await mcp.initialize()
                assert {tool.name for tool in (await mcp.list_tools()).tools} == TOOLS
                return await call(mcp, "ask", question=QUESTION, k=2)

        answer = anyio.run(session)
        # The Host check guards /mcp like every path (DNS rebinding).
        hello = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()
        headers = {"Host": "rebound.example", "Content-Type": "application/json"}
        assert http_call(srv, "POST", "/mcp", hello, headers)[0] == 421
    assert answer == cli("ask", QUESTION, "-k", "2", "--json", "--no-update")
