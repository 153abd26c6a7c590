"""HTTP tools declared in an agent's TOML, against a real local HTTP server: each backend failure is typed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from voicerouter.agent import AgentError, load_agent
from voicerouter.http_tools import HttpToolSpec, build_http_tool
from voicerouter.toolkit import ToolOutcome

ORDERS = {"1001": {"order_id": "1001", "status": "shipped", "eta": "2026-12-03", "internal_margin": 0.31}}


@pytest.fixture
async def backend() -> AsyncIterator[tuple[str, list[web.Request]]]:
    seen: list[web.Request] = []

    async def order(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        if request.headers.get("Authorization") != "Bearer s3cret":
            return web.json_response({"error": "bad token"}, status=401)
        record = ORDERS.get(request.match_info["order_id"])
        if record is None:
            return web.json_response({"error": "no order with that number"}, status=404)
        return web.json_response(record)

    async def create(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        body = await request.json()
        if body.get("quantity", 0) > 10:
            return web.json_response({"message": "at most 10 per order"}, status=422)
        return web.json_response({"order_id": "1002", "status": "created", **body})

    async def broken(request: web.Request) -> web.StreamResponse:
        return web.Response(status=503, text="upstream down")

    async def slow(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(1.0)
        return web.json_response({})

    async def garbled(request: web.Request) -> web.StreamResponse:
        return web.Response(status=200, text="<html>oops</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/orders/{order_id}", order)
    app.router.add_post("/orders", create)
    app.router.add_get("/broken", broken)
    app.router.add_get("/slow", slow)
    app.router.add_get("/garbled", garbled)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        await runner.cleanup()


def _tool(url: str, **extra: object) -> HttpToolSpec:
    return HttpToolSpec.model_validate(
        {"name": "find_order", "description": "Look up an order.", "url": url,
         "args": {"order_id": {"description": "order number"}}, "auth_env": "ORDERS_TOKEN", **extra}
    )  # fmt: skip


async def _run(spec: HttpToolSpec, args: dict[str, object]) -> ToolOutcome:
    return await asyncio.to_thread(build_http_tool(spec).run, args)


async def test_a_found_record_comes_back_with_only_the_declared_fields(
    backend: tuple[str, list[web.Request]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, seen = backend
    monkeypatch.setenv("ORDERS_TOKEN", "s3cret")
    spec = _tool(url + "/orders/{order_id}", result_fields=["status", "eta"])
    outcome = await _run(spec, {"order_id": "1001"})
    assert outcome.ok and outcome.result == {"status": "shipped", "eta": "2026-12-03"}
    assert seen[-1].headers["Authorization"] == "Bearer s3cret"


async def test_404_is_a_missing_record_and_other_4xx_a_rejected_request(
    backend: tuple[str, list[web.Request]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = backend
    monkeypatch.setenv("ORDERS_TOKEN", "s3cret")
    missing = await _run(_tool(url + "/orders/{order_id}"), {"order_id": "9999"})
    assert not missing.ok and missing.not_found and missing.error_kind == "not_found"
    assert "no order with that number" in (missing.error or "")
    monkeypatch.setenv("ORDERS_TOKEN", "wrong")
    refused = await _run(_tool(url + "/orders/{order_id}"), {"order_id": "1001"})
    assert not refused.ok and refused.error_kind == "rejected" and "401" in (refused.error or "")


async def test_post_sends_the_arguments_as_json_and_a_422_names_the_reason(
    backend: tuple[str, list[web.Request]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = backend
    spec = HttpToolSpec.model_validate(
        {"name": "create_order", "description": "Place an order.", "method": "POST", "url": url + "/orders",
         "args": {"sku": {}, "quantity": {"type": "integer"}}}
    )  # fmt: skip
    made = await _run(spec, {"sku": "A1", "quantity": 2})
    assert made.ok and made.result == {"order_id": "1002", "status": "created", "sku": "A1", "quantity": 2}
    too_many = await _run(spec, {"sku": "A1", "quantity": 50})
    assert too_many.error_kind == "rejected" and "at most 10 per order" in (too_many.error or "")
    bad = await _run(spec, {"sku": "A1", "quantity": "lots"})
    assert not bad.ok and "quantity" in (bad.error or "")


async def test_5xx_timeout_and_bad_json_are_typed_failures(backend: tuple[str, list[web.Request]]) -> None:
    url, _ = backend
    plain = {"args": {}, "auth_env": None}
    server_error = await _run(_tool(url + "/broken", **plain), {})
    assert server_error.error_kind == "server_error" and "503" in (server_error.error or "")
    timed_out = await _run(_tool(url + "/slow", timeout_ms=200, **plain), {})
    assert timed_out.timed_out and timed_out.error_kind == "timeout"
    garbled = await _run(_tool(url + "/garbled", **plain), {})
    assert garbled.error_kind == "bad_response" and "not JSON" in (garbled.error or "")
    assert "ERROR" in garbled.for_model()


async def test_an_agent_declares_http_tools_in_its_toml(
    backend: tuple[str, list[web.Request]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = backend
    monkeypatch.setenv("ORDERS_TOKEN", "s3cret")
    (tmp_path / "shop.md").write_text("You answer questions about orders.")
    (tmp_path / "shop.toml").write_text(
        'name = "shop"\ndisplay_name = "Shop"\nprompt_file = "shop.md"\n'
        "[[http_tools]]\n"
        'name = "find_order"\ndescription = "Look up an order by number."\n'
        f'url = "{url}/orders/{{order_id}}"\nauth_env = "ORDERS_TOKEN"\nresult_fields = ["status"]\n'
        '[http_tools.args.order_id]\ndescription = "the order number"\n'
    )
    tools = load_agent("shop", tmp_path).create_tools()
    assert tools.names() == ["find_order"]
    spec = tools.specs()[0]
    assert spec.parameters["required"] == ["order_id"]
    outcome = await asyncio.to_thread(tools.run, "find_order", {"order_id": "1001"})
    assert outcome.ok and json.loads(outcome.for_model()) == {"status": "shipped"}


def test_a_bad_declaration_names_the_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "shop.md").write_text("x")
    (tmp_path / "shop.toml").write_text(
        'name = "shop"\ndisplay_name = "Shop"\nprompt_file = "shop.md"\n'
        '[[http_tools]]\nname = "find_order"\ndescription = "d"\nurl = "ftp://example/orders"\n'
    )
    with pytest.raises(AgentError, match=r"shop\.toml: http_tools\.0\.url"):
        load_agent("shop", tmp_path)
