"""The asyncio side of SIP: sockets, the endpoint's call decisions, RTP per call, TCP framing, policy."""
