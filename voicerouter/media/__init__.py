"""Call transports: native WebSocket, Twilio Media Streams, WebRTC and SIP, and the audio call pipeline."""
