"""Stamp pairing rules and time going back, without ROS."""
import pytest

from vitpose_ros.ros.sync import StampCache, StampSync, TimeJumpDetector

MS = 1_000_000


def test_exact_stamp_pairs_whichever_arrives_first():
    sync = StampSync(slop_ns=50 * MS)
    assert sync.add_image(100 * MS, "img") == []
    assert sync.add_detections(100 * MS, "det") == [(100 * MS, "img", "det")]
    assert sync.add_detections(200 * MS, "det2") == []  # detections first (out of order)
    assert sync.add_image(200 * MS, "img2") == [(200 * MS, "img2", "det2")]
    assert sync.cache_sizes() == (0, 0)


def test_nearest_within_slop_once_the_camera_has_passed():
    sync = StampSync(slop_ns=50 * MS)
    sync.add_image(100 * MS, "a")
    sync.add_image(133 * MS, "b")
    # 120 ms: no exact image; the camera is already past it, nearest is b (13 ms away)
    assert sync.add_detections(120 * MS, "d") == [(133 * MS, "b", "d")]
    # a detection ahead of every image waits: its exact image may still come
    assert sync.add_detections(166 * MS, "e") == []
    assert sync.add_image(166 * MS, "c") == [(166 * MS, "c", "e")]


def test_waiting_detection_settles_on_nearest_when_a_later_image_arrives():
    sync = StampSync(slop_ns=50 * MS)
    sync.add_image(100 * MS, "a")
    assert sync.add_detections(110 * MS, "d") == []  # camera not past 110 yet
    assert sync.add_image(170 * MS, "b") == [(100 * MS, "a", "d")]  # 10 ms vs 60 ms


def test_beyond_slop_never_pairs_and_ages_out_as_dropped():
    sync = StampSync(slop_ns=50 * MS, max_age_ns=1000 * MS)
    sync.add_image(100 * MS, "a")
    sync.add_image(300 * MS, "b")
    assert sync.add_detections(200 * MS, "d") == []  # 100 ms from both
    sync.add_image(1500 * MS, "c")  # everything before 500 ms expires
    assert sync.cache_sizes() == (1, 0)
    assert sync.counters.images_dropped == 2 and sync.counters.detections_dropped == 1


def test_detections_without_images_and_images_without_detections_are_bounded():
    sync = StampSync(slop_ns=50 * MS, cache_size=10)
    for i in range(100):
        sync.add_detections(i * 1000 * MS + 7, f"d{i}")  # never an image
    assert sync.cache_sizes() == (0, 3)  # the last 2 s (97, 98, 99 s): the age bound is tighter here
    for i in range(500):
        sync.add_image(200_000 * MS + i * MS, f"i{i}")  # 1 kHz camera, no detector
    images, _ = sync.cache_sizes()
    assert images == 10 and sync.counters.images_dropped == 490
    assert sync.counters.detections_dropped == 100  # the last 3 aged out when the 200 s images came


def test_duplicate_stamps_replace_and_count():
    sync = StampSync(slop_ns=0)
    sync.add_image(5, "old")
    sync.add_image(5, "new")
    assert sync.add_detections(5, "d") == [(5, "new", "d")]
    assert sync.counters.images_dropped == 1


# -- time going back (bag loop, sim reset, driver restart) ----------------------------------------

S = 1000 * MS


def _loop_pass(sync, jumps, first_s=100, frames=40, period=100 * MS):
    """One pass of a bag: image then its detections per frame, through the node's order of calls."""
    paired = 0
    for i in range(frames):
        stamp = first_s * S + i * period
        for add in (sync.add_image, sync.add_detections):
            if jumps.check(stamp) == TimeJumpDetector.JUMP:
                sync.reset()
            paired += len(add(stamp, f"{add.__name__}{i}"))
    return paired


def test_without_a_reset_a_loop_loses_the_frames_older_than_the_window():
    sync = StampSync(slop_ns=50 * MS)  # 2 s window

    def one_pass():
        stamps = [100 * S + i * 100 * MS for i in range(40)]
        return sum(len(sync.add_image(t, "i")) + len(sync.add_detections(t, "d")) for t in stamps)

    # what the jump detector is for: 100.0-101.8 s are older than 103.9 - 2 s and expire on arrival
    assert (one_pass(), one_pass()) == (40, 21)


def test_a_looping_bag_pairs_every_frame_on_every_pass():
    sync, jumps = StampSync(slop_ns=50 * MS), TimeJumpDetector(2 * S)
    assert [_loop_pass(sync, jumps) for _ in range(3)] == [40, 40, 40]
    assert jumps.jumps == 2 and jumps.last_jump_s == pytest.approx(3.9)
    assert sync.cache_sizes() == (0, 0)


def test_small_steps_back_are_not_jumps():
    jumps = TimeJumpDetector(2 * S)
    verdicts = [jumps.check(t) for t in (10 * S, 11 * S, 10 * S + 500 * MS, 9 * S, 12 * S)]
    assert verdicts == ["ok"] * 5 and jumps.jumps == 0 and jumps.newest == 12 * S  # 9 s is exactly at the window
    assert jumps.check(9 * S) == TimeJumpDetector.JUMP and jumps.newest == 9 * S and jumps.last_jump_s == 3.0


def test_stragglers_from_before_the_jump_are_stale_but_a_real_forward_gap_is_not():
    jumps = TimeJumpDetector(2 * S)
    for t in range(100, 104):
        jumps.check(t * S)
    assert jumps.check(50 * S) == TimeJumpDetector.JUMP
    # a detector still answering the last frames before the loop
    assert jumps.check(103 * S) == TimeJumpDetector.STALE and jumps.check(102 * S) == TimeJumpDetector.STALE
    assert jumps.newest == 50 * S
    assert jumps.check(51 * S) == TimeJumpDetector.OK
    assert jumps.check(80 * S) == TimeJumpDetector.OK  # a gap forward, not the old timeline's tail
    # the new timeline running on through the old one's last seconds
    assert {jumps.check(t * S) for t in range(81, 106)} == {TimeJumpDetector.OK} and jumps.jumps == 1


def test_cache_clear_counts_and_forgets_the_newest_stamp():
    cache = StampCache(cache_size=5)
    for t in (1, 2, 3):
        cache.insert(t * S, t)
    cache.clear()
    assert len(cache) == 0 and cache.dropped == 3 and cache.newest is None
    cache.insert(1 * S, "again")
    cache.expire(cache.newest)
    assert len(cache) == 1 and cache.take_nearest(1 * S, 0) == "again"


def test_take_unpaired_images_removes_only_older_unpaired_ones():
    sync = StampSync(slop_ns=10)
    for stamp in (100, 200, 300):
        sync.add_image(stamp, f"image{stamp}")
    assert sync.add_detections(200, "dets200") == [(200, "image200", "dets200")]
    assert sync.take_unpaired_images(300) == [(100, "image100")]  # 200 is paired, 300 not older
    assert sync.cache_sizes() == (1, 0) and sync.take_unpaired_images(301) == [(300, "image300")]
