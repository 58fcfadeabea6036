#!/usr/bin/python3
"""A real SMTP server on loopback for the outbox tests (rule T4).

Accepts every message and keeps it: <dir>/NNNNNN.eml (the raw message) and one JSON line per
message in <dir>/received.jsonl: {"at": unix seconds, "to": [...], "message_id", "subject",
"text", "html"} (the two bodies decoded).
Prints "ready <port>" once it listens. Stops on SIGTERM.

With --delay-ms, the reply to DATA waits that long after the message is kept: a client killed in
that window never hears "250", just as if it died between "server accepted" and "marked sent".

Usage: sink.py --port PORT --dir DIR [--delay-ms N]
Needs aiosmtpd (Debian python3-aiosmtpd, or PyPI aiosmtpd).
"""
import argparse
import asyncio
import email
import email.policy
import json
import os
import signal
import sys
import threading
import time

from aiosmtpd.controller import Controller


class Keep:
    def __init__(self, directory, delay):
        self.dir = directory
        self.delay = delay
        self.lock = threading.Lock()
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        at = time.time()
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        with self.lock:
            self.count += 1
            name = os.path.join(self.dir, "%06d.eml" % self.count)
            with open(name, "wb") as f:
                f.write(raw)
            text = msg.get_body(("plain",))
            html = msg.get_body(("html",))
            line = {
                "at": at,
                "to": list(envelope.rcpt_tos),
                "mail_from": envelope.mail_from,
                "message_id": str(msg.get("Message-ID", "")),
                "subject": str(msg.get("Subject", "")),
                "file": os.path.basename(name),
                "text": text.get_content() if text is not None else None,
                "html": html.get_content() if html is not None else None,
            }
            with open(os.path.join(self.dir, "received.jsonl"), "a") as f:
                f.write(json.dumps(line) + "\n")
                f.flush()
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 Message accepted for delivery"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--delay-ms", type=int, default=0)
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    controller = Controller(Keep(a.dir, a.delay_ms / 1000.0), hostname="127.0.0.1", port=a.port)
    controller.start()
    print("ready %d" % a.port, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
