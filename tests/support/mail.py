"""Real mail servers for the email tests: Dovecot (IMAP + LMTP) and OpenSMTPD.

Each test session starts throwaway instances in a temporary directory, on
free ports (`make demo` or a system Dovecot/OpenSMTPD may hold 25, 143...):

- Dovecot serves IMAP to the test users (a passwd-file with plain passwords)
  and takes deliveries over LMTP into their Maildirs;
- OpenSMTPD accepts SMTP on 127.0.0.1 and delivers every recipient to that
  LMTP, so a message sent by SMTP is read back over IMAP, and a recipient
  Dovecot does not know makes OpenSMTPD send a real bounce (a delivery-status
  report from MAILER-DAEMON) to the sender.

OpenSMTPD keeps its queue and control socket at fixed paths (/var/spool/smtpd,
/run/smtpd.sock) and needs root; it runs in a private mount namespace
(unshare -m) where both are directories of the temporary one, so it never
meets a system OpenSMTPD or another test session's. The packages come from
Debian (scripts/with-test-services.sh installs dovecot-imapd, dovecot-lmtpd
and opensmtpd when missing).
"""

from __future__ import annotations

import ctypes
import email
import email.policy
import imaplib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

import pytest

from tests.support.ports import free_port

HOST = "127.0.0.1"
CENTRE = "atencion@centro.test"
CITIZEN = "vecina@correo.test"
SKIP_NOT_ROOT = "OpenSMTPD needs root to start (a test mail server)"
PR_SET_PDEATHSIG = 1


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited at start: {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(
        f"{what} does not listen on {port}: {log.read_text(errors='replace')[-2000:]}"
    )


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies, even by
    SIGKILL, so a killed run leaves no mail servers behind (Linux prctl)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@dataclass
class MailServers:
    """The running pair: SMTP in, IMAP out, for the users in `passwords`."""

    workdir: Path
    imap_port: int
    smtp_port: int
    passwords: dict[str, str] = field(default_factory=dict)
    host: str = HOST
    serving: bool = False  # Dovecot is up: a new user is checked by logging in

    def add_user(self, address: str, password: str | None = None) -> str:
        """A mailbox Dovecot serves (it re-reads the passwd-file when it changes)."""
        password = password or secrets.token_urlsafe(12)
        self.passwords[address] = password
        lines = "".join(f"{user}:{{PLAIN}}{pw}\n" for user, pw in self.passwords.items())
        users = self.workdir / "users"
        users.write_text(lines)
        # Dovecot notices a change by the file's modification time (seconds).
        stamp = time.time() + len(self.passwords)
        os.utime(users, (stamp, stamp))
        if not self.serving:
            return password
        # It also looks at the file at most once a second: a user added just
        # after a login would be refused. Log in until the new user is known.
        deadline = time.monotonic() + 10
        while True:
            try:
                self.imap(address).logout()
                return password
            except imaplib.IMAP4.error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def imap(self, address: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4(self.host, self.imap_port, timeout=10)
        client.login(address, self.passwords[address])
        return client

    def messages(self, address: str, folder: str = "INBOX") -> list[Message]:
        """Every message in the folder, oldest first (read without marking them seen)."""
        client = self.imap(address)
        try:
            client.select(folder)
            _, data = client.uid("SEARCH", "ALL")
            found: list[Message] = []
            for uid in data[0].split():
                _, parts = client.uid("FETCH", uid, "(BODY.PEEK[])")
                raw = next(p[1] for p in parts if isinstance(p, tuple))
                found.append(email.message_from_bytes(raw, policy=email.policy.default))
            return found
        finally:
            client.logout()

    def wait_for(
        self,
        address: str,
        check: Callable[[list[Message]], bool],
        *,
        timeout: float = 20.0,
    ) -> list[Message]:
        """The mailbox's messages once `check` holds (delivery is asynchronous)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages(address)
            if check(found):
                return found
            if time.monotonic() > deadline:
                subjects = [m.get("Subject") for m in found]
                raise AssertionError(f"{address}: not there after {timeout}s (have {subjects})")
            time.sleep(0.2)


def _dovecot_conf(work: Path, imap_port: int, lmtp_port: int, mail_user: str) -> str:
    root = os.geteuid() == 0
    # As root Dovecot runs its login and auth processes as its own users;
    # otherwise everything runs as whoever started it.
    me = pwd.getpwuid(os.geteuid()).pw_name
    unprivileged = "" if root else f"default_login_user = {me}\ndefault_internal_user = {me}\n"
    return f"""
base_dir = {work}/run
state_dir = {work}/state
log_path = {work}/dovecot.log
instance_name = atiende-test-{work.name}
protocols = imap lmtp
listen = {HOST}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# A refused test login (see add_user) is retried at once, not after 2 s.
auth_failure_delay = 0
{unprivileged}mail_location = maildir:{work}/mail/%u
mail_uid = {mail_user}
mail_gid = {mail_user if not root else "nogroup"}
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {work}/users
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_user if not root else "nogroup"} home={work}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {HOST}
    port = {lmtp_port}
  }}
  unix_listener lmtp {{
    mode = 0600
  }}
}}
"""


@pytest.fixture(scope="session")
def mail_servers() -> Iterator[MailServers]:
    for binary in ("dovecot", "smtpd", "unshare"):
        if shutil.which(binary) is None:
            pytest.fail(f"{binary} not found: run the tests through scripts/with-test-services.sh")
    if os.geteuid() != 0:
        pytest.skip(SKIP_NOT_ROOT)
    work = Path(tempfile.mkdtemp(prefix="atiende-mail-"))
    work.chmod(0o755)  # Dovecot's own users and the mail user enter it
    dovecot: subprocess.Popen[bytes] | None = None
    smtpd: subprocess.Popen[bytes] | None = None
    try:
        imap_port, lmtp_port, smtp_port = free_port(), free_port(), free_port()
        mail_user = "nobody"
        (work / "mail").mkdir()
        shutil.chown(work / "mail", mail_user)
        servers = MailServers(work, imap_port, smtp_port)
        servers.add_user(CENTRE)
        servers.add_user(CITIZEN)
        (work / "dovecot.conf").write_text(_dovecot_conf(work, imap_port, lmtp_port, mail_user))
        dovecot_log = work / "dovecot.log"
        dovecot_log.touch()
        dovecot = subprocess.Popen(
            ["dovecot", "-F", "-c", str(work / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=dovecot_log.open("ab"),
            preexec_fn=_die_with_parent,
        )
        _wait_for_port(imap_port, dovecot, dovecot_log, "Dovecot")
        _wait_for_port(lmtp_port, dovecot, dovecot_log, "Dovecot LMTP")
        servers.serving = True
        # Every recipient is relayed to Dovecot's LMTP; Dovecot refuses the
        # unknown ones (550) and OpenSMTPD bounces them to the sender at once.
        (work / "smtpd.conf").write_text(
            f"listen on {HOST} port {smtp_port}\n"
            f'action "deliver" relay host lmtp://{HOST}:{lmtp_port}\n'
            'match from any for any action "deliver"\n'
        )
        (work / "spool" / "smtpd").mkdir(parents=True)
        (work / "spool" / "smtpd").chmod(0o711)
        (work / "smtpd-run").mkdir()
        smtpd_log = work / "smtpd.log"
        script = (
            f"mount --bind {work}/spool /var/spool && mount --bind {work}/smtpd-run /run"
            f" && exec smtpd -d -f {work}/smtpd.conf"
        )
        smtpd = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            stdout=subprocess.DEVNULL,
            stderr=smtpd_log.open("ab"),
            preexec_fn=_die_with_parent,
        )
        _wait_for_port(smtp_port, smtpd, smtpd_log, "OpenSMTPD")
        yield servers
    finally:
        _stop(smtpd)
        _stop(dovecot)
        shutil.rmtree(work, ignore_errors=True)
