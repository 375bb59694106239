"""Anonymous clients that open streams and hold them, as an attacker would.

Raw sockets bound to their own loopback addresses (127.0.0.3, ...), so the
front door's per-address rate limit falls on them and not on the test's
legitimate calls from 127.0.0.1. Native gRPC over HTTP/2 (the h2 library:
many streams per connection, each started and left as the attacker likes)
and grpc-web over HTTP/1.1 (one request per connection). No client ever ends
an attempt: every attempt ends only when the server refuses or cuts it, or
when the test stops the attack.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import grpc
import h2.config
import h2.connection
import h2.events
import h2.exceptions

STATUS_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}


def frame(message: bytes, announced: int | None = None) -> bytes:
    """A gRPC length-prefixed message; `announced` claims more bytes than follow."""
    return b"\x00" + struct.pack(">I", len(message) if announced is None else announced) + message


@dataclass(frozen=True)
class Kind:
    name: str
    path: str
    body: bytes
    finished: bool  # whether the request ends (END_STREAM) after `body`


# 1 KiB of a 1 MiB "selfie", then nothing.
UNFINISHED_BODY = frame(b"\xff" * 1024, announced=1024 * 1024)
UNFINISHED_BODY_LENGTH = 5 + 1024 * 1024  # what the grpc-web upload's content-length promises

HEALTH_WATCH = Kind("Health/Watch", "/grpc.health.v1.Health/Watch", frame(b""), True)
# list_services (field 7), then the stream is left open: it is bidirectional.
REFLECTION = Kind("reflection", "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", frame(b"\x3a\x00"), False)
WATCH_RECORDS = Kind("WatchRecords without a token", "/attn.v1.TeacherService/WatchRecords", frame(b"\x0a\x01x"), True)
SLOW_BODY = Kind("a body that never finishes", "/attn.v1.StudentService/Attend", UNFINISHED_BODY, False)
SLOW_BODY_HTTP1 = Kind("a body that never finishes (grpc-web, HTTP/1.1)", "/attn.v1.StudentService/Attend",
                       UNFINISHED_BODY, False)


@dataclass
class Attempt:
    kind: Kind
    source: str
    outcome: str | None = None  # None while the attempt is open
    answered: bool = False  # the server sent a message or OK: the attacker got service
    http_status: str = ""
    grpc_status: str | None = None

    def end(self, outcome: str) -> None:
        if self.outcome is None:
            self.outcome = outcome

    def end_with_status(self) -> None:
        if self.grpc_status is None:
            self.end(f"refused: HTTP {self.http_status or '?'}")
        elif self.grpc_status == "0":
            self.answered = True
            self.end("answered OK")
        else:
            self.end(f"refused: {STATUS_NAMES.get(int(self.grpc_status), self.grpc_status)}")


@dataclass
class Attack:
    """`count` attempts of the given kinds (by share), from `sources`, over HTTP/2
    connections of at most `per_connection` streams, plus `http1` grpc-web ones."""

    host: str
    port: int
    sources: list[str]
    mix: dict[Kind, int]
    http1: int
    per_connection: int = 25
    attempts: list[Attempt] = field(default_factory=list)
    started: float = 0.0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sent: list[threading.Event] = []

    def start(self) -> None:
        kinds = [kind for kind, n in self.mix.items() for _ in range(n)]
        random.Random(6).shuffle(kinds)  # the rate limit meets every kind, in no favoured order
        connections = [kinds[i : i + self.per_connection] for i in range(0, len(kinds), self.per_connection)]
        self.started = time.monotonic()
        for i, kinds_here in enumerate(connections):
            source = self.sources[i % len(self.sources)]
            attempts = [Attempt(kind, source) for kind in kinds_here]
            self._spawn(self._http2, source, attempts)
        for i in range(self.http1):
            source = self.sources[i % len(self.sources)]
            self._spawn(self._http1, source, [Attempt(SLOW_BODY_HTTP1, source)])

    def _spawn(self, run, source: str, attempts: list[Attempt]) -> None:
        self.attempts.extend(attempts)
        sent = threading.Event()
        self._sent.append(sent)
        thread = threading.Thread(target=run, args=(source, attempts, sent), daemon=True)
        self._threads.append(thread)
        thread.start()

    def wait_until_sent(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        for sent in self._sent:
            if not sent.wait(max(0.0, deadline - time.monotonic())):
                raise AssertionError("the attack could not send all its attempts in time")

    def open(self) -> list[Attempt]:
        return [a for a in self.attempts if a.outcome is None]

    def wait_until_all_ended(self, deadline: float) -> None:
        """Waits until every attempt is refused or cut, or until `deadline` (monotonic)."""
        while self.open() and time.monotonic() < deadline:
            time.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def outcomes(self) -> Counter:
        return Counter((a.kind.name, a.outcome or "still open") for a in self.attempts)

    def _connect(self, source: str) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=10, source_address=(source, 0))
        sock.settimeout(0.1)
        return sock

    # === native gRPC over HTTP/2 ===

    def _http2(self, source: str, attempts: list[Attempt], sent: threading.Event) -> None:
        streams: dict[int, Attempt] = {}
        try:
            sock = self._connect(source)
        except OSError as error:
            for attempt in attempts:
                attempt.end(f"refused: connect ({error.__class__.__name__})")
            sent.set()
            return
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        try:
            conn.initiate_connection()
            sock.sendall(conn.data_to_send())
            self._await_settings(sock, conn, streams)
            for attempt in attempts:
                stream_id = conn.get_next_available_stream_id()
                conn.send_headers(stream_id, [
                    (":method", "POST"), (":scheme", "http"), (":path", attempt.kind.path), (":authority", "attn"),
                    ("content-type", "application/grpc"), ("te", "trailers"),
                ])
                conn.send_data(stream_id, attempt.kind.body, end_stream=attempt.kind.finished)
                streams[stream_id] = attempt
            sock.sendall(conn.data_to_send())
        except (OSError, h2.exceptions.ProtocolError) as error:
            for attempt in attempts:
                attempt.end(f"cut: connection ({error.__class__.__name__})")
        finally:
            sent.set()
        self._read(sock, conn, streams)
        sock.close()

    def _await_settings(self, sock: socket.socket, conn, streams: dict[int, Attempt]) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                raise ConnectionResetError("closed before its SETTINGS")
            events = conn.receive_data(data)
            sock.sendall(conn.data_to_send())
            if any(isinstance(e, h2.events.RemoteSettingsChanged) for e in events):
                return
        raise TimeoutError("no SETTINGS from the server")

    def _read(self, sock: socket.socket, conn, streams: dict[int, Attempt]) -> None:
        # Held until the test stops the attack, even once every attempt on it ended.
        while not self._stop.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                data = b""
            if not data:
                for attempt in streams.values():
                    attempt.end("cut: connection closed")
                return
            try:
                events = conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                for attempt in streams.values():
                    attempt.end("cut: protocol error")
                return
            for event in events:
                self._on(event, conn, streams)
            try:
                sock.sendall(conn.data_to_send())
            except OSError:
                pass

    @staticmethod
    def _on(event, conn, streams: dict[int, Attempt]) -> None:
        attempt = streams.get(getattr(event, "stream_id", None))
        if isinstance(event, h2.events.ResponseReceived) and attempt:
            headers = dict(event.headers)
            attempt.http_status = headers.get(":status", "")
            attempt.grpc_status = headers.get("grpc-status")
        elif isinstance(event, h2.events.DataReceived):
            conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if attempt and event.data:
                attempt.answered = True
        elif isinstance(event, h2.events.TrailersReceived) and attempt:
            attempt.grpc_status = dict(event.headers).get("grpc-status", attempt.grpc_status)
        elif isinstance(event, h2.events.StreamEnded) and attempt:
            attempt.end_with_status()
        elif isinstance(event, h2.events.StreamReset) and attempt:
            attempt.end("cut: stream reset")
        elif isinstance(event, h2.events.ConnectionTerminated):
            for other in streams.values():
                other.end("cut: connection closed (GOAWAY)")

    # === grpc-web over HTTP/1.1 ===

    def _http1(self, source: str, attempts: list[Attempt], sent: threading.Event) -> None:
        [attempt] = attempts
        try:
            sock = self._connect(source)
            body = attempt.kind.body
            sock.sendall(
                f"POST {attempt.kind.path} HTTP/1.1\r\nhost: attn\r\ncontent-type: application/grpc-web+proto\r\n"
                f"x-grpc-web: 1\r\ncontent-length: {UNFINISHED_BODY_LENGTH}\r\n\r\n".encode() + body
            )
        except OSError as error:
            attempt.end(f"refused: connect ({error.__class__.__name__})")
            sent.set()
            return
        sent.set()
        received = b""
        while not self._stop.is_set():
            try:
                data = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                data = b""
            if not data:
                attempt.end("cut: connection closed")
                break
            received += data
            if attempt.outcome is None and b"\r\n\r\n" in received:
                head = received.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")
                attempt.http_status = head[0].split(" ")[1]
                fields = dict(line.split(":", 1) for line in head[1:] if ":" in line)
                grpc_status = {k.strip().lower(): v.strip() for k, v in fields.items()}.get("grpc-status")
                attempt.grpc_status = grpc_status
                if grpc_status is None and attempt.http_status == "200":
                    attempt.answered = True  # a grpc-web answer streaming its messages
                    attempt.end("answered: HTTP 200")
                else:
                    attempt.end_with_status()
        sock.close()
