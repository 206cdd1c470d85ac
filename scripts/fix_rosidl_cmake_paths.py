"""Point the PyPI ROS wheels' CMake exports at this interpreter's include dirs.

The rosidl Python generator wheels were built in a manylinux image and their
`*__rosidl_generator_pyExport*.cmake` files hard-code that image's Python and numpy include
paths, which do not exist here; building any interface package against them fails until the
paths are rewritten. Idempotent: files already pointing here are left alone.
"""
import pathlib
import re
import sys
import sysconfig

import numpy

python_include = sysconfig.get_paths()["include"]
numpy_include = numpy.get_include()
fixed = 0
# The wheels install their CMake files under <venv>/share.
for path in (pathlib.Path(sys.prefix) / "share").rglob("*__rosidl_generator_pyExport*.cmake"):
    text = path.read_text()
    new = re.sub(r"/opt/python/cp\d+-cp\d+/include/python3\.\d+", python_include, text)
    new = re.sub(r"[^\";]*/numpy/(_core|core)/include", numpy_include, new)
    if new != text:
        path.write_text(new)
        fixed += 1
print(f"[fix_rosidl_cmake_paths] rewrote {fixed} CMake export file(s)")
