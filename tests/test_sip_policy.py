"""The SIP endpoint's inbound decisions on their own: agent choice, per-source rate limits, RTP port pairs."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicerouter.config import ConfigError, SipConfig, load_config
from voicerouter.media.sip_io.policy import AgentChooser, RtpPortPool, SourceRateLimiter

AGENTS = {"clinic", "helpdesk"}


def chooser(**config: object) -> AgentChooser:
    return AgentChooser(SipConfig.model_validate(config), "clinic", AGENTS.__contains__)


def test_a_dialled_number_is_matched_whatever_its_punctuation() -> None:
    numbers = chooser(numbers={"+1 (555) 010-0200": "helpdesk"})
    assert numbers.choose("+15550100200") == "helpdesk"
    assert numbers.choose("+1-555-010-0200") == "helpdesk"


def test_an_agent_name_as_user_reaches_that_agent_and_no_user_reaches_the_default() -> None:
    assert chooser().choose("helpdesk") == "helpdesk"
    assert chooser().choose(None) == "clinic"
    assert chooser(default_agent="helpdesk").choose("") == "helpdesk"


def test_an_unknown_user_is_refused_unless_configured_to_reach_the_default() -> None:
    assert chooser().choose("+15559999999") is None
    assert chooser().choose("../clinic") is None
    assert chooser(unknown_user="default_agent").choose("+15559999999") == "clinic"


def test_the_rate_limiter_allows_a_burst_then_refills_at_its_rate() -> None:
    limiter = SourceRateLimiter(per_minute=60, burst=2)
    assert [limiter.allow("192.0.2.1", 0.0) for _ in range(3)] == [True, True, False]
    assert limiter.allow("192.0.2.2", 0.0), "another source has its own bucket"
    assert limiter.retry_after_s("192.0.2.1") == 1
    assert not limiter.allow("192.0.2.1", 500.0)
    assert limiter.allow("192.0.2.1", 1_000.0)


def test_the_rate_limiter_forgets_sources_instead_of_growing_without_bound() -> None:
    limiter = SourceRateLimiter(per_minute=60, burst=1, max_sources=3)
    for i in range(10):
        limiter.allow(f"192.0.2.{i}", float(i))
    assert len(limiter) <= 3


def test_rtp_ports_are_even_pairs_handed_out_round_robin() -> None:
    pool = RtpPortPool(20001, 20008)  # even ports with their RTCP port inside: 20002, 20004, 20006
    assert pool.capacity == 3
    first = next(pool.candidates())
    pool.take(first)
    second = next(pool.candidates())
    pool.take(second)
    pool.release(first)
    assert (first, second) == (20002, 20004)
    assert list(pool.candidates()) == [20006, 20002], "a port just released is the last to be reused"


def test_a_port_range_without_a_pair_is_refused_by_the_config() -> None:
    with pytest.raises(ValueError, match="rtp_port_min"):
        SipConfig(rtp_port_min=20000, rtp_port_max=20000)


def test_a_bad_sip_table_names_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "voicerouter.toml"
    path.write_text('[sip]\ntransfer_digit = "9#"\n')
    with pytest.raises(ConfigError, match=r"voicerouter.toml: sip: .*transfer_digit"):
        load_config(path)
