"""AMI wire format: bytes in, header mappings out. Pure (no sockets, no asyncio).

The parser buffers raw bytes and decodes only complete messages, so a UTF-8
character split across two TCP reads always comes out intact (panoramisk
decodes every read on its own and silently drops such characters).

This is the hot path of the bridge, so the common case avoids per-line Python
work: one decode per batch of complete messages, and per message a handful of
C-level string calls (see `AmiParser._parse_block`). Anything unusual (garbage lines,
repeated headers, the login banner, old-style `Response: Follows` bodies)
falls back to an exact line-by-line parse.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator

from telephony.ami.stream import Headers

logger = logging.getLogger(__name__)

BANNER_PREFIX = "Asterisk Call Manager/"
_BANNER_PREFIX_BYTES = BANNER_PREFIX.encode()
# Old (pre-Asterisk 14) `Command` replies: free text (which may hold blank
# lines) after the headers, closed by this marker line.
_FOLLOWS = b"Response: Follows"
_END_COMMAND = "--END COMMAND--"
_END_COMMAND_BYTES = _END_COMMAND.encode()


class AmiParser:
    """Incremental AMI parser: `feed` bytes as they arrive, get complete messages.

    Both CRLF (what Asterisk sends) and bare LF line endings are accepted:
    the peer's first line ending decides. On a CRLF stream a bare LF is part
    of its line (old-style command output holds them); on a LF stream a CR
    before a LF is dropped. `malformed` counts the lines and messages that
    were skipped; `banner` holds the version announced by the optional
    `Asterisk Call Manager/X.Y.Z` greeting line.

    A header repeated in one message keeps all its values, joined with "\n".
    A message larger than `max_message_bytes` is dropped (and counted) up to
    the next blank line; memory held never exceeds about that limit plus
    one read.

    `accept`, if given, sees each complete message as raw bytes before it is
    decoded and returns False for one to drop unparsed (see
    telephony.ami.interest: the events the product does not use). It is never
    asked about old-style `Response: Follows` replies.
    """

    def __init__(
        self,
        *,
        max_message_bytes: int = 1 << 20,
        accept: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.max_message_bytes = max_message_bytes
        self.accept = accept
        # A filter that judges a whole read at once (interest.RawEventFilter.select).
        self._select: Callable[[list[bytes]], list[bytes]] | None = getattr(accept, "select", None)
        self.dropped = 0  # messages refused by `accept`
        self.banner: str | None = None
        self.malformed = 0
        self._pending = b""
        self._at_start = True
        # True while skipping the rest of an oversized message.
        self._discarding = False
        self._skip_tail = b""
        # Reads held aside while a big message is still incomplete.
        self._backlog: list[bytes] = []
        self._backlog_size = 0
        self._backlog_tail = b""
        # Line ending of this peer ("\r\n" for Asterisk), from its first line.
        self._eol: str | None = None

    def feed(self, data: bytes) -> list[Headers]:
        """Complete messages (with an Event or Response header) found so far, in order."""
        if self._discarding:
            data = self._skip_oversized(data)
            if not data:
                return []
        if self._backlog or len(self._pending) >= _BACKLOG_FROM:
            data = self._backlog_or_complete(data)
            if not data:
                return []
        buf = self._pending + data if self._pending else data
        if self._at_start:
            buf = self._take_banner(buf)
            if self._at_start:
                self._pending = buf
                return []
        if self._eol is None:
            first = buf.find(b"\n")
            if first < 0:
                self._keep_pending(buf, b"\n\n")
                return []
            # A peer keeps one convention: the first line ending decides.
            self._eol = "\r\n" if buf[first - 1 : first] == b"\r" else "\n"
        eol = self._eol
        if eol == "\r\n":
            sep = b"\r\n\r\n"
        else:
            # Peers using bare LF are rare: accept stray CRLF from them too.
            buf = buf.replace(b"\r\n", b"\n")
            sep = b"\n\n"
        if _FOLLOWS in buf:
            return self._feed_with_follows(buf, eol, sep)
        end = buf.rfind(sep)
        if end < 0:
            self._keep_pending(buf, sep)
            return []
        self._pending = buf[end + len(sep) :]
        if self._pending:
            self._check_pending_size(sep)
        return self._parse_region(buf[:end], eol, sep)

    def _backlog_or_complete(self, data: bytes) -> bytes:
        """Keep reads of a big unfinished message aside instead of re-joining and
        re-scanning the whole message on every read; return everything once a
        blank line may have arrived (b"" while still waiting)."""
        if self._at_start or self._eol is None or self._pending.startswith(_FOLLOWS):
            return data
        probe = (self._backlog_tail if self._backlog else self._pending[-3:]) + data
        self._backlog_tail = probe[-3:]
        if b"\n\n" in probe or b"\n\r\n" in probe:
            data = b"".join([*self._backlog, data])
            self._backlog = []
            self._backlog_size = 0
            return data
        self._backlog.append(data)
        self._backlog_size += len(data)
        if len(self._pending) + self._backlog_size > self.max_message_bytes:
            self._backlog = []
            self._backlog_size = 0
            self._drop_oversized(probe[-3:])
        return b""

    def _take_banner(self, buf: bytes) -> bytes:
        """Strip the one-line greeting Asterisk sends before any message."""
        probe = buf.lstrip(b"\r\n")
        if not probe:
            return b""
        if len(probe) < len(_BANNER_PREFIX_BYTES) and _BANNER_PREFIX_BYTES.startswith(probe):
            return buf  # too short to tell yet
        self._at_start = False
        if not probe.startswith(_BANNER_PREFIX_BYTES):
            return buf
        newline = probe.find(b"\n")
        if newline < 0:
            if len(probe) > self.max_message_bytes:
                self.malformed += 1
                logger.warning("AMI banner line longer than %d bytes; dropped", len(probe))
                return b""
            self._at_start = True
            return buf
        line = probe[:newline].decode("utf-8", "replace").rstrip("\r")
        self.banner = line[len(BANNER_PREFIX) :].strip()
        logger.info("AMI peer announced %r", line)
        return probe[newline + 1 :]

    def _keep_pending(self, buf: bytes, sep: bytes) -> None:
        self._pending = buf
        self._check_pending_size(sep)

    def _check_pending_size(self, sep: bytes) -> None:
        if len(self._pending) > self.max_message_bytes:
            # Keep only what could be the start of a blank line split across reads.
            self._drop_oversized(self._pending[-(len(sep) - 1) :])

    def _drop_oversized(self, tail: bytes) -> None:
        self.malformed += 1
        logger.warning(
            "AMI message over %d bytes without a terminator; skipping to the next blank line",
            self.max_message_bytes,
        )
        self._pending = b""
        self._discarding = True
        self._skip_tail = b""
        self._pending = self._skip_oversized(tail)

    def _skip_oversized(self, data: bytes) -> bytes:
        """Drop bytes up to and including the next blank line; return what follows."""
        buf = self._skip_tail + data
        ends = [i + n for i, n in ((buf.find(b"\n\n"), 2), (buf.find(b"\n\r\n"), 3)) if i >= 0]
        if not ends:
            self._skip_tail = buf[-2:]
            return b""
        self._discarding = False
        self._skip_tail = b""
        return buf[min(ends) :]

    def _feed_with_follows(self, buf: bytes, eol: str, sep: bytes) -> list[Headers]:
        """Frame messages one by one: a Follows body may hold blank lines."""
        out: list[Headers] = []
        half = sep[: len(sep) // 2]
        start = 0
        size = len(buf)
        while start < size:
            if buf.startswith(half, start):
                start += len(half)  # stray blank line between messages
                continue
            follows = buf.startswith(_FOLLOWS, start)
            end = _follows_end(buf, start, sep) if follows else buf.find(sep, start)
            if end < 0:
                break
            if follows and end - start <= self.max_message_bytes:
                # Never the fast path: body lines may look like headers.
                parsed = self._parse_slow(buf[start:end].decode("utf-8", "replace"), eol)
                out.extend(() if parsed is None else (parsed,))
            else:
                out.extend(self._parse_region(buf[start:end], eol, sep))
            start = end + len(sep)
        self._pending = buf[start:]
        if self._pending:
            self._check_pending_size(sep)
        return out

    def _parse_region(self, region: bytes, eol: str, sep: bytes) -> list[Headers]:
        """Parse complete messages; only a region bigger than the limit can hold one too big."""
        accept = self.accept
        if accept is not None:
            # Framing is cheap C work; decoding and building headers is not,
            # so messages nobody wants are dropped before either.
            framed = region.split(sep)
            select = self._select
            kept = select(framed) if select is not None else list(filter(accept, framed))
            if len(kept) != len(framed):
                self.dropped += len(framed) - len(kept)
                if not kept:
                    return []
                region = sep.join(kept)
        limit = self.max_message_bytes
        if len(region) <= limit:
            return self._parse_block(region.decode("utf-8", "replace"), eol)
        out: list[Headers] = []
        for raw in region.split(sep):
            if len(raw) > limit:
                self.malformed += 1
                logger.warning("AMI message of %d bytes (limit %d) dropped", len(raw), limit)
                continue
            out.extend(self._parse_block(raw.decode("utf-8", "replace"), eol))
        return out

    def _parse_block(self, text: str, eol: str) -> list[Headers]:
        """Parse complete messages separated by blank lines (no trailing separator).

        Fast path, for a whole block at once. Every line ending becomes
        ": " + eol, so splitting a message on ": " leaves each key with the
        line ending in front of it (a "marked key") and each value clean; a
        blank line becomes ": " + eol + ": ", which separates messages. Marked
        keys map to clean keys through a small table (`_KEYS`). The block is
        accepted only if that is provably what the line-by-line parse gives:
        every even part is a known marked key (so it started a line, and its
        line held one ": "), no message repeats a key, and all the block's
        line endings are accounted for (so no value spans a line). Otherwise
        it is parsed message by message (`_parse_exact`).
        """
        marker = ": " + eol
        marked = (eol + text).replace(eol, marker)
        line_endings = (len(marked) - len(text) - len(eol)) >> 1
        messages = marked[2:].split(marker + ": ")
        keys = _KEYS[eol]
        clean = keys.__getitem__
        out: list[Headers] = []
        append = out.append
        seen = len(messages) - 1  # one line ending in each separator
        untyped: list[str] = []
        for message in messages:
            parts = message.split(": ")
            # Rounded up: an odd count of parts (a key without its value) fails below.
            count = (len(parts) + 1) >> 1
            # zip takes a key through map, then the value, from one iterator.
            pairs = iter(parts)
            try:
                headers = dict(zip(map(clean, pairs), pairs, strict=False))
            except KeyError:
                if not _learn_keys(keys, parts[0::2], eol):
                    return self._parse_exact(text, eol)
                pairs = iter(parts)
                headers = dict(zip(map(clean, pairs), pairs, strict=False))
            if len(headers) != count:
                return self._parse_exact(text, eol)
            seen += count
            if "Event" in headers or "Response" in headers:
                append(headers)
            else:
                untyped.append(message)
        if seen != line_endings:
            return self._parse_exact(text, eol)
        for message in untyped:
            self._skip_message(message.replace(marker, eol).strip())
        return out

    def _parse_exact(self, text: str, eol: str) -> list[Headers]:
        out: list[Headers] = []
        for message in text.split(eol + eol):
            parsed = self._parse_slow(message, eol)
            if parsed is not None:
                out.append(parsed)
        return out

    def _parse_slow(self, message: str, eol: str) -> Headers | None:
        if not message.strip("\r\n"):
            return None  # extra blank lines between messages
        headers: Headers = {}
        lines = message.split(eol)
        body: list[str] = []
        in_body = follows = False
        for line in lines:
            if in_body:
                body.append(line)
                continue
            if not line:
                continue
            if follows and ("\n" in line or line.endswith(_END_COMMAND)):
                in_body = True  # LF-only output lines inside one CRLF "line"
                body.append(line)
                continue
            key, sep, value = line.partition(": ")
            if not sep:
                if line.endswith(":"):
                    key, value = line[:-1], ""
                elif follows:
                    in_body = True
                    body.append(line)
                    continue
                else:
                    self._skip_line(line)
                    continue
            if key in headers:
                headers[key] = headers[key] + "\n" + value
            else:
                headers[key] = value
                follows = follows or (key == "Response" and value == "Follows")
        if in_body:
            # Old-style command output becomes the header newer Asterisk uses.
            output = "\n".join(body).replace("\r\n", "\n").rstrip("\n")
            if output.endswith(_END_COMMAND):
                output = output[: -len(_END_COMMAND)].rstrip("\n")
            headers["Output"] = headers["Output"] + "\n" + output if "Output" in headers else output
        if "Event" not in headers and "Response" not in headers:
            self._skip_message(message)
            return None
        return headers

    def _skip_line(self, line: str) -> None:
        self.malformed += 1
        self._log_malformed("line without a header", line)

    def _skip_message(self, message: str) -> None:
        self.malformed += 1
        self._log_malformed("message with neither Event nor Response", message)

    def _log_malformed(self, what: str, sample: str) -> None:
        # Log at counts 1, 2, 4, 8... and every 1000th: a garbage flood cannot
        # flood the log.
        count = self.malformed
        if count & (count - 1) == 0 or count % 1000 == 0:
            logger.warning("AMI: skipped %s (%d skipped so far): %.80r", what, count, sample)


# Marked key (line ending + key) -> key, per line ending. Shared by all
# parsers (a pure function of the text); the clean keys are interned, so
# their hashes are computed once, which makes each message's dict cheaper.
# Bounded: a peer inventing endless keys only loses the fast path.
_KEYS: dict[str, dict[str, str]] = {"\r\n": {}, "\n": {}}
_MAX_KEYS = 10_000


def _learn_keys(keys: dict[str, str], marked: list[str], eol: str) -> bool:
    """Learn the marked keys; False if one is not a line-starting key."""
    for item in marked:
        if item in keys:
            continue
        key = item[len(eol) :]
        if not item.startswith(eol) or not key or eol in key or len(keys) >= _MAX_KEYS:
            return False
        keys[item] = sys.intern(key)
    return True


# Unfinished messages bigger than this are accumulated without re-scanning.
_BACKLOG_FROM = 4096


def _follows_end(buf: bytes, start: int, sep: bytes) -> int:
    """End of an old-style command reply starting at `start`, -1 if incomplete.

    Its output may hold blank lines, so it ends at the first blank line after
    the --END COMMAND-- marker; a blank line followed by what is clearly the
    next message also ends it (a peer that never sends the marker cannot make
    the parser swallow the rest of the stream).
    """
    end = buf.find(sep, start)
    while end >= 0:
        if buf.find(_END_COMMAND_BYTES, start, end) >= 0:
            return end
        after = end + len(sep)
        half = sep[: len(sep) // 2]
        while buf.startswith(half, after):  # stray blank lines before the next message
            after += len(half)
        probe = buf[after : after + len(_NEXT_MESSAGE)]
        if len(probe) < len(_NEXT_MESSAGE):
            return -1
        if probe.startswith(_NEXT_MESSAGE_STARTS):
            return end
        end = buf.find(sep, after)
    return -1


_NEXT_MESSAGE = b"Response: "
_NEXT_MESSAGE_STARTS = (b"Event: ", b"Response: ")


def iter_capture(data: bytes, accept: Callable[[bytes], bool] | None = None) -> Iterator[Headers]:
    """Every message of a whole capture (a complete final message needs no terminator)."""
    parser = AmiParser(accept=accept)
    yield from parser.feed(data)
    yield from parser.feed(b"\r\n\r\n" if b"\r\n" in data else b"\n\n")
