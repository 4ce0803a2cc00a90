"""The ctypes KVM bindings match the kernel's own headers: every size, field
offset, ioctl number and constant, as a C program compiled against
<linux/kvm.h> prints them."""
import ctypes
import subprocess

import pytest

from pysandbox.platform.kvm import bindings as kvm


@pytest.fixture(scope="module")
def kernel_abi(cprog):
    try:
        path = cprog("kvm_abi")
    except pytest.fail.Exception:
        pytest.skip("the kernel's KVM headers (linux-libc-dev) are not installed")
    lines = subprocess.run([path], check=True, capture_output=True, text=True).stdout.split("\n")
    return {(kind, name): int(value) for kind, name, value in (line.split() for line in lines if line)}


def _offset(struct, dotted):
    offset = 0
    for name in dotted.split("."):
        field = getattr(struct, name)
        offset += field.offset
        struct = dict(struct._fields_)[name]
    return offset


def test_every_struct_size_matches_the_kernel(kernel_abi):
    sizes = {name: size for (kind, name), size in kernel_abi.items() if kind == "sizeof"}
    assert len(sizes) >= 12
    for name, size in sizes.items():
        assert ctypes.sizeof(getattr(kvm, name)) == size, name


def test_every_field_offset_matches_the_kernel(kernel_abi):
    offsets = {name: offset for (kind, name), offset in kernel_abi.items() if kind == "offsetof"}
    assert len(offsets) >= 20
    for name, offset in offsets.items():
        struct, dotted = name.split(".", 1)
        assert _offset(getattr(kvm, struct), dotted) == offset, name


def test_every_ioctl_number_and_constant_matches_the_kernel(kernel_abi):
    values = {name: v for (kind, name), v in kernel_abi.items() if kind in ("ioctl", "value")}
    assert len(values) >= 20
    for name, value in values.items():
        assert getattr(kvm, name) == value, name
