"""The test set-up's mail servers themselves: what the email tests rely on."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage, Message

from tests.support.mail import CENTRE, CITIZEN, MailServers


def test_smtp_delivers_into_the_mailbox_imap_serves(mail_servers: MailServers) -> None:
    message = EmailMessage()
    message["From"] = CITIZEN
    message["To"] = CENTRE
    message["Subject"] = "Prueba de entrega"
    message["Message-ID"] = "<prueba-entrega@correo.test>"
    message.set_content("Hola")
    with smtplib.SMTP(mail_servers.host, mail_servers.smtp_port, timeout=10) as smtp:
        assert smtp.send_message(message) == {}
    found = mail_servers.wait_for(
        CENTRE, lambda ms: any(m["Message-ID"] == "<prueba-entrega@correo.test>" for m in ms)
    )
    assert any(m["Subject"] == "Prueba de entrega" for m in found)


def test_an_unknown_recipient_bounces_to_the_sender(mail_servers: MailServers) -> None:
    message = EmailMessage()
    message["From"] = CITIZEN
    message["To"] = "nadie@correo.test"
    message["Subject"] = "A nadie"
    message["Message-ID"] = "<a-nadie@correo.test>"
    message.set_content("Hola")
    with smtplib.SMTP(mail_servers.host, mail_servers.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)

    def status_part(found: Message) -> bool:
        return any(p.get_content_type() == "message/delivery-status" for p in found.walk())

    [bounce] = mail_servers.wait_for(CITIZEN, lambda ms: any(status_part(m) for m in ms))
    # OpenSMTPD's own shape: multipart/mixed from MAILER-DAEMON, empty envelope sender.
    assert "MAILER-DAEMON" in bounce["From"] and bounce["Return-Path"] == "<>"
    assert "<a-nadie@correo.test>" in bounce.as_string()
