"""The KVM platform: the workload in a KVM virtual machine (docs/KVM.md)."""
