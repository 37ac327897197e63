#!/usr/bin/env python3
"""Boots one OCPP 1.6 charge point against a gateway: the WebSocket
upgrade, a BootNotification CALL, and a check that the answer is an
Accepted CALLRESULT. Standard library only, so .ci/deb needs nothing
installed for it.

usage: deb_boot.py ws://127.0.0.1:8180/ocpp/CI-1
Exit 0 when accepted; otherwise a message on stderr and exit 1.
"""

import base64
import hashlib
import json
import os
import socket
import struct
import sys
import urllib.parse

# RFC 6455 §1.3: the key every server appends before hashing.
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TIMEOUT_S = 10


def fail(message):
    sys.exit(f"deb_boot: {message}")


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            fail(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def upgrade(sock, host, path):
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: ocpp1.6\r\n"
        "\r\n"
    )
    sock.sendall(request.encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += recv_exact(sock, 1)
        if len(head) > 16384:
            fail("no end of the HTTP response headers")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1.1 101"):
        fail(f"upgrade refused: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    expected = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    if headers.get("sec-websocket-accept") != expected:
        fail(f"bad Sec-WebSocket-Accept: {headers.get('sec-websocket-accept')!r}")
    if headers.get("sec-websocket-protocol") != "ocpp1.6":
        fail(f"subprotocol not ocpp1.6: {headers.get('sec-websocket-protocol')!r}")


def send_text(sock, text):
    """One masked text frame (clients must mask, RFC 6455 §5.3)."""
    payload = text.encode()
    mask = os.urandom(4)
    if len(payload) < 126:
        header = struct.pack("!BB", 0x81, 0x80 | len(payload))
    else:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, len(payload))
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(header + mask + masked)


def recv_text(sock):
    """The next text message; pings are skipped (the gateway pings on its
    own schedule), anything else is a failure."""
    while True:
        first, second = recv_exact(sock, 2)
        opcode, length = first & 0x0F, second & 0x7F
        if second & 0x80:
            fail("the server masked a frame")
        if length == 126:
            (length,) = struct.unpack("!H", recv_exact(sock, 2))
        elif length == 127:
            (length,) = struct.unpack("!Q", recv_exact(sock, 8))
        payload = recv_exact(sock, length)
        if opcode == 0x1 and first & 0x80:
            return payload.decode()
        if opcode != 0x9:
            fail(f"unexpected frame: opcode {opcode}, payload {payload[:200]!r}")


def main():
    if len(sys.argv) != 2:
        fail("usage: deb_boot.py ws://HOST:PORT/PATH")
    url = urllib.parse.urlsplit(sys.argv[1])
    if url.scheme != "ws" or not url.hostname or not url.port:
        fail(f"not a ws://host:port/path URL: {sys.argv[1]!r}")
    with socket.create_connection((url.hostname, url.port), timeout=TIMEOUT_S) as sock:
        upgrade(sock, url.netloc, url.path)
        boot = [2, "1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]
        send_text(sock, json.dumps(boot))
        answer_text = recv_text(sock)
    answer = json.loads(answer_text)
    if not (
        isinstance(answer, list)
        and answer[:2] == [3, "1"]
        and len(answer) == 3
        and isinstance(answer[2], dict)
        and answer[2].get("status") == "Accepted"
    ):
        fail(f"not an Accepted BootNotification answer: {answer_text}")
    print(f"deb_boot: {url.path}: {answer_text}")


if __name__ == "__main__":
    main()
