// SPDX-License-Identifier: GPL-2.0
/* A program whose call chain needs more stack than the budget: a 320-byte frame that hands a
 * 224-byte bpf_loop callback its work, like enter_write and h2_walk_frame once did. The stack
 * budget check must reject it and name the chain (tests/bpf_budget/CMakeLists.txt). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct wide {
	volatile __u64 words[26];
};

static long deep_callback(__u32 index, void *arg)
{
	struct wide w = {};
	w.words[index % 26] = index;
	*(__u64 *)arg += w.words[3];
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int deep_program(void *ctx)
{
	volatile __u64 frame[38] = {};
	__u64 sum = frame[1];
	bpf_loop(8, deep_callback, &sum, 0);
	frame[37] = sum;
	return frame[(sum & 15) + 2];
}
