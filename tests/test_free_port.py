"""The tests' free ports (tests/support/smtp.py free_port) for servers started later — `make run`'s, a child's —
come from outside the kernel's ephemeral range, where no outgoing connection of the busy machine can take one
as its source port in the meantime (a copy of `make run` once failed so: "address already in use")."""

import socket

from tests.support.smtp import _ephemeral_range, free_port


def test_a_free_port_is_outside_the_ephemeral_range_and_can_be_bound():
    low, high = _ephemeral_range()
    ports = {free_port() for _ in range(50)}
    assert all(not low <= p <= high for p in ports), sorted(ports)
    assert len(ports) > 40                                      # drawn, not the same one each time
    for port in list(ports)[:5]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
