"""WebSocket transports: the native audio protocol and Twilio Media Streams, and what they share."""
