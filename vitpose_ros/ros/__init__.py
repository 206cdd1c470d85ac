"""The thin ROS 2 shell around vitpose_ros.core: the pose node, message conversions, RViz
markers, stamp sync, diagnostics statistics and launch-argument logic. It never imports the demo
(vitpose_ros.synthetic, where the synthetic camera node lives).

Modules here may import rclpy and message packages (launch_args alone stays import-free, so the
launch files' logic can be tested without ROS). Nothing is imported here: ``vitpose_ros.ros``
itself stays cheap.
"""
