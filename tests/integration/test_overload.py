"""Grace under overload (load_shedder.h): a network thread whose queue delay is over the
target refuses a share of new requests with a fast 503 problem+json and Retry-After, never
refuses the operations endpoints, and stops refusing once the delay is gone.

The delay is made for real: imgd is stopped (SIGSTOP) for 500 ms, so its queue probe runs
that late when it resumes, as it would behind a saturated CPU."""
import os
import re
import signal
import time
import unittest

from harness import Server, corpus_bytes

PHOTO = "real/real_01_skagen_800x533.jpg"


def shed_fraction(server):
    m = re.search(r"^imgd_overload_shed_fraction (\S+)$", server.metrics(), re.M)
    return float(m.group(1))


def stall(server):
    """Stops imgd for 500 ms, so its queue probe runs that late when it resumes."""
    os.kill(server.pid(), signal.SIGSTOP)
    try:
        time.sleep(0.5)  # the stall itself (the stimulus), not a synchronisation
    finally:
        os.kill(server.pid(), signal.SIGCONT)


def first_refusal(test, server, path, conn):
    """Reads path until a request is refused (returned) or the refusal fraction is back at 0
    (None). Until then every read and every health check succeeds."""
    for i in range(5000):
        r = server.request("GET", path, conn=conn)
        if r.status == 503:
            return r
        test.assertEqual(r.status, 200)
        test.assertEqual(server.request("GET", "/healthz", conn=conn).status, 200)
        # Which runs first after the stall, the late probe or this connection's request, is
        # up to the kernel: so the fraction is read only after a few requests.
        if i >= 10 and shed_fraction(server) == 0:
            return None
    return None


class OverloadTest(unittest.TestCase):
    def test_a_late_queue_sheds_requests_and_recovers(self):
        server = Server(nodes=1, extra_args=["--io-threads", "1", "--shed-queue-delay-ms", "100",
                                             "--rate-limit-ip", "0"]).start()
        try:
            key = server.create_user("busy")["apiKey"]
            image_id = server.upload(corpus_bytes(PHOTO), key).json()["imageId"]
            path = f"/v1/images/{image_id}/content?w=64"
            self.assertEqual(server.request("GET", path).status, 200)
            # Nothing is refused once start-up is over. (On a loaded machine a store's first
            # calls can keep the blocking pool late for a moment: wait for it to settle.)
            deadline = time.monotonic() + 30
            while shed_fraction(server) > 0:
                self.assertLess(time.monotonic(), deadline, "shedding while idle")
                time.sleep(0.05)

            conn = server.conn()
            shed = None
            # Up to three stalls: on a loaded machine the client can be descheduled long
            # enough after one stall that the fraction has decayed before it asks again.
            for _ in range(3):
                stall(server)
                shed = first_refusal(self, server, path, conn)
                if shed is not None:
                    break
            self.assertIsNotNone(shed, "no request was refused")
            self.assertEqual(shed.header("content-type"), "application/problem+json")
            self.assertEqual(shed.header("retry-after"), "1")
            self.assertTrue(shed.json()["type"].endswith("/overloaded"), shed.body)
            self.assertRegex(server.metrics(), r"(?m)^imgd_http_shed_total [1-9]")
            # With the delay gone, the fraction falls back to nothing.
            deadline = time.monotonic() + 30
            while shed_fraction(server) > 0:
                self.assertLess(time.monotonic(), deadline, "shedding did not stop")
                time.sleep(0.05)
            for _ in range(200):
                self.assertEqual(server.request("GET", path, conn=conn).status, 200)
        finally:
            server.cleanup()

    def test_shedding_can_be_turned_off(self):
        server = Server(nodes=1, extra_args=["--shed-queue-delay-ms", "0"]).start()
        try:
            os.kill(server.pid(), signal.SIGSTOP)
            try:
                time.sleep(0.3)
            finally:
                os.kill(server.pid(), signal.SIGCONT)
            self.assertEqual(shed_fraction(server), 0.0)
            m = re.search(r"^imgd_overload_queue_delay_seconds (\S+)$", server.metrics(), re.M)
            self.assertIsNotNone(m)  # the delay is still measured
        finally:
            server.cleanup()


if __name__ == "__main__":
    unittest.main()
