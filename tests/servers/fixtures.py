"""Pytest fixtures that start a scripted protocol server per test and stop it afterwards.

Import them explicitly into a test module (`from tests.servers.fixtures import openai_server_fixture`); they
never share a server between tests, so one test's script or recorded requests cannot leak into another.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.servers.anthropic_server import AnthropicServer
from tests.servers.openai_server import OpenAIServer


@pytest.fixture(name="openai_server")
async def openai_server_fixture() -> AsyncIterator[OpenAIServer]:
    async with OpenAIServer() as server:
        yield server
        assert server.unconsumed == 0, f"{server.unconsumed} scripted behaviour(s) were never requested"


@pytest.fixture(name="anthropic_server")
async def anthropic_server_fixture() -> AsyncIterator[AnthropicServer]:
    async with AnthropicServer() as server:
        yield server
        assert server.unconsumed == 0, f"{server.unconsumed} scripted behaviour(s) were never requested"
