"""The call page in a real headless Chromium (Debian's, driven by chromedriver): its fake microphone speaks a
clinic question, and the page must connect, show the offline transcript, a triage route card and the agent's
answer, and play the agent's voice (measured by a WebAudio analyser in the page)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.serve_kit import QUESTION, ServerHandle, needs_espeak, running_server
from tests.webrtc_kit import WAIT_S, fake_microphone_wav
from voicerouter.media.webrtc.signalling import PEERS_KEY

webdriver = pytest.importorskip(
    "selenium.webdriver", reason="selenium is not installed (pip install -e .[dev])"
)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
REPO = Path(__file__).resolve().parent.parent
# The README's picture is refreshed only when asked: VOICEROUTER_UPDATE_SCREENSHOT=1 pytest ...
SCREENSHOTS = (REPO / "artifacts" / "webrtc-call.png",) + (
    (REPO / "docs" / "demo-page.png",) if os.environ.get("VOICEROUTER_UPDATE_SCREENSHOT") == "1" else ()
)
PHONE_SCREENSHOT = REPO / "artifacts" / "webrtc-call-phone.png"
DESKTOP_WINDOW = (1280, 760)
PHONE_WINDOW = (390, 1400)
GREETING_S = 6.0  # the fake microphone stays silent while the agent greets, so the question is no barge-in
AUDIBLE_RMS = 0.01  # about -40 dBFS: comfort noise and codec dither stay far below it, speech far above

pytestmark = [
    needs_espeak,
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                       reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
                              "chromium-driver)"),
    pytest.mark.asyncio(loop_scope="module"),
]  # fmt: skip


@dataclass
class PageCall:
    server: ServerHandle
    driver: Any
    peak_remote_level: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list)


def chromium(fake_microphone: Path, profile: Path) -> Any:
    """Headless Chromium whose fake microphone plays `fake_microphone` once (never a downloaded browser)."""
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size={},{}".format(*DESKTOP_WINDOW),
                 f"--user-data-dir={profile}",
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 f"--use-file-for-fake-audio-capture={fake_microphone}%noloop",
                 "--autoplay-policy=no-user-gesture-required"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(WAIT_S)
    driver.set_script_timeout(WAIT_S)
    return driver


async def js(driver: Any, script: str, *args: Any) -> Any:
    """Run `script` in the page (selenium blocks, so off the loop the server runs on)."""
    return await asyncio.to_thread(driver.execute_script, script, *args)


async def wait_js(call: PageCall, script: str, what: str, timeout_s: float = WAIT_S) -> Any:
    """Poll `script` until it returns something truthy; meanwhile keep the loudest agent audio seen."""
    deadline = time.monotonic() + timeout_s
    while True:
        value, level = await js(call.driver, f"return [(() => {{ {script} }})(), "
                                             "window.voicerouterTest.remoteAudioLevel()];")  # fmt: skip
        call.peak_remote_level = max(call.peak_remote_level, float(level or 0.0))
        if value:
            return value
        if time.monotonic() > deadline:
            events = await js(call.driver, "return window.voicerouterTest.events.map(e => e.type);")
            raise AssertionError(f"page: no {what} within {timeout_s:.0f} s; events seen: {events}")
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    directory = tmp_path_factory.mktemp("browser")
    wav = fake_microphone_wav(QUESTION, directory, lead_s=GREETING_S, tail_s=20.0)
    driver = chromium(wav, directory / "profile")
    try:
        yield driver
    finally:
        driver.quit()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def page_call(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PageCall]:
    """Open the page, pick the clinic, press Call, and wait for the answer to the spoken question."""
    async with running_server(tmp_path_factory.mktemp("server")) as server:
        call = PageCall(server, browser)
        await asyncio.to_thread(browser.get, f"{server.url}/?test=1")
        await wait_js(call, "return !document.getElementById('call').disabled;", "agent list")
        await js(browser, "const s = document.getElementById('agent'); s.value = 'clinic';"
                          "s.dispatchEvent(new Event('change'));")  # fmt: skip
        button = await asyncio.to_thread(browser.find_element, "id", "call")
        await asyncio.to_thread(button.click)
        await wait_js(call, "return window.voicerouterTest.connectionState() === 'connected';", "connection")
        answered = "e => e.type === 'agent.audio_stopped' && e.turn_id === 1"
        await wait_js(call, f"return window.voicerouterTest.events.some({answered});", "end of the answer")
        await wait_js(call, "return document.querySelectorAll('.bubble.agent').length >= 2;", "answer bubble")
        for path in SCREENSHOTS:
            path.parent.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(browser.save_screenshot, str(path))
        await asyncio.to_thread(browser.set_window_size, *PHONE_WINDOW)  # the same call on a phone screen
        await asyncio.to_thread(browser.save_screenshot, str(PHONE_SCREENSHOT))
        await asyncio.to_thread(browser.set_window_size, *DESKTOP_WINDOW)
        call.events = await js(browser, "return window.voicerouterTest.events;")
        yield call
        await js(browser, "window.dispatchEvent(new Event('pagehide'));")  # hangs up if a test left it live


async def test_page_connects_and_reports_the_call_over_its_events_channel(page_call: PageCall) -> None:
    status = await js(page_call.driver, "return document.getElementById('status').textContent;")
    assert status == "Connected"
    kinds = [e["type"] for e in page_call.events]
    assert kinds[0] == "call.started"
    assert page_call.events[0]["transport"] == "webrtc" and page_call.events[0]["agent"] == "clinic"


async def test_server_transcribes_the_spoken_question_offline(page_call: PageCall) -> None:
    transcripts = [e["text"] for e in page_call.events if e["type"] == "user.transcript" and e["final"]]
    assert any("saturday" in text for text in transcripts), transcripts
    shown = await js(page_call.driver, "return [...document.querySelectorAll('.bubble.user .text')]"
                                       ".map(b => b.textContent);")  # fmt: skip
    assert any("saturday" in text for text in shown), shown


async def test_page_shows_a_triage_route_card_with_model_reason_latency_and_cost(page_call: PageCall) -> None:
    card = await wait_js(page_call, """
        const card = document.querySelector('.route-card[data-turn="1"]');
        if (!card || !card.querySelector('[data-fact="cost"]')) return null;
        const facts = {};
        card.querySelectorAll('dd').forEach(dd => { facts[dd.dataset.fact] = dd.textContent; });
        return {tier: card.querySelector('.tier').textContent, facts};
    """, "completed route card for turn 1")  # fmt: skip
    assert card["tier"] == "triage"
    assert card["facts"]["model"] and card["facts"]["reason"]
    assert card["facts"]["cost"].startswith("$")
    assert card["facts"]["first-token"].endswith(" ms")
    running = await js(page_call.driver, "return document.getElementById('cost').textContent;")
    assert running.startswith("$")


async def test_agent_answer_appears_in_the_transcript(page_call: PageCall) -> None:
    answer = next(e["text"] for e in page_call.events
                  if e["type"] == "agent.text" and e["turn_id"] == 1 and e["final"])  # fmt: skip
    shown = await js(page_call.driver, "return [...document.querySelectorAll('.bubble.agent .text')]"
                                       ".map(b => b.textContent);")  # fmt: skip
    assert "Saturday" in answer
    assert answer in shown, shown


async def test_page_receives_audible_agent_audio(page_call: PageCall) -> None:
    assert page_call.peak_remote_level > AUDIBLE_RMS, page_call.peak_remote_level


async def test_hang_up_button_ends_the_call_and_frees_the_server_peer(page_call: PageCall) -> None:
    server = page_call.server
    registry = server.app[PEERS_KEY]
    [peer] = registry.calls.values()  # the call is live while the other tests read the page
    assert len(server.context.calls) == 1
    await asyncio.to_thread(lambda: page_call.driver.find_element("id", "call").click())
    await wait_js(page_call, "return document.getElementById('status').dataset.state === 'ended';", "hang-up")
    assert await peer.wait_done(15.0)
    await server.wait_idle()
    assert not len(registry)


async def test_closing_the_page_mid_call_frees_the_server_peer(page_call: PageCall) -> None:
    driver, server = page_call.driver, page_call.server
    await asyncio.to_thread(driver.get, f"{server.url}/?test=1")
    await wait_js(page_call, "return !document.getElementById('call').disabled;", "agent list")
    await asyncio.to_thread(lambda: driver.find_element("id", "call").click())
    await wait_js(page_call, "return window.voicerouterTest.connectionState() === 'connected';", "connection")
    [peer] = server.app[PEERS_KEY].calls.values()
    await asyncio.to_thread(driver.get, "about:blank")
    assert await peer.wait_done(15.0)
    await server.wait_idle()


async def test_with_a_token_the_page_asks_for_it_and_calls_with_a_ticket_never_a_url_token(
    page_call: PageCall, tmp_path_factory: pytest.TempPathFactory
) -> None:
    driver, token = page_call.driver, "page-s3cret"
    async with running_server(tmp_path_factory.mktemp("guarded"), token=token) as server:
        guarded = PageCall(server, driver)
        await asyncio.to_thread(driver.get, f"{server.url}/?test=1")
        await wait_js(guarded, "return !document.getElementById('auth').hidden;", "token form")
        field = await asyncio.to_thread(driver.find_element, "id", "token")
        await asyncio.to_thread(field.send_keys, token)
        await asyncio.to_thread(lambda: driver.find_element("id", "unlock").click())
        await wait_js(guarded, "return !document.getElementById('call').disabled;", "agent list")
        await asyncio.to_thread(lambda: driver.find_element("id", "call").click())
        connected = "return window.voicerouterTest.connectionState() === 'connected';"
        await wait_js(guarded, connected, "connection")
        urls = await js(driver, "return performance.getEntriesByType('resource').map(e => e.name);")
        assert any(url.endswith("/session") for url in urls) and not any(token in url for url in urls), urls
        [peer] = server.app[PEERS_KEY].calls.values()
        await asyncio.to_thread(lambda: driver.find_element("id", "call").click())
        assert await peer.wait_done(15.0)
        await server.wait_idle()
