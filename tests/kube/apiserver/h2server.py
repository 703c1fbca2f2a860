"""HTTP/2 for the test API server (--http2), with Debian's python3-h2 (the sans-IO hyper-h2).

A real API server negotiates h2 through ALPN and client-go then multiplexes every request and
watch of a client over one connection. Here, per connection:
  - one I/O thread owns the TLS socket: it reads frames into the h2 state machine and writes out
    whatever the state machine has to send (workers wake it through a socketpair), so the socket
    is never read and written from two threads at once;
  - one worker thread per request stream runs the same request handler as HTTP/1.1 (H2Handler
    overrides only how the status line, headers and body bytes go out);
  - workers respect flow control: they wait for WINDOW_UPDATE when the peer's window is spent.
PING frames are answered by h2 itself. A dropped connection (/_test/drop-watches) closes the
socket, ending every stream of the connection at once, as a network failure would.
"""

import email.message
import io
import socket
import threading
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

MAX_STREAMS = 250
HOP_BY_HOP = {'connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection'}


class Stream:
    def __init__(self, sid, headers):
        self.sid = sid
        self.headers = headers
        self.body = bytearray()
        self.closed = False      # reset by the peer, or the connection went away
        self.ended = False       # we sent END_STREAM


class H2Conn:
    def __init__(self, server, tls, client_address, handler_cls, max_body):
        self.server = server
        self.tls = tls
        self.client_address = client_address
        self.handler_cls = handler_cls
        self.max_body = max_body
        cfg = h2.config.H2Configuration(client_side=False, header_encoding='utf-8')
        self.conn = h2.connection.H2Connection(config=cfg)
        self.cond = threading.Condition()
        self.streams = {}
        self.closed = False
        self.goaway_requested = False
        self.wake_r, self.wake_w = socket.socketpair()
        self.wake_w.setblocking(False)

    # --- called by workers (any thread) ----------------------------------------------------------

    def wake(self):
        try:
            self.wake_w.send(b'x')
        except (BlockingIOError, OSError):
            pass

    def send_headers(self, st, headers, end=False):
        with self.cond:
            if self.closed or st.closed:
                raise BrokenPipeError('stream %d closed' % st.sid)
            self.conn.send_headers(st.sid, headers, end_stream=end)
            st.ended = end
        self.wake()

    def send_data(self, st, data, end=False):
        data = memoryview(bytes(data))
        with self.cond:
            while len(data):
                if self.closed or st.closed:
                    raise BrokenPipeError('stream %d closed' % st.sid)
                try:
                    window = self.conn.local_flow_control_window(st.sid)
                except h2.exceptions.StreamClosedError:
                    st.closed = True
                    raise BrokenPipeError('stream %d closed' % st.sid)
                if window <= 0:
                    self.wake()
                    self.cond.wait(1.0)
                    continue
                n = min(window, len(data), self.conn.max_outbound_frame_size)
                self.conn.send_data(st.sid, data[:n].tobytes())
                data = data[n:]
                self.wake()
            if end and not st.ended:
                self.conn.end_stream(st.sid)
                st.ended = True
        self.wake()

    def end(self, st):
        with self.cond:
            if self.closed or st.closed or st.ended:
                return
            try:
                self.conn.end_stream(st.sid)
            except h2.exceptions.StreamClosedError:
                pass
            st.ended = True
        self.wake()

    def goaway(self):
        """Asks the I/O thread to send GOAWAY (NO_ERROR) and close: how a server going away tells
        its clients to reconnect elsewhere. Streams still open are cut."""
        with self.cond:
            self.goaway_requested = True
        self.wake()

    def abort(self):
        """Closes the socket without GOAWAY: a network failure."""
        with self.cond:
            self.closed = True
            for st in self.streams.values():
                st.closed = True
            self.cond.notify_all()
        try:
            self.tls.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # --- the I/O thread --------------------------------------------------------------------------

    def run(self):
        import select
        with self.cond:
            self.conn.update_settings({h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS:
                                       MAX_STREAMS})
            self.conn.initiate_connection()
        try:
            while True:
                with self.cond:
                    if self.goaway_requested and not self.closed:
                        self.conn.close_connection(h2.errors.ErrorCodes.NO_ERROR)
                        self.closed = True
                        for st in self.streams.values():
                            st.closed = True
                        self.cond.notify_all()
                    out = self.conn.data_to_send()
                    if self.closed:
                        if out:
                            self.tls.sendall(out)
                        break
                if out:
                    self.tls.sendall(out)
                if self.tls.pending():
                    readable = [self.tls]
                else:
                    readable, _, _ = select.select([self.tls, self.wake_r], [], [], 1.0)
                if self.wake_r in readable:
                    try:
                        self.wake_r.recv(4096)
                    except OSError:
                        pass
                if self.tls in readable:
                    data = self.tls.recv(65536)
                    if not data:
                        break
                    self.receive(data)
        except (OSError, h2.exceptions.ProtocolError):
            pass
        finally:
            with self.cond:
                self.closed = True
                for st in self.streams.values():
                    st.closed = True
                self.cond.notify_all()
            self.wake_r.close()
            self.wake_w.close()

    def receive(self, data):
        with self.cond:
            try:
                events = self.conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                self.conn.close_connection(h2.errors.ErrorCodes.PROTOCOL_ERROR)
                self.tls.sendall(self.conn.data_to_send())
                raise
            for ev in events:
                if isinstance(ev, h2.events.RequestReceived):
                    self.streams[ev.stream_id] = Stream(ev.stream_id, ev.headers)
                elif isinstance(ev, h2.events.DataReceived):
                    st = self.streams.get(ev.stream_id)
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    if st is not None:
                        st.body += ev.data
                        if len(st.body) > self.max_body:
                            self.conn.reset_stream(ev.stream_id,
                                                   h2.errors.ErrorCodes.REFUSED_STREAM)
                            st.closed = True
                elif isinstance(ev, h2.events.StreamEnded):
                    st = self.streams.get(ev.stream_id)
                    if st is not None and not st.closed:
                        threading.Thread(target=self.serve_stream, args=(st,),
                                         daemon=True).start()
                elif isinstance(ev, h2.events.StreamReset):
                    st = self.streams.pop(ev.stream_id, None)
                    if st is not None:
                        st.closed = True
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    self.closed = True
            self.cond.notify_all()

    def serve_stream(self, st):
        h = self.handler_cls.for_h2(self, st)
        try:
            h.dispatch()
            if not h.headers_sent:
                h.send_error_status_plain(500)
            self.end(st)
        except (BrokenPipeError, OSError):
            pass
        finally:
            with self.cond:
                self.streams.pop(st.sid, None)


def make_handler_class(base):
    """An HTTP/2 variant of the HTTP/1.1 request handler class `base`."""

    class H2Handler(base):
        @classmethod
        def for_h2(cls, h2c, st):
            h = cls.__new__(cls)
            h.h2c = h2c
            h.stream = st
            h.server = h2c.server
            h.client_address = h2c.client_address
            h.connection = h2c.tls
            msg = email.message.Message()
            pseudo = {}
            for k, v in st.headers:
                if k.startswith(':'):
                    pseudo[k] = v
                else:
                    msg[k] = v
            del msg['Content-Length']
            del msg['Transfer-Encoding']
            msg['Content-Length'] = str(len(st.body))
            h.headers = msg
            h.command = pseudo.get(':method', 'GET')
            h.path = pseudo.get(':path', '/')
            h.request_version = 'HTTP/2.0'
            h.requestline = '%s %s HTTP/2.0' % (h.command, h.path)
            h.rfile = io.BytesIO(bytes(st.body))
            h.wfile = _Writer(h)
            h.close_connection = False
            h.headers_sent = False
            return h

        def send_response(self, code, message=None):
            self.log_request(code)
            self._status = code
            self._out_headers = [('server', self.version_string()),
                                 ('date', self.date_time_string())]

        def send_header(self, keyword, value):
            k = keyword.lower()
            if k not in HOP_BY_HOP:
                self._out_headers.append((k, str(value)))

        def end_headers(self):
            self.h2c.send_headers(self.stream, [(':status', str(self._status))] +
                                  self._out_headers)
            self.headers_sent = True

        def write_chunk(self, data):
            if data:
                self.h2c.send_data(self.stream, data)
            else:
                self.h2c.end(self.stream)

        def abort_connection(self):
            self.close_connection = True
            self.h2c.abort()

        def peer_closed(self):
            return self.stream.closed or self.h2c.closed

        def send_error_status_plain(self, code):
            self.send_response(code)
            self.send_header('content-length', '0')
            self.end_headers()

    return H2Handler


class _Writer:
    def __init__(self, handler):
        self.h = handler

    def write(self, data):
        if data:
            self.h.h2c.send_data(self.h.stream, data)
        return len(data)

    def flush(self):
        pass


def serve(server, tls, client_address, h2_handler_cls, max_body, idle_timeout):
    """Serves one HTTP/2 connection until it closes (called in the connection's thread)."""
    tls.settimeout(idle_timeout)
    c = H2Conn(server, tls, client_address, h2_handler_cls, max_body)
    with server.active_lock:
        server.h2_conns.add(c)
    try:
        c.run()
    finally:
        with server.active_lock:
            server.h2_conns.discard(c)
    # let workers see the closed state and finish
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        with c.cond:
            if not c.streams:
                break
        time.sleep(0.05)
