/* Prints the sizes, field offsets and ioctl numbers of <linux/kvm.h> that
 * pysandbox/platform/kvm/bindings.py declares, one "name value" per line. */
#include <linux/kvm.h>
#include <stddef.h>
#include <stdio.h>

#define SIZE(type) printf("sizeof %s %zu\n", #type, sizeof(struct type))
#define FIELD(type, field) printf("offsetof %s.%s %zu\n", #type, #field, offsetof(struct type, field))
#define IOCTL(name) printf("ioctl %s %lu\n", #name, (unsigned long)(name))

int main(void)
{
    SIZE(kvm_regs); FIELD(kvm_regs, rip); FIELD(kvm_regs, rflags); FIELD(kvm_regs, r15);
    SIZE(kvm_segment); FIELD(kvm_segment, selector); FIELD(kvm_segment, type); FIELD(kvm_segment, unusable);
    SIZE(kvm_dtable);
    SIZE(kvm_sregs); FIELD(kvm_sregs, tr); FIELD(kvm_sregs, gdt); FIELD(kvm_sregs, idt); FIELD(kvm_sregs, cr0);
    FIELD(kvm_sregs, cr3); FIELD(kvm_sregs, efer); FIELD(kvm_sregs, apic_base); FIELD(kvm_sregs, interrupt_bitmap);
    SIZE(kvm_msr_entry); SIZE(kvm_msrs);
    SIZE(kvm_cpuid_entry2); FIELD(kvm_cpuid_entry2, eax); FIELD(kvm_cpuid_entry2, edx); SIZE(kvm_cpuid2);
    SIZE(kvm_userspace_memory_region); FIELD(kvm_userspace_memory_region, userspace_addr);
    SIZE(kvm_xsave); SIZE(kvm_xcr); SIZE(kvm_xcrs); FIELD(kvm_xcrs, xcrs);
    FIELD(kvm_run, immediate_exit); FIELD(kvm_run, exit_reason); FIELD(kvm_run, cr8); FIELD(kvm_run, io);
    FIELD(kvm_run, io.port); FIELD(kvm_run, io.data_offset);
    IOCTL(KVM_GET_API_VERSION); IOCTL(KVM_CREATE_VM); IOCTL(KVM_CHECK_EXTENSION); IOCTL(KVM_GET_VCPU_MMAP_SIZE);
    IOCTL(KVM_GET_SUPPORTED_CPUID); IOCTL(KVM_CREATE_VCPU); IOCTL(KVM_SET_USER_MEMORY_REGION); IOCTL(KVM_RUN);
    IOCTL(KVM_GET_REGS); IOCTL(KVM_SET_REGS); IOCTL(KVM_GET_SREGS); IOCTL(KVM_SET_SREGS); IOCTL(KVM_GET_MSRS);
    IOCTL(KVM_SET_MSRS); IOCTL(KVM_SET_CPUID2); IOCTL(KVM_GET_XSAVE); IOCTL(KVM_SET_XSAVE); IOCTL(KVM_GET_XCRS);
    IOCTL(KVM_SET_XCRS);
    printf("value KVM_CAP_SYNC_REGS %d\nvalue KVM_CAP_IMMEDIATE_EXIT %d\nvalue KVM_CAP_XCRS %d\n",
           KVM_CAP_SYNC_REGS, KVM_CAP_IMMEDIATE_EXIT, KVM_CAP_XCRS);
    printf("value KVM_EXIT_IO %d\nvalue KVM_SYNC_X86_REGS %d\nvalue KVM_SYNC_X86_SREGS %d\n",
           KVM_EXIT_IO, (int)KVM_SYNC_X86_REGS, (int)KVM_SYNC_X86_SREGS);
    return 0;
}
