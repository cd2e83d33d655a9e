"""Which requests the studio answers: the Host, fetch-site and Origin checks, and the page's token.

The studio listens on the user's own machine, and every web page their browser has open can send
it requests. Three attacks follow, each with its answer here (docs/reliability.md, "The studio and
a hostile web page", has the table and the tests):

- **DNS rebinding.** A page on attacker.example re-points its own name at 127.0.0.1 and then reads
  the studio's replies as same-origin. Its requests carry ``Host: attacker.example:PORT``, so only
  Host values that name this server (localhost, the loopback addresses, the address given to
  --host; on every interface also any IP literal and this machine's names) are answered.
- **Cross-site requests.** A page cannot read a cross-origin reply, but an ``<img src>`` or a form
  still makes the studio do the work. Browsers label each request with ``Sec-Fetch-Site``: the API
  answers only ``same-origin`` and ``none`` (typed in the address bar) or requests without the
  header (curl, scripts). A link to the page itself (a navigation to ``/``) is let through.
- **Cross-site POSTs.** A "simple" POST (text/plain body) needs no preflight, so a form or fetch on
  any site could queue projections. A POST must carry the per-server token that the page embeds in
  itself (``X-Studio-Token``; a custom header also forces a preflight, which this server never
  grants), and any Origin it carries must be this server's.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
from dataclasses import dataclass, field
from typing import Mapping, Optional
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
EVERY_INTERFACE = frozenset({"", "0.0.0.0", "::"})
TOKEN_HEADER = "X-Studio-Token"
SAFE_FETCH_SITES = frozenset({"same-origin", "none"})


def split_host(value: str) -> tuple[str, Optional[int]]:
    """A Host header (or URL netloc) -> (lower-case name without brackets or trailing dot, port).

    'LocalHost:8765' -> ('localhost', 8765); '[::1]:80' -> ('::1', 80); 'example' -> ('example', 80).
    The port is None when it is not a number (such a Host names nothing we serve)."""
    value = value.strip().lower()
    if value.startswith("["):  # IPv6 literal: [addr]:port
        name, _, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ("80" if not rest else "x")
    elif value.count(":") == 1:
        name, _, port_text = value.partition(":")
    else:
        name, port_text = value, "80"
    return name.rstrip("."), int(port_text) if port_text.isdigit() else None


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


@dataclass(frozen=True)
class Guard:
    """The rules for one server: the port it listens on, the names that are its own, its token."""

    port: int
    names: frozenset[str]          # host names and addresses that name this server
    any_ip: bool                   # listening on every interface: any IP literal names it
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)

    @classmethod
    def for_address(cls, host: str, port: int) -> "Guard":
        """The guard of a server bound to (host, port); host as given to --host."""
        host = host.strip("[]").lower()
        names = set(LOOPBACK_NAMES)
        any_ip = host in EVERY_INTERFACE
        if any_ip:  # what another machine on the network may type to reach this one
            hostname = socket.gethostname().lower()
            names |= {hostname, f"{hostname}.local", socket.getfqdn().lower()}
        else:
            names.add(host)
        return cls(port, frozenset(names), any_ip)

    def names_us(self, host: Optional[str]) -> bool:
        """True when a Host header (or an Origin's netloc) names this server: its name and its port."""
        if not host:
            return False
        name, port = split_host(host)
        return port == self.port and (name in self.names or (self.any_ip and _is_ip(name)))

    def refusal(self, method: str, path: str, headers: Mapping[str, str]) -> Optional[str]:
        """None when the request may be served, else why not (sent with status 403)."""
        if not self.names_us(headers.get("Host")):
            return (f"this studio answers only requests addressed to it (e.g. http://127.0.0.1:{self.port}/), "
                    f"not to Host {headers.get('Host')!r}")
        site = headers.get("Sec-Fetch-Site")
        navigation = method == "GET" and path == "/" and headers.get("Sec-Fetch-Mode") == "navigate"
        if site is not None and site not in SAFE_FETCH_SITES and not navigation:
            return f"the studio answers only its own page (this request came from a {site} page)"
        if method == "POST":
            origin = headers.get("Origin")
            if origin is not None:
                url = urlsplit(origin)
                if url.scheme != "http" or not self.names_us(url.netloc):
                    return f"the studio accepts uploads only from its own page, not from {origin!r}"
            if not hmac.compare_digest(headers.get(TOKEN_HEADER, "").encode(), self.token.encode()):
                return (f"an upload needs the {TOKEN_HEADER} header of the studio's page "
                        "(open the page and upload there)")
        return None
