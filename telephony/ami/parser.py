"""AMI wire format: bytes in, header mappings out. Pure (no sockets, no asyncio).

The parser buffers raw bytes and decodes only complete messages, so a UTF-8
character split across two TCP reads always comes out intact (panoramisk
decodes every read on its own and silently drops such characters).

This is the hot path of the bridge, so the common case avoids per-line Python
work: messages are framed on bytes, and a message of a shape seen before (the
same header names in the same order, as Asterisk sends every event of a kind)
is matched whole by that shape's compiled pattern, which yields its values
(see `_Shapes`). Anything else (a new shape, garbage lines, repeated headers,
the login banner, old-style `Response: Follows` bodies) takes the exact
line-by-line parse, which the shapes are learnt from.
"""

from __future__ import annotations

import itertools
import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator

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
        messages = region.split(sep)
        accept = self.accept
        if accept is not None:
            # Framing is cheap C work; decoding and building headers is not,
            # so messages nobody wants are dropped before either.
            select = self._select
            kept = select(messages) if select is not None else list(filter(accept, messages))
            if len(kept) != len(messages):
                self.dropped += len(messages) - len(kept)
                messages = kept
        limit = self.max_message_bytes
        if len(region) > limit:
            messages = [raw for raw in messages if self._within_limit(raw, limit)]
        # Each message decoded on its own: its separator is ASCII, so the text is
        # what decoding the whole region and splitting it would give.
        return self._parse_messages(map(bytes.decode, messages, _UTF8, _REPLACE), eol)

    def _within_limit(self, raw: bytes, limit: int) -> bool:
        if len(raw) <= limit:
            return True
        self.malformed += 1
        logger.warning("AMI message of %d bytes (limit %d) dropped", len(raw), limit)
        return False

    def _parse_messages(self, messages: Iterable[str], eol: str) -> list[Headers]:
        """Parse complete messages (each without its blank line).

        Fast path: a message of a known shape (its header names, in order: see
        `_Shapes`) is matched whole by that shape's compiled pattern, whose groups
        are the values; only the values become new strings, and the names come
        from the shape. A shape is tried only where it gives exactly what the
        line-by-line parse (`_parse_slow`) gives, and any other message takes
        that parse.
        """
        shapes = _SHAPES[eol]
        known = shapes.by_head.get
        out: list[Headers] = []
        append = out.append
        for message in messages:
            # The first line picks the candidate shapes (none: the exact parse).
            for match, names in known(message[: message.find(eol)], ()):
                found = match(message)
                if found is not None:
                    # As many groups as names; a keyword argument to zip
                    # would cost more than the rest of this line.
                    append(dict(zip(names, found.groups())))  # noqa: B905
                    break
            else:
                headers = self._parse_slow(message, eol)
                if headers is not None:
                    append(headers)
                    shapes.seen(message, headers)
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


# A learnt shape: its pattern's fullmatch and its header names.
_Shape = tuple[Callable[[str], "re.Match[str] | None"], tuple[str, ...]]


class _Shapes:
    """Message shapes seen on streams with one line ending, as compiled patterns.

    A shape is the sequence of header names of a message: Asterisk sends
    every event of one kind with the same names in the same order, so a
    busy stream has a few dozen shapes. Its pattern is the message with
    each value as a group: `Name: ([^\\r]*)` lines joined by the line
    ending (LF streams: `[^\\n]*`). A message the pattern matches whole is
    one header per line, each line the name, ": " and a value without a
    line ending, names all distinct, as the pattern has them; which is
    exactly the message the line-by-line parse splits into those names and
    values (a name never holds ": ", which the parse splits on first). A
    value that holds a lone CR on a CRLF stream simply does not match.

    Learnt from what the line-by-line parse gave: a shape is compiled on its
    second sighting (compiling costs a few thousand messages' worth of
    parsing, so a one-off shape, as garbage makes, is never compiled), and
    kept only if its pattern gives back that parse for that message. Shapes
    with a `Response` header are never learnt (a `Response: Follows` turns
    lines into a body), nor those with a line ending inside a name, nor
    from messages over 4 KiB. Bounded: a peer inventing shapes endlessly
    only loses the fast path.
    """

    def __init__(self, eol: str) -> None:
        self.eol = eol
        # First line -> (fullmatch, names) of the shapes whose messages start with it.
        self.by_head: dict[str, list[_Shape]] = {}
        self._value = "([^\r]*)" if eol == "\r\n" else "([^\n]*)"
        # (first line, *names) seen once, not compiled yet.
        self._sightings: dict[tuple[str, ...], bool] = {}
        self._count = 0

    def seen(self, message: str, headers: Headers) -> None:
        """`headers` is what the exact parse made of `message`: learn its shape."""
        if "Response" in headers or self._count >= _MAX_SHAPES or len(message) > _MAX_SHAPE_MESSAGE:
            return
        eol = self.eol
        head = message[: message.find(eol)]
        shape = (head, *headers)
        sightings = self._sightings
        if shape not in sightings:
            if len(sightings) >= _MAX_SIGHTINGS:
                sightings.clear()
            sightings[shape] = True
            return
        del sightings[shape]
        names = shape[1:]
        candidates = self.by_head.get(head, [])
        if len(candidates) >= _MAX_SHAPES_PER_HEAD or any(
            "\r" in name or "\n" in name for name in names
        ):
            return
        pattern = re.escape(eol).join(re.escape(name) + ": " + self._value for name in names)
        match = re.compile(pattern).fullmatch
        found = match(message)
        if found is None or dict(zip(names, found.groups(), strict=True)) != headers:
            return
        # Interned: every message of the shape shares these name strings.
        candidates.append((match, tuple(map(sys.intern, names))))
        self.by_head[head] = candidates
        self._count += 1


_SHAPES: dict[str, _Shapes] = {"\r\n": _Shapes("\r\n"), "\n": _Shapes("\n")}
# Shared by all parsers (a pure function of the text); bounded.
_MAX_SHAPES = 1_000
_MAX_SHAPES_PER_HEAD = 4
_MAX_SIGHTINGS = 1_000
# Longer messages are never learnt from: a sighting keeps the message's first
# line and names, so garbage cannot make the table hold much.
_MAX_SHAPE_MESSAGE = 4096
_UTF8 = itertools.repeat("utf-8")
_REPLACE = itertools.repeat("replace")


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
