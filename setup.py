from setuptools import setup

setup(cffi_modules=["pysandbox/platform/ptrace/_build.py:ffibuilder",
                    "pysandbox/platform/kvm/_build.py:ffibuilder"])
