"""A TCP proxy on 127.0.0.1 that can be cut: an endpoint that goes away mid-transfer."""

from __future__ import annotations

import contextlib
import socket
import threading


class CuttableProxy:
    """Forwards connections to ``target`` until :meth:`cut`, which drops every open
    connection at once and refuses new ones, as a server that goes down would. With
    ``cut_after``, the cut comes by itself once that many bytes have been forwarded."""

    def __init__(self, target: tuple[str, int], *, cut_after: int | None = None) -> None:
        self.target = target
        self.cut_after = cut_after
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.bytes_forwarded = 0
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return  # cut
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
                with self._lock:
                    self.bytes_forwarded += len(data)
                    due = self.cut_after is not None and self.bytes_forwarded >= self.cut_after
                if due:
                    self.cut()
        except OSError:
            pass
        finally:
            _drop(dst)

    def cut(self) -> None:
        self.server.close()
        with self._lock:
            for sock in self._sockets:
                _drop(sock)


def _drop(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
