"""Network profiles: the round-trip time and bandwidth a user's request crosses, and what a request then costs.

Every profile is an assumption, not a measurement: its `source` says where the numbers come from.
The named ones are WebPageTest's connectivity profiles (`www/settings/connectivity.ini.sample` in
WPO-Foundation/webpagetest), which Chrome DevTools' throttling presets resemble; "RTT_MS/MBPS" is the
user's own figure.

    profile = parse_network("4g")                      # 170 ms RTT, 9 Mbit/s each way
    request_ms(profile, 400, 1500, compute_ms=0.5)     # compute + one RTT + both transfers
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from mleditor.errors import InvalidInputError

WEBPAGETEST = "WebPageTest connectivity profile"


@dataclass(frozen=True)
class NetworkProfile:
    """A network between the user and the server: round trip, bandwidth each way, and where the figures come from."""

    name: str
    rtt_ms: float
    down_mbps: float
    up_mbps: float
    source: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PROFILES = {
    "lan": NetworkProfile("lan", 1.0, 1000.0, 1000.0,
                          "assumption: a wired gigabit office network, 1 ms round trip (a typical switched LAN)"),
    "4g": NetworkProfile("4g", 170.0, 9.0, 9.0, f"assumption: {WEBPAGETEST} '4G' (170 ms RTT, 9 Mbit/s each way)"),
    "3g": NetworkProfile("3g", 300.0, 1.6, 0.768,
                         f"assumption: {WEBPAGETEST} '3G' (300 ms RTT, 1.6 Mbit/s down, 768 kbit/s up)"),
}
_CUSTOM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)\s*(?:/\s*(\d+(?:\.\d+)?)\s*)?$")
EXPECTED = "lan, 4g, 3g or RTT_MS/MBPS (e.g. 80/5; RTT_MS/DOWN/UP for different directions)"


def parse_network(text: str) -> NetworkProfile:
    """`lan`, `4g`, `3g`, or `RTT_MS/MBPS` ("80/5": 80 ms, 5 Mbit/s both ways; "80/20/5": 20 down, 5 up)."""
    named = PROFILES.get(text.strip().lower())
    if named is not None:
        return named
    match = _CUSTOM.match(text)
    if match is None:
        raise InvalidInputError(f"network {text!r} is not valid; expected {EXPECTED}")
    rtt, down = float(match[1]), float(match[2])
    up = float(match[3]) if match[3] else down
    if down <= 0 or up <= 0:
        raise InvalidInputError(f"network {text!r} is not valid; the bandwidth must be more than 0 Mbit/s")
    return NetworkProfile(text.strip(), rtt, down, up, f"assumption: given on the command line or in the scenario "
                                                       f"({rtt:g} ms RTT, {down:g} Mbit/s down, {up:g} up)")


def transfer_ms(size_bytes: float, mbps: float) -> float:
    """Milliseconds to move `size_bytes` at `mbps` megabits per second."""
    return size_bytes * 8 / (mbps * 1e6) * 1000


def request_ms(profile: NetworkProfile, request_bytes: int, response_bytes: int, compute_ms: float,
               new_connection: bool = False) -> float:
    """What a user waits for one request: compute + RTT (twice on a new TCP connection) + each direction's transfer."""
    round_trips = 2 if new_connection else 1
    return (compute_ms + profile.rtt_ms * round_trips + transfer_ms(request_bytes, profile.up_mbps)
            + transfer_ms(response_bytes, profile.down_mbps))
