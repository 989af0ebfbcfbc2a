"""What an incoming email is: bounces, automatic replies, threads, text, attachments."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from crm_bridge.mail_rules import (
    AttachmentPolicy,
    MailKind,
    attachments,
    body_text,
    classify,
    normalise_message_id,
    safe_filename,
    sender_of,
    thread_of,
)
from crm_bridge.mail_store import reply_subject


def person_message(**headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "María Pérez <Maria@Correo.TEST>"
    message["To"] = "atencion@centro.test"
    message["Subject"] = "Consulta por mi pensión"
    message["Message-ID"] = "<m1@correo.test>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content("Hola, quisiera saber el estado de mi trámite.")
    return message


def test_a_person_writing_is_a_person() -> None:
    assert classify(person_message()) is MailKind.PERSON
    assert classify(person_message(Auto_Submitted="no")) is MailKind.PERSON


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "auto-replied"},
        {"Auto_Submitted": "auto-generated"},
        {"X_Autoreply": "yes"},
        {"Precedence": "bulk"},
        {"Precedence": "auto_reply"},
        {"Precedence": "junk"},
        {"X_Auto_Response_Suppress": "All"},
    ],
)
def test_automatic_replies_are_recognised(headers: dict[str, str]) -> None:
    assert classify(person_message(**headers)) is MailKind.AUTO_REPLY


def test_bounces_are_recognised_in_their_usual_shapes() -> None:
    report = EmailMessage()
    report["From"] = "Mail Delivery System <MAILER-DAEMON@mx.example>"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report.set_content("could not deliver")
    assert classify(report) is MailKind.BOUNCE  # by sender alone
    dsn = message_from_bytes(
        b"From: postmaster@mx.example\r\nTo: a@b.test\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n--B--\r\n",
        policy=policy.default,
    )
    assert classify(dsn) is MailKind.BOUNCE
    mixed = message_from_bytes(  # OpenSMTPD's: multipart/mixed with a status part
        b"From: Someone <someone@mx.example>\r\nReturn-Path: <>\r\nSubject: x\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n--B--\r\n",
        policy=policy.default,
    )
    assert classify(mixed) is MailKind.BOUNCE


def test_the_thread_reads_in_reply_to_references_and_the_number_in_the_subject() -> None:
    message = person_message(
        In_Reply_To="<r2@centro.test>",
        References="<m0@correo.test> <r1@centro.test>  <r2@centro.test>",
    )
    del message["Subject"]
    message["Subject"] = "Re: Consulta [Solicitud 2026-000123]"
    thread = thread_of(message)
    assert thread.message_id == "<m1@correo.test>"
    assert thread.answers == ("<r2@centro.test>", "<r1@centro.test>", "<m0@correo.test>")
    assert thread.ticket_number == "2026-000123"
    assert thread_of(person_message()).ticket_number is None


def test_message_ids_are_bounded() -> None:
    assert normalise_message_id("junk") is None
    long_id = "<" + "a" * 400 + "@x>"
    stored = normalise_message_id(long_id)
    assert stored is not None and len(stored) <= 255 and stored == normalise_message_id(long_id)


def test_sender_address_has_its_domain_lower_cased() -> None:
    assert sender_of(person_message()) == ("María Pérez", "Maria@correo.test")


def test_text_comes_from_the_plain_part_or_the_html_without_tags() -> None:
    assert body_text(person_message()).startswith("Hola, quisiera")
    html = EmailMessage()
    html.set_content("<p>Hola</p><script>alert(1)</script><p>Mi <b>pensión</b></p>", subtype="html")
    text = body_text(html)
    assert "alert" not in text and "<" not in text
    assert "Hola" in text and "Mi pensión" in text


def test_attachments_are_kept_within_the_allow_list_and_the_limits() -> None:
    message = person_message()
    message.add_attachment(
        b"%PDF-1.4 cedula", maintype="application", subtype="pdf", filename="../../etc/cédula.pdf"
    )
    message.add_attachment(
        b"MZ\x90\x00", maintype="application", subtype="octet-stream", filename="factura.exe"
    )
    message.add_attachment(
        b"<svg onload=alert(1)>", maintype="image", subtype="svg+xml", filename="logo.svg"
    )
    message.add_attachment(b"MZ", maintype="application", subtype="pdf", filename="truco.pdf.exe")
    message.add_attachment(b"x" * 2048, maintype="image", subtype="png", filename="grande.png")
    kept, refused = attachments(message, AttachmentPolicy(max_bytes=1024))
    assert [(a.filename, a.content_type, a.size) for a in kept] == [
        ("cédula.pdf", "application/pdf", 15)
    ]
    assert [name for name, _ in refused] == [
        "factura.exe",
        "logo.svg",
        "truco.pdf.exe",
        "grande.png",
    ]
    assert "supera" in refused[-1][1]


def test_file_names_lose_folders_and_quoting() -> None:
    assert safe_filename('..\\..\\a"b;c.pdf') == "a_b_c.pdf"
    assert safe_filename(None) == "adjunto"
    assert safe_filename("...") == "adjunto"


def test_reply_subjects_carry_the_ticket_number_once() -> None:
    assert reply_subject("Consulta", "2026-000001") == "Re: Consulta [Solicitud 2026-000001]"
    assert (
        reply_subject("Re: Re: Consulta [Solicitud 2026-000001]", "2026-000001")
        == "Re: Consulta [Solicitud 2026-000001]"
    )
    assert reply_subject("", "2026-000002") == "Re: Su solicitud [Solicitud 2026-000002]"
