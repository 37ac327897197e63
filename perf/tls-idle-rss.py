#!/usr/bin/env python3
"""RSS per idle connection of a running gateway, plain or TLS (stdlib only).

Opens N connections to 127.0.0.1:PORT, upgrades each to OCPP-J 1.6, sends
one BootNotification and reads its answer, then holds them all idle and
reports the gateway's RSS growth per connection (from /proc/PID/status).

  python3 perf/tls-idle-rss.py PID PORT plain 4000
  python3 perf/tls-idle-rss.py PID PORT tls 4000 server.pem [localhost]

Needs `ulimit -n` above N. Loopback only.
"""
import json
import os
import socket
import ssl
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    raise SystemExit("no VmRSS")


def masked_text_frame(text):
    data = text.encode()
    mask = os.urandom(4)
    if len(data) < 126:
        head = bytes([0x81, 0x80 | len(data)])
    else:
        head = bytes([0x81, 0xFE]) + len(data).to_bytes(2, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def main():
    pid, port, mode, n = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    tls = mode == "tls"
    ctx = ssl.create_default_context(cafile=sys.argv[5]) if tls else None
    server_name = sys.argv[6] if len(sys.argv) > 6 else "localhost"
    boot = json.dumps([2, "1", "BootNotification", {"chargePointVendor": "A", "chargePointModel": "B"}])
    before = rss_kib(pid)
    held = []
    for i in range(n):
        sock = socket.create_connection(("127.0.0.1", port))
        if tls:
            sock = ctx.wrap_socket(sock, server_hostname=server_name)
        sock.sendall(
            (f"GET /ocpp/RSS-{i} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                raise SystemExit(f"connection {i} closed during the upgrade")
            head += chunk
        if not head.startswith(b"HTTP/1.1 101"):
            raise SystemExit(f"connection {i}: {head[:40]!r}")
        sock.sendall(masked_text_frame(boot))
        if not sock.recv(4096):
            raise SystemExit(f"connection {i}: no answer")
        held.append(sock)
    time.sleep(1.0)
    after = rss_kib(pid)
    print(json.dumps({"mode": mode, "connections": n, "rss_before_kib": before,
                      "rss_after_kib": after,
                      "bytes_per_connection": round((after - before) * 1024 / n)}))


if __name__ == "__main__":
    main()
