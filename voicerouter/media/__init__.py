"""Call transports only: WebSocket (native, Twilio), WebRTC and SIP; each turns a protocol into call audio."""
