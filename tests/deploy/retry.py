"""What the deployment tests share."""
import time


def create_all(client, paths, what, secs=60):
    """Creates each path (data b"x") in order, retrying one that fails (a
    leader change, a node on its way down) until `secs` pass; fails with
    `what` then."""
    deadline = time.time() + secs
    for path in paths:
        while True:
            try:
                client.create(path, b"x")
                break
            except Exception:
                assert time.time() < deadline, what
                time.sleep(0.5)
