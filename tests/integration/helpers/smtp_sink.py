"""A real SMTP server for the tests: aiosmtpd (Debian's python3-aiosmtpd) on 127.0.0.1:PORT.

Each message it accepts is parsed with the standard library and appended to OUT as one JSON
line: the envelope, the headers, and the decoded plain-text and HTML parts. Usage:
    python3 smtp_sink.py PORT OUT [REFUSED...]
Each REFUSED recipient is answered "550" at RCPT TO, as a server answers a mailbox that does
not exist: a permanent refusal. It prints "ready" once it accepts connections and runs until
killed.
"""
import email
import email.policy
import json
import signal
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out, refused):
        self.out = out
        self.refused = {r.lower() for r in refused}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refused:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        record = {
            "mailFrom": envelope.mail_from,
            "rcptTos": envelope.rcpt_tos,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "contentType": msg.get_content_type(),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None else None,
        }
        with open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        return "250 OK"


def main():
    port, out, refused = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    controller = Controller(Sink(out, refused), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()


if __name__ == "__main__":
    main()
