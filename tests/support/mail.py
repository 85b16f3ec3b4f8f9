"""A real SMTP server on a free local port (aiosmtpd) that keeps every message it is sent."""

import email
import email.policy
import socket
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mailbox:
    """aiosmtpd's handler: each DATA becomes a parsed message in `messages`."""

    def __init__(self):
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"

    def only_message_to(self, address: str) -> EmailMessage:
        received = [message for message in self.messages if message["To"] == address]
        assert len(received) == 1, f"{len(received)} messages to {address}"
        return received[0]


@pytest.fixture
def smtp_server():
    """(host, port, mailbox) of a running SMTP server, stopped after the test."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.hostname, controller.port, mailbox
    finally:
        controller.stop()
