"""python3 fake_notion --fixture fake_notion/fixtures/test.json [--host 127.0.0.1] [--port 0] [--url-file PATH]

Prints the base URL as the first line of stdout (and writes it to --url-file,
atomically, once the socket listens), logs one line per request to stderr,
stops cleanly on SIGTERM/SIGINT.
"""

import argparse
import os
import signal
import sys
import threading

# The package's modules import each other as top-level modules, so the fake
# runs the same from any working directory: `python3 path/to/fake_notion`
# or `python3 -m fake_notion`.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from app import App  # noqa: E402
from fixture import FixtureError  # noqa: E402
from server import Server  # noqa: E402


def _write_atomically(path, text):
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fake_notion", description="A faithful fake of the Notion API.")
    parser.add_argument("--fixture", required=True, help="fixture JSON (see fake_notion/README.md)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")
    parser.add_argument("--url-file", help="also write the base URL to this file once listening")
    args = parser.parse_args(argv)

    try:
        app = App(os.path.abspath(args.fixture))
    except (OSError, ValueError, FixtureError) as e:
        print(f"fake_notion: cannot load fixture {args.fixture}: {e}", file=sys.stderr)
        return 2
    try:
        httpd = Server(args.host, args.port, app)
    except OSError as e:
        print(f"fake_notion: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 2

    url = httpd.base_url()
    print(url, flush=True)
    if args.url_file:
        _write_atomically(args.url_file, url)

    def stop(signum, frame):
        # shutdown() blocks until serve_forever returns: call it off-thread.
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"fake_notion: serving fixture {app.world.name!r} at {url}", file=sys.stderr, flush=True)
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        httpd.server_close()
    print("fake_notion: stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
