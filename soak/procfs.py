"""What a process holds, read from /proc (Linux): memory, CPU time, descriptors, TCP sockets."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import attrs

# /proc/net/tcp state codes (include/net/tcp_states.h).
TCP_STATES = {
    "01": "ESTABLISHED",
    "02": "SYN_SENT",
    "03": "SYN_RECV",
    "04": "FIN_WAIT1",
    "05": "FIN_WAIT2",
    "06": "TIME_WAIT",
    "07": "CLOSE",
    "08": "CLOSE_WAIT",
    "09": "LAST_ACK",
    "0A": "LISTEN",
    "0B": "CLOSING",
}


@attrs.frozen
class TcpSocket:
    """One TCP socket a process holds open."""

    local_port: int
    remote_port: int
    state: str


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` in KiB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` has used."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3, utime 14 and stime 15 (1-based, man proc).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fd_count(pid: int) -> int:
    """How many file descriptors ``pid`` has open."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for name in names:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{name}")
        except OSError:
            continue  # closed while we looked
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _table_rows(pid: int) -> Iterable[list[str]]:
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            yield line.split()


def tcp_sockets(pid: int) -> list[TcpSocket]:
    """The TCP sockets ``pid`` has open (TIME_WAIT ones belong to the kernel, not to it)."""
    inodes = _socket_inodes(pid)
    found = []
    for row in _table_rows(pid):
        if len(row) > 9 and row[9] in inodes:
            local, remote = row[1], row[2]
            found.append(
                TcpSocket(
                    int(local.rsplit(":", 1)[1], 16),
                    int(remote.rsplit(":", 1)[1], 16),
                    TCP_STATES.get(row[3], row[3]),
                )
            )
    return found
