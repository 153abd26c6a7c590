"""SIP and SIPS URIs (RFC 3261 §19.1): parse into parts, print back in one canonical form.

Only `sip:` and `sips:` are parsed; any other scheme is reported as such so the caller can answer 416,
and nothing here resolves the host or decides where a request goes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from voicerouter.media.sip.params import Params, parse_params

SIP_SCHEMES = ("sip", "sips")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_HOSTNAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9])?\.?$")
_IPV6 = re.compile(r"^[0-9A-Fa-f:.]+$")
_USER_FORBIDDEN = re.compile(r"[\s<>\"@]")


class UriError(ValueError):
    """A URI that does not parse: `text` is the offending input."""

    def __init__(self, text: str, what: str) -> None:
        super().__init__(f"URI {text!r}: {what}")
        self.text = text


class UnsupportedUriScheme(UriError):
    """A well-formed URI of a scheme other than sip/sips (answer 416 to a request carrying it)."""

    def __init__(self, text: str, scheme: str) -> None:
        super().__init__(text, f"unsupported scheme {scheme!r}")
        self.scheme = scheme


@dataclass(frozen=True, slots=True)
class SipUri:
    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    scheme: str = "sip"
    params: Params = field(default_factory=Params)
    headers: str = ""  # the raw `?name=value&...` part, without the '?'

    def __str__(self) -> str:
        out = f"{self.scheme}:"
        if self.user is not None:
            out += self.user
            if self.password is not None:
                out += f":{self.password}"
            out += "@"
        out += f"[{self.host}]" if ":" in self.host else self.host
        if self.port is not None:
            out += f":{self.port}"
        out += str(self.params)
        if self.headers:
            out += f"?{self.headers}"
        return out

    @property
    def transport(self) -> str | None:
        value = self.params.get("transport")
        return value.upper() if value else None

    def with_params(self, **values: str | None) -> SipUri:
        params = self.params
        for name, value in values.items():
            params = params.with_param(name, value)
        return SipUri(self.host, self.user, self.password, self.port, self.scheme, params, self.headers)

    def same_host_port(self, other: SipUri) -> bool:
        return self.host.lower() == other.host.lower() and self.port == other.port


def uri_scheme(text: str) -> str | None:
    match = _SCHEME.match(text)
    return match.group(1).lower() if match else None


def parse_uri(text: str) -> SipUri:
    """Parse a sip:/sips: URI; `UnsupportedUriScheme` for other schemes, `UriError` for bad syntax."""
    text = text.strip()
    scheme = uri_scheme(text)
    if scheme is None:
        raise UriError(text, "no scheme")
    if scheme not in SIP_SCHEMES:
        raise UnsupportedUriScheme(text, scheme)
    rest = text[len(scheme) + 1 :]
    headers = ""
    at = rest.find("@")
    question = rest.find("?")
    user: str | None = None
    password: str | None = None
    if at != -1 and (question == -1 or at < question):
        userinfo, rest = rest[:at], rest[at + 1 :]
        user, _, pw = userinfo.partition(":")
        password = pw if ":" in userinfo else None
        if not user or _USER_FORBIDDEN.search(userinfo):
            raise UriError(text, "bad user part")
    rest, sep, headers = rest.partition("?")
    if sep and not headers:
        raise UriError(text, "empty header part")
    hostport, semi, param_text = rest.partition(";")
    host, port = _parse_hostport(text, hostport)
    try:
        params = parse_params(semi + param_text) if semi else Params()
    except ValueError as exc:
        raise UriError(text, str(exc)) from None
    return SipUri(host, user, password, port, scheme, params, headers)


def _parse_hostport(text: str, hostport: str) -> tuple[str, int | None]:
    port_text: str | None = None
    if hostport.startswith("["):
        close = hostport.find("]")
        if close == -1 or not _IPV6.match(hostport[1:close]):
            raise UriError(text, "bad IPv6 reference")
        host = hostport[1:close]
        tail = hostport[close + 1 :]
        if tail:
            if not tail.startswith(":"):
                raise UriError(text, "junk after IPv6 reference")
            port_text = tail[1:]
    else:
        host, colon, port_text_raw = hostport.partition(":")
        port_text = port_text_raw if colon else None
        if not _HOSTNAME.match(host):
            raise UriError(text, f"bad host {host!r}")
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise UriError(text, f"bad port {port_text!r}")
    return host, int(port_text)
