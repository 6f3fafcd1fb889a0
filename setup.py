"""The one compiled part: the C JSON decoder for big listings (kosmo_lua/runtime/native.py).

It is optional: where it cannot be built (no C compiler), the install goes on and kosmo
converts replies in Python, with the same results, only slower.
"""

import sys

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "kosmo_lua.runtime._jsondecode",
            ["kosmo_lua/runtime/jsondecode.c"],
            libraries=["dl"] if sys.platform.startswith("linux") else [],
            extra_compile_args=["-std=c99", "-O2"],
            optional=True,
        )
    ]
)
