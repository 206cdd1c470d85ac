"""Issue 4: stamp pairing rules, without ROS."""
from vitpose_ros.ros.sync import StampSync

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


def test_take_unpaired_images_removes_only_older_unpaired_ones():
    sync = StampSync(slop_ns=10)
    for stamp in (100, 200, 300):
        sync.add_image(stamp, f"image{stamp}")
    assert sync.add_detections(200, "dets200") == [(200, "image200", "dets200")]
    assert sync.take_unpaired_images(300) == [(100, "image100")]  # 200 is paired, 300 not older
    assert sync.cache_sizes() == (1, 0) and sync.take_unpaired_images(301) == [(300, "image300")]
