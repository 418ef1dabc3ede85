"""Dumping BTF: bpftool's raw text, its JSON, and a C header (vmlinux.h)."""
