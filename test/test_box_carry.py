"""detect_every and hold_missed: boxes carried from the previous frame's keypoints, in core and through ROS."""
import numpy as np
import pytest
from ros_harness import Harness, detections_msg, image_msg

from vitpose_ros.core.box_carry import BoxCarry, boxes_from_keypoints
from vitpose_ros.core.estimator import PoseEstimator
from vitpose_ros.ros.conversions import ids_from_cloud, keypoints_from_cloud
from vitpose_ros.synthetic import demo_model_path

T0 = 1_700_000_000_000_000_000


def test_box_is_the_padded_extent_of_the_confident_keypoints():
    keypoints = np.array([[[10, 20, 0.9], [50, 100, 0.8], [30, 60, 0.5], [500, 500, 0.1]],   # last one ignored
                          [[0, 0, 0.9], [1, 1, 0.2], [2, 2, 0.1], [3, 3, 0.0]]], float)      # collapsed
    boxes, kept = boxes_from_keypoints(keypoints, 0.3, padding=1.25, min_keypoints=3)
    assert kept.tolist() == [True, False]
    # extent 10..50 x 20..100, centre (30, 60), half sizes 20 x 40 grown by 1.25
    assert boxes[0] == pytest.approx([5.0, 10.0, 55.0, 110.0])
    nan_rows = np.full((1, 4, 3), np.nan)  # an invalid box's row from the estimator
    assert not boxes_from_keypoints(nan_rows, 0.3)[1].any()


def test_carry_schedule_ids_and_collapse():
    carry = BoxCarry(every=3, score_threshold=0.3)
    assert carry.detection_due and carry.carried() is None  # nothing detected yet
    kp = np.array([[[10, 20, 0.9], [50, 100, 0.8], [30, 60, 0.5]], [[200, 200, 0.9], [240, 300, 0.9], [220, 250, 0.9]]])
    boxes, ids = carry.detected([[0, 0, 60, 120], [190, 190, 250, 310]], [7, 9])
    carry.observe(kp, ids)
    assert not carry.detection_due
    boxes, ids = carry.carried()  # frame 2: from frame 1's keypoints
    assert ids.tolist() == [7, 9] and boxes[1] == pytest.approx([195, 187.5, 245, 312.5])
    kp[1, :, 2] = 0.05  # person 9's scores collapse: dropped until the next detection
    carry.observe(kp, ids)
    assert not carry.detection_due
    boxes, ids = carry.carried()  # frame 3
    assert ids.tolist() == [7]
    carry.observe(kp[:1], ids)
    assert carry.detection_due  # frame 4 is a detection frame again
    assert carry.carried() is None  # the last detections would be 3 frames old: not carried
    with pytest.raises(ValueError, match="at least 1"):
        BoxCarry(every=0)
    assert BoxCarry(every=1).carried() is None


def test_a_missed_person_is_held_for_hold_missed_detection_frames():
    carry = BoxCarry(every=1, score_threshold=0.3, hold_missed=2)
    kp = np.array([[[10, 20, 0.9], [50, 100, 0.8], [30, 60, 0.5]], [[200, 200, 0.9], [240, 300, 0.9], [220, 250, 0.9]]])
    seen = [[0, 0, 60, 120], [190, 190, 250, 310]]
    boxes, ids = carry.detected(seen, [7, 9])
    assert ids.tolist() == [7, 9] and boxes.tolist() == seen
    carry.observe(kp, ids)
    for held_frame in (1, 2):  # the detector sees only person 7: person 9 keeps its keypoint box
        boxes, ids = carry.detected([[2, 0, 62, 120]], [7])
        assert ids.tolist() == [7, 9], held_frame
        assert boxes[1] == pytest.approx([195, 187.5, 245, 312.5])
        carry.observe(kp, ids)
    boxes, ids = carry.detected([[2, 0, 62, 120]], [7])  # a third miss in a row: dropped
    assert ids.tolist() == [7] and len(boxes) == 1
    carry.observe(kp[:1], ids)


@pytest.mark.parametrize("detection, detection_id", [
    ([185, 200, 250, 320], 11),   # a detection over person 9's last box is person 9 seen again
    ([400, 0, 460, 120], 9),      # the tracker gave a detection person 9's id
])
def test_no_hold_when_the_person_is_detected(detection, detection_id):
    carry = BoxCarry(every=1, hold_missed=3)
    kp = np.array([[[200, 200, 0.9], [240, 300, 0.9], [220, 250, 0.9]]])
    carry.observe(kp, carry.detected([[190, 190, 250, 310]], [9])[1])
    boxes, ids = carry.detected([detection], [detection_id])
    assert ids.tolist() == [detection_id] and boxes.tolist() == [detection]


def test_hold_missed_zero_drops_at_once_and_must_not_be_negative():
    carry = BoxCarry(every=1)
    kp = np.array([[[200, 200, 0.9], [240, 300, 0.9], [220, 250, 0.9]]])
    carry.observe(kp, carry.detected([[190, 190, 250, 310]], [9])[1])
    assert carry.detected(np.zeros((0, 4)), [])[1].tolist() == []
    with pytest.raises(ValueError, match="rows of this frame's 0 boxes"):
        carry.observe(kp, [9])  # keypoints that are not this frame's rows
    with pytest.raises(ValueError, match="at least 0"):
        BoxCarry(hold_missed=-1)


def test_detections_on_every_third_image_give_keypoints_on_every_image(ros):
    """Through ROS: a detector that publishes for every third image only; every image gets keypoints
    (the synthetic demo model on moving synthetic people), the ids carried with the boxes."""
    from vitpose_ros.synthetic.camera_node import AnimatedPeople
    from vitpose_ros.synthetic.depth_scenes import focal_length, render_people

    scene = AnimatedPeople(1, 2, 640, 480)
    # stamps 0.1 s apart with sync_slop 0.05 s: an image is given up on when the next arrives; the people
    # move as seen by a 30 fps camera
    period = 100_000_000
    harness = Harness({"model_path": str(demo_model_path()), "providers": ["cpu"], "detect_every": 3,
                       "sync_slop": 0.05, "tracker": "iou"})
    try:
        frames = [render_people(scene.people_at(i / 30), 640, 480, focal_length(640), 1, with_depth=False)
                  for i in range(10)]
        for i, frame in enumerate(frames):
            stamp = T0 + i * period
            harness.image_pub.publish(image_msg(frame.image, stamp))
            if i:
                harness.wait_keypoints(i, timeout=20)  # image i-1 is settled once image i is in
            if i % 3 == 0:  # a detector that runs on every third image, with a latency below sync_slop
                harness.det_pub.publish(detections_msg(frame.boxes, stamp))
                harness.wait_keypoints(i + 1, timeout=20)
        received = {msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec: msg for msg in harness.keypoints}
        stamps = [T0 + i * period for i in range(len(frames))]
        assert sorted(received) == stamps
        # person id -> synthetic identity, from the first (detected) frame, whose rows are the boxes'
        identity_of = dict(zip(ids_from_cloud(received[stamps[0]]).tolist(), frames[0].identities.tolist()))
        assert len(identity_of) == 2 and 0 not in identity_of
        estimator = PoseEstimator(demo_model_path(), providers=("cpu",))
        for i in (0, 3, 6, 9):  # detection frames: the estimator on the detector's boxes
            expected = estimator.estimate(frames[i].image, frames[i].boxes)
            assert np.abs(keypoints_from_cloud(received[stamps[i]]) - expected).max() < 1e-3
        for i, stamp in enumerate(stamps):
            ids = ids_from_cloud(received[stamp]).tolist()
            assert sorted(ids) == sorted(identity_of), i  # ids carried between detections
            row_of = {int(k): row for row, k in enumerate(frames[i].identities)}
            with_true_boxes = estimator.estimate(frames[i].image, frames[i].boxes)
            for person, keypoints in zip(ids, keypoints_from_cloud(received[stamp])):
                row = row_of[identity_of[person]]
                truth = frames[i].keypoints[row]
                visible = truth[:, 2] == 2

                def median_error(points):
                    return np.median(np.linalg.norm(points[visible, :2] - truth[visible, :2], axis=-1))

                # carried boxes find the people about as well as the true boxes do
                assert median_error(keypoints) <= 1.5 * median_error(with_true_boxes[row]) + 3.0, (i, person)
    finally:
        harness.close()


def test_a_person_the_detector_misses_is_held_through_ros(ros):
    """hold_missed 2 with a topic detector that stops seeing one of two people: that person keeps
    its id and keypoints on its true position for two detection frames, then is dropped."""
    from vitpose_ros.synthetic.camera_node import AnimatedPeople
    from vitpose_ros.synthetic.depth_scenes import focal_length, render_people

    scene = AnimatedPeople(1, 2, 640, 480)
    harness = Harness({"model_path": str(demo_model_path()), "providers": ["cpu"], "hold_missed": 2,
                       "tracker": "iou"})
    try:
        frames = [render_people(scene.people_at(i / 30), 640, 480, focal_length(640), 1, with_depth=False)
                  for i in range(4)]
        for i, frame in enumerate(frames):
            stamp = T0 + i * 100_000_000
            boxes = frame.boxes if i == 0 else frame.boxes[:1]  # from image 1 on the detector misses person 2
            harness.image_pub.publish(image_msg(frame.image, stamp))
            harness.det_pub.publish(detections_msg(boxes, stamp))
            harness.wait_keypoints(i + 1, timeout=20)
        ids = [ids_from_cloud(msg).tolist() for msg in harness.keypoints]
        assert len(ids[0]) == 2 and ids[1] == ids[2] == ids[0] and ids[3] == ids[0][:1]
        for i in (1, 2):  # the held person's keypoints are on them, not on the other one
            held = keypoints_from_cloud(harness.keypoints[i])[1]
            truth = frames[i].keypoints[1]
            visible = truth[:, 2] == 2
            assert np.median(np.linalg.norm(held[visible, :2] - truth[visible, :2], axis=-1)) < 10.0, i
    finally:
        harness.close()
