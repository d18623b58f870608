"""Three regions joined by latency-injecting links (tests/engines/regions.py): the facts the
delivery simulation must show, on a small workload (bench/regions.py runs the full one and
reports the figures). Uploads from every region succeed; Zipf reads from every region are
all answered, and the edges absorb most of them; a delete empties every edge, an edge cut
off during the delete serves the deleted copy only until it is reachable again; a switch to
private leaves no public copy at any edge; with every origin dead the edges keep serving what
they hold and answer the rest with a clean 503."""
import os
import sys
import unittest

from harness import ADMIN_KEY, CORPUS, IMGD_BIN, IMGD_CQL_BIN, REMOTE

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "engines"))
from region_workload import run  # noqa: E402
from regions import Regions  # noqa: E402


@unittest.skipIf(REMOTE, "starts its own regions")
class ThreeRegionsTest(unittest.TestCase):
    def test_delivery_across_three_regions(self):
        regions = Regions(IMGD_BIN, IMGD_CQL_BIN, ADMIN_KEY).start()
        try:
            out = run(regions, CORPUS, images_per_region=2, variants=120, reads_per_region=240,
                      cut_seconds=2, log=lambda m: print(m, file=sys.stderr))
        finally:
            regions.stop()
        print(out, file=sys.stderr)
        self.assertEqual(set(out["uploads"]), {"A", "B", "C"})
        for region, row in out["reads"]["regions"].items():
            self.assertEqual(row["errors"], 0, region)
            self.assertEqual(row["reads"], 240, region)
            # Zipf: the popular variants repeat, so every edge answers some from its cache.
            self.assertGreater(row["hit_ratio"], 0.2, region)
        self.assertGreater(out["reads"]["hit_ratio"], 0.3)
        self.assertIsNotNone(out["purge_delete_s"])
        down = out["purge_with_edge_down"]
        self.assertEqual(down["served_while_cut"], [200])  # why the outbox exists
        self.assertIsNotNone(down["after_restore_s"])      # and what it does
        self.assertIsNotNone(out["purge_private_s"])
        for region, row in out["origins_killed"].items():
            self.assertGreater(row["cached"], 0, region)
            self.assertEqual(row["served"], row["cached"], region)
            self.assertEqual(row["clean_503"], row["uncached"], region)


if __name__ == "__main__":
    unittest.main()
