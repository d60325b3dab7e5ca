# h2_attack.py - hand-made HTTP/2 for the transport attack tests: a raw client connection (h2 over a
# plain socket, optionally from another loopback source address) that opens gRPC streams, sends
# partial or whole messages, resets streams, and reads back what the server ended each stream with.
import socket
import struct

import h2.config
import h2.connection
import h2.events
import h2.exceptions

SERVICE = "/immudb.schema.ImmuService/"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def grpc_frame(msg):
    """One gRPC length-prefixed message (uncompressed)."""
    return b"\x00" + struct.pack(">I", len(msg)) + msg


class RawH2:
    def __init__(self, address, source=None, timeout=10):
        host, port = address.rsplit(":", 1)
        self.sock = socket.socket()
        self.sock.settimeout(timeout)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect((host, int(port)))
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        # sent before reading the server's SETTINGS: h2 does not know its stream limit yet, like an
        # attacker that ignores it
        self.flush()
        self.status = {}   # stream id -> grpc-status (str) or "reset"
        self.data = {}
        self.closed = False

    def flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def open_stream(self, method, metadata=()):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", "POST"), (":scheme", "http"), (":path", SERVICE + method), (":authority", "sealdb"),
                ("content-type", "application/grpc"), ("te", "trailers")] + list(metadata)
        self.conn.send_headers(sid, hdrs, end_stream=False)
        return sid

    def send(self, sid, data, end=False):
        self.conn.send_data(sid, data, end_stream=end)

    def reset(self, sid):
        self.conn.reset_stream(sid)

    def pump(self, seconds=0.2):
        """Reads what the server sent for up to `seconds`; returns False once the connection closed."""
        self.sock.settimeout(seconds)
        try:
            while True:
                b = self.sock.recv(65536)
                if not b:
                    self.closed = True
                    return False
                for ev in self.conn.receive_data(b):
                    if isinstance(ev, h2.events.TrailersReceived) or isinstance(ev, h2.events.ResponseReceived):
                        for k, v in ev.headers:
                            if k == "grpc-status":
                                self.status[ev.stream_id] = v
                    elif isinstance(ev, h2.events.StreamReset):
                        self.status.setdefault(ev.stream_id, "reset")
                    elif isinstance(ev, h2.events.DataReceived):
                        self.data[ev.stream_id] = self.data.get(ev.stream_id, b"") + ev.data
                        self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.ConnectionTerminated):
                        self.closed = True
                try:
                    self.flush()
                except OSError:
                    self.closed = True
                    return False
        except socket.timeout:
            return True
        except (ConnectionError, OSError, h2.exceptions.ProtocolError):
            self.closed = True
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def unary(self, method, body, metadata=(), timeout=10):
        """One unary call on this connection; returns its grpc-status ("0" = OK) or None on timeout."""
        import time
        sid = self.open_stream(method, metadata)
        self.send(sid, grpc_frame(body), end=True)
        self.flush()
        deadline = time.monotonic() + timeout
        while sid not in self.status and not self.closed and time.monotonic() < deadline:
            self.pump(0.05)
        return self.status.get(sid)
