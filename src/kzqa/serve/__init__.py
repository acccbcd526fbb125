"""`kzqa serve`: a warm HTTP server that answers like `kzqa ask --json`.

The index and the question encoder stay loaded (service.py); the HTTP side (app.py) turns
requests into questions and answers into JSON.
"""

from .app import DEFAULT_HOST, DEFAULT_PORT, Server, is_loopback, make_server
from .service import Service

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "Server", "Service", "is_loopback", "make_server"]
