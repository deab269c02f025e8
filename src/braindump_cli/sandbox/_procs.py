"""Listening TCP ports from /proc/net (Linux), so `up` refuses a busy port before it starts anything.

Process identity and stopping live in `braindump_cli.process`.
"""

from __future__ import annotations

import ipaddress
import socket

from braindump_cli.process import PROC


def listening_ports() -> set[tuple[str, int]]:
    """(address, port) of every IPv4/IPv6 TCP socket in LISTEN state, from /proc/net/tcp{,6}."""
    out: set[tuple[str, int]] = set()
    for name, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            lines = (PROC / "net" / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != "0A":  # 0A = TCP_LISTEN
                continue
            addr_hex, port_hex = fields[1].split(":")
            raw = bytes.fromhex(addr_hex)
            # the kernel prints each 32-bit word in host (little-endian) order
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            address = ipaddress.ip_address(socket.inet_ntop(family, words))
            # Java listens on IPv6 sockets: an IPv4-mapped address is the IPv4 address it serves
            mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
            out.add((str(mapped or address), int(port_hex, 16)))
    return out


def port_in_use(host: str, port: int) -> bool:
    """True if something listens on host:port (or on the wildcard address of its family)."""
    listening = listening_ports()
    wildcard = "::" if ":" in host else "0.0.0.0"  # noqa: S104 - a lookup, not a bind
    return (host, port) in listening or (wildcard, port) in listening or ("::", port) in listening
