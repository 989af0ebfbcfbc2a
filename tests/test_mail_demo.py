"""`atiende demo` reads a mailbox only when one is configured (here the test set-up's)."""

from __future__ import annotations

import io
import smtplib
import sqlite3
import uuid
from email.message import EmailMessage
from pathlib import Path

from pydantic import SecretStr

from atiende.demo import run_demo
from atiende.settings import ApiSettings, MailboxSettings, MailSettings, Settings
from tests.support.mail import MailServers


async def test_the_demo_turns_mail_of_a_configured_mailbox_into_tickets(
    tmp_path: Path, mail_servers: MailServers
) -> None:
    tag = uuid.uuid4().hex[:8]
    centre = f"demo-{tag}@centro.test"
    mail_servers.add_user(centre)
    message = EmailMessage()
    message["From"] = f"vecina-{tag}@correo.test"
    message["To"] = centre
    message["Subject"] = "Partida de nacimiento"
    message["Message-ID"] = f"<demo-{tag}@correo.test>"
    message.set_content("¿Cómo pido una partida?")
    with smtplib.SMTP(mail_servers.host, mail_servers.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)
    mail_servers.wait_for(centre, lambda found: len(found) >= 1)
    database = tmp_path / "demo.db"
    settings = Settings(
        database_url=f"sqlite:///{database}",
        metrics_port=0,
        api=ApiSettings(port=0),
        mail=MailSettings(
            poll_interval=0.5,
            mailboxes=[
                MailboxSettings(
                    name="mde",
                    address=centre,
                    organism="MDE",
                    unit="AC",
                    host=mail_servers.host,
                    port=mail_servers.imap_port,
                    security="none",
                    username=centre,
                    password=SecretStr(mail_servers.passwords[centre]),
                )
            ],
        ),
    )
    out = io.StringIO()
    await run_demo(settings, speed=40, duration=4.0, calls_per_minute=10, out=out)
    assert "mail intake    1 mailbox(es)" in out.getvalue()
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT channel, topic FROM tickets").fetchall()
    assert rows == [("correo", "Partida de nacimiento")]


async def test_the_demo_reads_no_mail_without_a_mailbox(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'demo.db'}", metrics_port=0, api=ApiSettings(port=0)
    )
    out = io.StringIO()
    await run_demo(settings, speed=40, duration=1.0, calls_per_minute=10, out=out)
    assert "mail intake" not in out.getvalue()
