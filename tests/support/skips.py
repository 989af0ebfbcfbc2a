"""Skips are visible and allow-listed (issue 11: skips were silent).

Every skip's reason is matched against ALLOWED below. With
ATIENDE_STRICT_SKIPS=1 (CI sets it, see .ci/run) a skip whose reason is on no
entry fails the run: a test that quietly stops running is a lost test. The
list is kept short; each entry says why skipping there is right.
"""

from __future__ import annotations

import os
import re

import pytest

# reason pattern (regex, searched in the skip's reason) -> why that skip is legitimate
ALLOWED: dict[str, str] = {
    r"^root reads files whatever their mode$": (
        "a permission-denied test cannot be observed as root (CI runs as root); "
        "it runs on every developer's non-root machine"
    ),
    r"^OpenSMTPD needs root to start": (
        "the email tests' SMTP server (tests/support/mail.py) needs root for its "
        "private mount namespace and privilege separation; CI runs as root"
    ),
    r"^systemd-analyze security --offline unsupported": (
        "container kernels without systemd as PID 1 cannot run the offline "
        "security check; the unit syntax is still checked by systemd-analyze verify"
    ),
}

STRICT_ENV = "ATIENDE_STRICT_SKIPS"


def skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr)
    return reason.removeprefix("Skipped: ")


def allowed(reason: str) -> bool:
    return any(re.search(pattern, reason) for pattern in ALLOWED)


class SkipGuard:
    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.unexpected: list[tuple[str, str]] = []

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and not hasattr(report, "wasxfail"):
            reason = skip_reason(report)
            if not allowed(reason):
                self.unexpected.append((report.nodeid, reason))

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.unexpected:
            return
        verdict = "FAIL the run" if self.strict else f"would fail with {STRICT_ENV}=1"
        terminalreporter.section(f"skips not on the allow-list ({verdict})", sep="=")
        for nodeid, reason in self.unexpected:
            terminalreporter.line(f"{nodeid}: {reason}")
        terminalreporter.line("allow-list: tests/support/skips.py (ALLOWED)")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.strict and self.unexpected and exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_configure(config: pytest.Config) -> None:
    strict = os.environ.get(STRICT_ENV, "") not in ("", "0")
    config.pluginmanager.register(SkipGuard(strict), "atiende-skip-guard")
